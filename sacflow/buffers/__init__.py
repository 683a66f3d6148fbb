"""Replay storage for off-policy training."""

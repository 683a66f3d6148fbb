"""Agents: one file each; ``build(cfg, ...)`` assembles one from the composed config."""

"""sacflow: SAC for flow-based policies (SAC Flow, ICLR 2026) and its baselines."""

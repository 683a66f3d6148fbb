"""Turn the ``device`` config value into a torch.device, failing early on bad values."""

from __future__ import annotations

import re

import torch

from sacflow.config_checks import ConfigError


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present. Never hard-code an ordinal on SLURM: use 'cuda'."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", str(name))
    if not match:
        raise ConfigError("device", "unknown device; use auto, cpu, cuda or cuda:N", name)
    if not torch.cuda.is_available():
        raise ConfigError("device", "CUDA is not available on this machine (torch sees no GPU); use device=cpu or auto", name)
    if match.group(1) is not None and int(match.group(1)) >= torch.cuda.device_count():
        raise ConfigError("device", f"only {torch.cuda.device_count()} CUDA device(s) are visible", name)
    return torch.device(name)

"""Seeding and exact save/restore of every random number generator a run uses.

Captured states contain only tensors and plain python values (numpy arrays in
bit-generator states become lists of ints), so they survive
``checkpoint.save_atomic`` + ``checkpoint.load`` with ``weights_only=True``.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def capture_rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": _to_python(np.random.get_state(legacy=False)),
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    # .cpu(): the checkpoint may have been loaded with map_location="cuda", but the
    # setters only accept CPU byte tensors.
    torch.set_rng_state(state["torch_cpu"].cpu())
    if torch.cuda.is_available():
        # On a machine with fewer GPUs than the one that saved, restore the ones that exist.
        for device, cuda_state in enumerate(state["torch_cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), device)


def generator_state(gen: np.random.Generator) -> dict[str, Any]:
    """State of a numpy Generator, e.g. a gymnasium env's ``np_random``."""
    return _to_python(gen.bit_generator.state)


def set_generator_state(gen: np.random.Generator, state: dict[str, Any]) -> None:
    gen.bit_generator.state = state  # numpy accepts lists where it produced arrays


def _to_python(obj: Any) -> Any:
    """Replace numpy arrays / scalars (rejected by weights_only loading) with python values."""
    if isinstance(obj, dict):
        return {key: _to_python(value) for key, value in obj.items()}
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.tolist()
    return obj

"""Crash-safe checkpoint files.

Checkpoints are loaded with ``torch.load(weights_only=True)``, which refuses to
unpickle arbitrary objects. It accepts tensors, python numbers / strings /
bools / None, and lists, tuples and dicts of those (python ints of any size,
so numpy bit-generator states are fine). It rejects numpy arrays and numpy
scalars: pass such data through :func:`numpy_to_torch` before saving.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """Save so that ``path`` always holds a complete checkpoint, even if we crash mid-save."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())  # data must be on disk before the rename makes it visible
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    return torch.load(path, map_location=map_location, weights_only=True)


def latest_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / "checkpoints" / "latest.pt"


def numpy_to_torch(obj: Any) -> Any:
    """Recursively turn numpy arrays into tensors and numpy scalars into python numbers.

    Makes containers holding numpy data loadable with ``weights_only=True``;
    use ``tensor.numpy()`` after loading to get arrays back.
    """
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())  # copy: the tensor must not alias live state
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {key: numpy_to_torch(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [numpy_to_torch(value) for value in obj]
    if isinstance(obj, tuple):  # namedtuples become plain tuples, which weights_only accepts
        return tuple(numpy_to_torch(value) for value in obj)
    return obj

"""Crash-safe checkpoint files.

Checkpoints are loaded with ``torch.load(weights_only=True)``, which refuses to
unpickle arbitrary objects. It accepts tensors, python numbers / strings /
bools / None, and lists, tuples and dicts of those (python ints of any size,
so numpy bit-generator states are fine). It rejects numpy arrays and numpy
scalars: pass such data through :func:`numpy_to_torch` before saving.

A run's checkpoints survive a damaged file (a node lost mid-write by a network filesystem, a
full disk, a flipped bit): ``checkpoints/`` keeps ``latest.pt`` and the one before it,
``previous.pt``, and ``checksums.json`` records the size and SHA-256 of the newest three files
written. A new checkpoint is
written as ``pending.pt``, read back and checked against its digest, and only then rotated in
(latest -> previous, pending -> latest). On resume, the newest file whose size and digest match a
recorded one and that loads is used; each file skipped is named in one warning line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sacflow.utils.checkpoint_error import CheckpointError

LATEST, PREVIOUS, PENDING = "latest.pt", "previous.pt", "pending.pt"
LINK = "previous.link"  # the old latest, linked before it replaces previous.pt
CHECKSUMS = "checksums.json"


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """Save so that ``path`` always holds a complete file, even if we crash mid-save."""
    _write_atomic(Path(path), _serialize(obj))


def load(path: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    return torch.load(path, map_location=map_location, weights_only=True)


def latest_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / "checkpoints" / LATEST


def pending_path(out_dir: str | os.PathLike) -> Path:
    return Path(out_dir) / "checkpoints" / PENDING


def stage(obj: Any, out_dir: str | os.PathLike) -> None:
    """Write ``pending.pt`` and record its digest; the latest checkpoint is untouched until ``commit``."""
    folder = Path(out_dir) / "checkpoints"
    data = _serialize(obj)
    entry = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    _write_atomic(folder / PENDING, data)
    if _digest(folder / PENDING) != entry:  # what is on disk, not what we meant to write
        (folder / PENDING).unlink()
        raise OSError(f"{folder / PENDING}: the written checkpoint does not read back as written")
    # The digests of the newest three files (pending, latest, previous), whatever their names: a crash
    # between the renames of ``commit`` leaves every file vouched for.
    _write_atomic(folder / CHECKSUMS, (json.dumps([entry, *_recorded(folder)][:3], indent=1) + "\n").encode())


def commit(out_dir: str | os.PathLike) -> None:
    """Rotate a staged checkpoint in: latest -> previous, pending -> latest.

    The old latest becomes previous through a hard link, so ``latest.pt`` exists at every instant
    (a reader, or a resume after a kill between the two steps, never finds the folder without it)."""
    folder = Path(out_dir) / "checkpoints"
    if (folder / LATEST).exists():
        (folder / LINK).unlink(missing_ok=True)
        os.link(folder / LATEST, folder / LINK)
        os.replace(folder / LINK, folder / PREVIOUS)
    os.replace(folder / PENDING, folder / LATEST)


def discard_pending(out_dir: str | os.PathLike) -> None:
    (Path(out_dir) / "checkpoints" / PENDING).unlink(missing_ok=True)


def save_checkpoint(obj: Any, out_dir: str | os.PathLike) -> None:
    stage(obj, out_dir)
    commit(out_dir)


def load_newest_intact(out_dir: str | os.PathLike, map_location: str | torch.device | None = "cpu") -> Any | None:
    """The newest of latest.pt / previous.pt that is intact; None when the run has no checkpoint yet."""
    folder = Path(out_dir) / "checkpoints"
    candidates = [folder / name for name in (LATEST, PREVIOUS) if (folder / name).exists()]
    if not candidates:
        return None
    recorded = _recorded(folder)
    problems = []
    for path in candidates:
        problem = _problem(path, recorded)
        if problem is None:
            try:
                return load(path, map_location)
            except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:  # passes the digest, does not load
                problem = f"does not load ({type(err).__name__})"
        problems.append(f"{path.name} {problem}")
        rest = candidates[candidates.index(path) + 1:]
        if rest:
            print(f"sacflow: warning: {path} {problem}; resuming from {rest[0].name}", file=sys.stderr)
    raise CheckpointError(f"{folder}: no intact checkpoint ({'; '.join(problems)}); start again with a new out_dir")


def _problem(path: Path, recorded: list[dict]) -> str | None:
    if not recorded:  # written before checksums were recorded: loading is the only check
        return None
    digest = _digest(path)
    if digest in recorded:
        return None
    sizes = {entry["size"] for entry in recorded}
    return ("is damaged (its checksum matches no recorded one)" if digest["size"] in sizes
            else f"is damaged ({digest['size']} bytes, recorded {' or '.join(map(str, sorted(sizes)))})")


def _serialize(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _digest(path: Path) -> dict:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return {"size": path.stat().st_size, "sha256": sha.hexdigest()}


def _recorded(folder: Path) -> list[dict]:
    try:
        return json.loads((folder / CHECKSUMS).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # data must be on disk before the rename makes it visible
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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

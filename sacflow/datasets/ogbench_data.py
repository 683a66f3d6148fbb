"""Load OGBench single-task datasets (official npz files, or ones from our generator).

A dataset name such as ``cube-double-play-singletask-task2-v0`` names both the env
(``cube-double-singletask-task2-v0``) and the files ``cube-double-play-v0.npz`` and
``cube-double-play-v0-val.npz`` (the task is dropped: one play file serves all five tasks),
exactly as ``ogbench.make_env_and_datasets`` resolves it, so the same directory works with
either. The loading itself is ogbench's: ``ogbench.utils.load_dataset`` (next_observations by
shifting, each episode's last step dropped, terminals = episode ends) and
``ogbench.relabel_utils.relabel_dataset`` (reward = #cubes at the task's goal - #cubes from the
stored qpos, mask = 1 - success). We call them per file so that every problem is reported as one
DatasetError line naming the file, and we clip actions to +-(1 - 1e-5) as the official code does.

Directory: ``dataset_dir``, else $SACFLOW_OGBENCH_DIR, else ogbench's default ``~/.ogbench/data``.
A missing file is downloaded with ogbench's own ``download_datasets`` when ``download`` is on and
the dataset server answers (checked with a 5-second connection first, since ogbench's download
has no timeout); otherwise it is an error that says where we looked and how to get the file.
"""

from __future__ import annotations

import os
import socket
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from sacflow.datasets.errors import DatasetError
from sacflow.datasets.offline import OfflineDataset
from sacflow.envs.ogbench import make_ogbench_env, singletask_env_id

DEFAULT_DATASET_DIR = "~/.ogbench/data"
DATASET_URL = "https://rail.eecs.berkeley.edu/datasets/ogbench"
RAW_KEYS = ("observations", "actions", "terminals", "qpos")  # qpos: needed to relabel rewards


@dataclass
class OGBenchData:
    env: object  # the single-task gymnasium env (also used by the relabelling)
    train: OfflineDataset
    val: OfflineDataset
    success_timing: str


def dataset_stem(dataset_name: str) -> str:
    """'cube-double-play-singletask-task2-v0' -> 'cube-double-play-v0' (ogbench's file naming)."""
    parts = dataset_name.split("-")
    if "singletask" not in parts:
        raise ValueError(f"{dataset_name!r} is not an OGBench single-task dataset name "
                         "(e.g. cube-double-play-singletask-task2-v0)")
    pos = parts.index("singletask")
    return "-".join(parts[:pos] + parts[-1:])


def resolve_dataset_dir(directory: str | os.PathLike | None = None) -> Path:
    return Path(os.path.expanduser(directory or os.environ.get("SACFLOW_OGBENCH_DIR") or DEFAULT_DATASET_DIR))


def dataset_paths(dataset_name: str, directory=None, dataset_path=None) -> tuple[Path, Path]:
    """(train, val) paths; an explicit ``dataset_path`` is the train file, val sits beside it."""
    if dataset_path is not None:
        train = Path(os.path.expanduser(dataset_path))
        return train, train.with_name(train.name.replace(".npz", "-val.npz"))
    stem = dataset_stem(dataset_name)
    base = resolve_dataset_dir(directory)
    return base / f"{stem}.npz", base / f"{stem}-val.npz"


def _missing(path: Path, dataset_name: str) -> DatasetError:
    stem = dataset_stem(dataset_name)
    env = stem.rsplit("-", 2)[0]
    return DatasetError(path, f"OGBench dataset not found (looked in {path.parent}); generate it with "
                              f"`python -m sacflow.datasets.generate ogbench --env {env} --episodes 1000 "
                              f"--out {path.parent}` or download {stem}.npz and {stem}-val.npz from "
                              f"{DATASET_URL}/ into that directory")


def _server_unreachable() -> str | None:
    """None when the dataset server accepts a connection, else why not."""
    try:
        socket.create_connection((urlparse(DATASET_URL).hostname, 443), timeout=5).close()
    except OSError as exc:
        return str(exc)
    return None


def _download(path: Path, dataset_name: str) -> None:
    """Fetch the official files into ``path``'s directory, or raise the not-found error."""
    why = _server_unreachable()
    if why is not None:
        err = _missing(path, dataset_name)
        raise DatasetError(path, f"{err.problem} (downloading failed: {DATASET_URL} unreachable: {why})")
    from ogbench.utils import download_datasets

    download_datasets([dataset_stem(dataset_name)], str(path.parent))


def _npy_shape(zf: zipfile.ZipFile, member: str) -> tuple:
    """An array's shape from its .npy header alone (no decompression of the data)."""
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        return read(f)[0]


def check_raw_file(path: Path) -> dict[str, tuple]:
    """Keys, shapes and episode ends of a raw npz, read without decompressing the big arrays."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = {name[:-4]: name for name in zf.namelist() if name.endswith(".npy")}
            missing = [k for k in RAW_KEYS if k not in members]
            if missing:
                raise DatasetError(path, f"missing key(s) {', '.join(missing)} (an OGBench file needs "
                                         f"{', '.join(RAW_KEYS)}; qpos is used to relabel rewards)")
            shapes = {k: _npy_shape(zf, members[k]) for k in RAW_KEYS}
        with np.load(path) as npz:
            terminals = npz["terminals"]  # small (one bool per step)
    except DatasetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise DatasetError(path, f"not a readable npz file (truncated or corrupt?): {' '.join(str(exc).split())}") from None
    n = shapes["observations"][0] if shapes["observations"] else 0
    if n == 0:
        raise DatasetError(path, "file holds no steps")
    for key in RAW_KEYS:
        if len(shapes[key]) != (1 if key == "terminals" else 2) or shapes[key][0] != n:
            raise DatasetError(path, f"{key} has shape {shapes[key]}, expected "
                                     f"{(n,) if key == 'terminals' else (n, '...')} like observations")
    if not terminals[-1]:
        raise DatasetError(path, "terminals[-1] must be True: every episode must end with a terminal step")
    return shapes


def _load_file(path: Path, shapes: dict, env_id: str, env, obs_dim: int, act_dim: int) -> OfflineDataset:
    from ogbench.relabel_utils import relabel_dataset
    from ogbench.utils import load_dataset

    for key, dim in (("observations", obs_dim), ("actions", act_dim)):
        if shapes[key][1] != dim:
            raise DatasetError(path, f"{key} has shape {shapes[key]}, expected ({shapes[key][0]}, {dim}) for {env_id}")
    try:
        raw = load_dataset(str(path), add_info=True)
        relabel_dataset(env_id, env, raw)
    except (OSError, ValueError, EOFError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise DatasetError(path, f"cannot load (truncated or corrupt?): {' '.join(str(exc).split())}") from None
    if not np.isfinite(raw["qpos"]).all():
        raise DatasetError(path, "qpos has NaN/inf values (rewards cannot be relabelled)")
    return OfflineDataset(raw, source=path).validate(obs_dim=obs_dim, act_dim=act_dim)


def load_ogbench_dataset(dataset_name: str, dataset_dir: str | os.PathLike | None = None,
                         dataset_path: str | os.PathLike | None = None, success_timing: str = "pre",
                         clip_actions: bool = True, env=None, download: bool = False,
                         **env_kwargs) -> OGBenchData:
    """The single-task env and its relabelled train/val datasets (see the module docstring).

    ``download``: fetch missing official files from the OGBench server when it is reachable.

    Pass ``env`` (from ``make_ogbench_env``) to reuse an env instead of building one; the
    relabelling resets it once to read the task's goals.
    """
    env_id = singletask_env_id(dataset_name)
    train_path, val_path = dataset_paths(dataset_name, dataset_dir, dataset_path)
    for path in (train_path, val_path):
        if not path.is_file():
            if not download or dataset_path is not None:
                raise _missing(path, dataset_name)
            _download(path, dataset_name)
    shapes = {path: check_raw_file(path) for path in (train_path, val_path)}
    if env is None:
        env = make_ogbench_env(env_id, success_timing=success_timing, **env_kwargs)
    elif env.spec is not None and env.spec.id != env_id:
        raise ValueError(f"env {env.spec.id!r} does not match dataset {dataset_name!r} (needs {env_id!r})")
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    train, val = (_load_file(p, shapes[p], env_id, env, obs_dim, act_dim) for p in (train_path, val_path))
    if clip_actions:
        train.clip_actions()
        val.clip_actions()
    return OGBenchData(env=env, train=train, val=val, success_timing=env.unwrapped._success_timing)

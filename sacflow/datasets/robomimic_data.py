"""Read robomimic-layout low-dim HDF5 files into an OfflineDataset, as the official loader does.

Per demo (sorted by their number, as the official loader): the low-dim observation keys are
concatenated in the fixed order robot0_eef_pos, robot0_eef_quat, robot0_gripper_qpos, object;
rewards are shifted by -1 (0 on success, -1 otherwise); terminals = dones and masks = 1 - dones.
Every problem (missing file or key, wrong shape or dtype, NaN, a truncated or corrupt file)
stops with one DatasetError line naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from sacflow.datasets.errors import DatasetError
from sacflow.datasets.offline import OfflineDataset
from sacflow.envs.robomimic import ACTION_DIM, OBS_KEYS

GENERATE_HINT = "python -m sacflow.datasets.generate robomimic --task lift|can --episodes N --out FILE --seed S"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _open(path: Path):
    import h5py

    if not path.is_file():
        raise DatasetError(path, f"robomimic dataset not found; generate one with `{GENERATE_HINT}` or place "
                                 "robomimic's low_dim_v15.hdf5 there")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(path, f"not a readable HDF5 file (truncated or corrupt?): {_one_line(exc)}") from None


def _demo_names(path: Path, f) -> list[str]:
    if "data" not in f:
        raise DatasetError(path, "missing group 'data'")
    names = [n for n in f["data"] if n.startswith("demo_")]
    if not names:
        raise DatasetError(path, "group 'data' holds no demo_<i> groups")
    try:
        return sorted(names, key=lambda n: int(n[5:]))
    except ValueError:
        raise DatasetError(path, f"demo names must be demo_<integer>, got {sorted(names)[:3]}") from None


def _read(path: Path, group, name: str, ndim: int, length: int | None, kinds: str) -> np.ndarray:
    where = f"{group.name}/{name}"
    if name not in group:
        raise DatasetError(path, f"missing dataset {where}")
    try:
        value = group[name][()]
    except (OSError, ValueError, KeyError) as exc:  # truncated / corrupt chunks surface here
        raise DatasetError(path, f"cannot read {where} (truncated or corrupt?): {_one_line(exc)}") from None
    if value.ndim != ndim:
        raise DatasetError(path, f"{where} must be {ndim}-D, got shape {value.shape}")
    if length is not None and len(value) != length:
        raise DatasetError(path, f"{where} has {len(value)} rows but the demo's actions have {length}")
    if value.dtype.kind not in kinds:
        raise DatasetError(path, f"{where} has dtype {value.dtype}, expected a numeric array")
    return value


def _check_dim(path: Path, where: str, dim: int, key_dims: dict, key: str) -> None:
    """Every demo must agree on each array's width (the first demo sets it unless ``key_dims`` does)."""
    if key_dims.setdefault(key, dim) != dim:
        raise DatasetError(path, f"{where} has dim {dim}, expected {key_dims[key]} (as the env / earlier demos)")


def _load_demo(path: Path, demo, obs_keys, key_dims: dict) -> dict[str, np.ndarray]:
    actions = _read(path, demo, "actions", 2, None, "f")
    _check_dim(path, f"{demo.name}/actions", actions.shape[1], key_dims, "actions")
    n = len(actions)
    if n == 0:
        raise DatasetError(path, f"{demo.name} has no steps")
    if "num_samples" in demo.attrs and int(demo.attrs["num_samples"]) != n:
        raise DatasetError(path, f"{demo.name} attr num_samples={int(demo.attrs['num_samples'])} but it holds {n} steps")
    parts = {}
    for part in ("obs", "next_obs"):
        if part not in demo:
            raise DatasetError(path, f"missing group {demo.name}/{part}")
        arrays = []
        for key in obs_keys:
            value = _read(path, demo[part], key, 2, n, "f")
            _check_dim(path, f"{demo.name}/{part}/{key}", value.shape[1], key_dims, key)
            arrays.append(value)
        parts[part] = np.concatenate(arrays, axis=1)
    return {
        "observations": parts["obs"],
        "next_observations": parts["next_obs"],
        "actions": actions,
        "rewards": _read(path, demo, "rewards", 1, n, "biuf"),
        "dones": _read(path, demo, "dones", 1, n, "biuf"),
    }


def read_env_args(path: str | os.PathLike) -> dict:
    """``data.attrs['env_args']`` parsed: env_name, env_version, type, env_kwargs."""
    path = Path(path).expanduser()
    with _open(path) as f:
        if "data" not in f or "env_args" not in f["data"].attrs:
            raise DatasetError(path, "missing attribute data.env_args")
        try:
            env_args = json.loads(f["data"].attrs["env_args"])
        except (TypeError, ValueError) as exc:
            raise DatasetError(path, f"data.env_args is not valid JSON: {_one_line(exc)}") from None
    if not isinstance(env_args, dict) or "env_name" not in env_args:
        raise DatasetError(path, "data.env_args must be a JSON object with env_name")
    return env_args


def load_robomimic_dataset(path: str | os.PathLike, obs_keys=OBS_KEYS, obs_dim: int | None = None,
                           act_dim: int | None = ACTION_DIM, reward_shift: float = -1.0,
                           clip_actions: bool = True) -> OfflineDataset:
    """All demos of a robomimic low-dim file as flat transitions (see the module docstring).

    ``obs_dim``/``act_dim`` are checked against the environment's when given (19 / 23 / 23 obs
    dims for lift / can / square, 7 action dims). Actions are clipped to +-(1 - 1e-5).
    """
    path = Path(path).expanduser()  # the config default is ~/.robomimic/...
    key_dims: dict[str, int] = {} if act_dim is None else {"actions": act_dim}
    with _open(path) as f:
        demos = [_load_demo(path, f["data"][name], obs_keys, key_dims) for name in _demo_names(path, f)]
        total = f["data"].attrs.get("total")
    n = sum(len(d["actions"]) for d in demos)
    if total is not None and int(total) != n:
        raise DatasetError(path, f"attr data.total={int(total)} but the demos hold {n} transitions")
    cat = {k: np.concatenate([d[k] for d in demos]) for k in demos[0]}
    dones = cat.pop("dones").astype(np.float32)
    if not np.isin(dones, (0.0, 1.0)).all():
        raise DatasetError(path, "dones must hold only 0/1")
    dataset = OfflineDataset({
        "observations": cat["observations"],
        "actions": cat["actions"],
        "rewards": cat["rewards"].astype(np.float32) + np.float32(reward_shift),
        "terminals": dones,
        "masks": 1.0 - dones,
        "next_observations": cat["next_observations"],
    }, source=path)
    dataset.validate(obs_dim=obs_dim, act_dim=act_dim)
    return dataset.clip_actions() if clip_actions else dataset

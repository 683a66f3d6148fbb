"""Flat offline transitions, checked once, in the form the offline-to-online agents consume.

Six aligned arrays with one row per transition (s, a, r, s'):

    observations       [N, obs_dim]  s_t
    actions            [N, act_dim]  a_t
    rewards            [N]           r_t (already transformed: OGBench native, Robomimic r - 1)
    terminals          [N]           1 on the last transition of each episode (episode boundary;
                                      the chunk sampler's ``valid`` mask is built from it)
    masks              [N]           0 where the critic must not bootstrap (a true terminal state)
    next_observations  [N, obs_dim]  s_{t+1}

Everything is stored as float32 numpy; ``to_torch`` makes (and caches) device copies.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

import numpy as np

from sacflow.datasets.errors import DatasetError

KEYS = ("observations", "actions", "rewards", "terminals", "masks", "next_observations")
VECTOR_KEYS = ("observations", "actions", "next_observations")
FLAG_KEYS = ("terminals", "masks")
# The official offline-to-online code clips dataset actions to +-(1 - 1e-5)
# (envs/env_utils.py) so that a tanh-squashed policy's inverse stays finite on them.
ACTION_CLIP = 1.0 - 1e-5


class OfflineDataset:
    """Validated transition arrays; ``source`` (the file they came from) names every error."""

    def __init__(self, arrays: Mapping[str, np.ndarray], source: str | os.PathLike = "<memory>"):
        self.source = str(source)
        missing = [k for k in KEYS if k not in arrays]
        if missing:
            self._fail(f"missing key(s) {', '.join(missing)} (need {', '.join(KEYS)})")
        self.data: dict[str, np.ndarray] = {}
        for key in KEYS:
            value = np.asarray(arrays[key])
            self._check_dtype(key, value)
            self.data[key] = np.ascontiguousarray(value, dtype=np.float32)
        self._torch_cache: dict[str, dict] = {}
        self.validate()

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.data["rewards"])

    def __getitem__(self, key: str) -> np.ndarray:
        return self.data[key]

    def keys(self):
        return self.data.keys()

    @property
    def obs_dim(self) -> int:
        return self.data["observations"].shape[1]

    @property
    def act_dim(self) -> int:
        return self.data["actions"].shape[1]

    @property
    def num_episodes(self) -> int:
        return int(self.data["terminals"].sum())

    def __repr__(self) -> str:
        return (f"OfflineDataset({len(self)} transitions, {self.num_episodes} episodes, "
                f"obs_dim={self.obs_dim}, act_dim={self.act_dim}, source={self.source!r})")

    # ------------------------------------------------------------------ checks
    def validate(self, obs_dim: int | None = None, act_dim: int | None = None) -> OfflineDataset:
        """Shapes, lengths, finiteness, 0/1 flags and, when given, the env's dimensions."""
        d = self.data
        for key in VECTOR_KEYS:
            if d[key].ndim != 2:
                self._fail(f"{key} must be 2-D [N, dim], got shape {d[key].shape}")
        for key in ("rewards", *FLAG_KEYS):
            if d[key].ndim != 1:
                self._fail(f"{key} must be 1-D [N], got shape {d[key].shape}")
        n = len(d["observations"])
        if n == 0:
            self._fail("dataset holds no transitions")
        lengths = {k: len(v) for k, v in d.items()}
        if len(set(lengths.values())) != 1:
            self._fail(f"arrays differ in length: {lengths}")
        if d["next_observations"].shape[1] != d["observations"].shape[1]:
            self._fail(f"next_observations dim {d['next_observations'].shape[1]} != "
                       f"observations dim {d['observations'].shape[1]}")
        for key, value in d.items():
            bad = ~np.isfinite(value)
            if bad.any():
                row = int(np.argwhere(bad)[0][0])
                self._fail(f"{key} has {int(bad.sum())} NaN/inf value(s), first at row {row}")
        for key in FLAG_KEYS:
            if not np.isin(d[key], (0.0, 1.0)).all():
                self._fail(f"{key} must hold only 0/1, found {np.setdiff1d(d[key], (0.0, 1.0))[:3]}")
        if obs_dim is not None and self.obs_dim != obs_dim:
            self._fail(f"observation dim {self.obs_dim} does not match the environment's {obs_dim}")
        if act_dim is not None and self.act_dim != act_dim:
            self._fail(f"action dim {self.act_dim} does not match the environment's {act_dim}")
        return self

    def _check_dtype(self, key: str, value: np.ndarray) -> None:
        # Flags may come as bool/int (OGBench stores bool terminals); everything else must be float.
        allowed = "biuf" if key in FLAG_KEYS else "f"
        if value.dtype.kind not in allowed:
            kind = "bool, integer or float" if key in FLAG_KEYS else "floating point"
            self._fail(f"{key} has dtype {value.dtype}, expected {kind}")

    def _fail(self, problem: str):
        raise DatasetError(self.source, problem)

    # ------------------------------------------------------------------ transforms
    def clip_actions(self, limit: float = ACTION_CLIP) -> OfflineDataset:
        """Clip actions into +-limit, saying once how many entries that changed (a dataset scaled for
        another action box shows here, not as a silently saturated policy)."""
        actions = self.data["actions"]
        outside = int(np.count_nonzero(np.abs(actions) > np.float32(limit)))
        if outside:
            print(f"sacflow: note: {self.source}: {outside} of {actions.size} action entries ({outside / actions.size:.2%}) "
                  f"lie outside +-{limit} and were clipped to it", file=sys.stderr)
        np.clip(actions, -limit, limit, out=actions)
        self._torch_cache.clear()
        return self

    def to_torch(self, device="cpu") -> dict:
        """float32 tensors on ``device`` (cached: the chunk sampler gathers from them every batch)."""
        import torch

        device = torch.device(device)
        if str(device) not in self._torch_cache:
            self._torch_cache[str(device)] = {k: torch.from_numpy(v).to(device) for k, v in self.data.items()}
        return self._torch_cache[str(device)]

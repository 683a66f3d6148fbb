"""N copies of a training env stepped side by side, with exact mid-episode snapshots.

The vector env runs with gymnasium's autoreset *disabled*: a sub-env whose episode ended is
reset explicitly after its last transition was returned, so every transition ``step``
returns is real (its ``next_obs`` is the true final observation at an episode end) and none
spans a reset. gymnasium 1.x's default next-step autoreset would instead spend the step
after an episode end on the reset, with a meaningless action and reward in that row.

Sub-env ``i`` is reset with seed ``seed + i`` once, then without a seed (its own RNG goes
on), exactly like a single env reset by hand: with one sub-env, collection is the paper's
single-env protocol bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from sacflow.envs.snapshot import capture, restore


@dataclass
class Transitions:
    """One row per sub-env: ``next_obs`` is the observation the action led to; ``terminated``
    excludes the time limit (the critic bootstraps through truncation)."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray


@dataclass
class FinishedEpisode:
    env: int
    episode_return: float
    length: int


class VectorCollector:
    def __init__(self, env_fn, num_envs: int, seed: int):
        self.envs = gym.vector.SyncVectorEnv([env_fn] * num_envs, autoreset_mode=AutoresetMode.DISABLED)
        self.num_envs, self.seed = num_envs, seed
        self.single_action_space = self.envs.single_action_space
        self.single_observation_space = self.envs.single_observation_space
        self.obs: np.ndarray | None = None  # current observation of every sub-env
        self.returns, self.lengths = np.zeros(num_envs), np.zeros(num_envs, dtype=np.int64)

    def start(self) -> None:
        self.obs = self.envs.reset(seed=[self.seed + i for i in range(self.num_envs)])[0]

    def step(self, actions: np.ndarray) -> tuple[Transitions, list[FinishedEpisode]]:
        """Step every sub-env; reset those whose episode ended, after recording it."""
        next_obs, reward, terminated, truncated, _ = self.envs.step(actions)
        batch = Transitions(self.obs, actions, reward, next_obs, terminated)
        self.returns += reward
        self.lengths += 1
        done = terminated | truncated
        finished = [FinishedEpisode(int(i), float(self.returns[i]), int(self.lengths[i])) for i in np.flatnonzero(done)]
        self.obs = next_obs
        if done.any():
            reset_obs = self.envs.reset(options={"reset_mask": done})[0]
            self.obs = np.where(done[:, None], reset_obs, next_obs)
            self.returns[done], self.lengths[done] = 0.0, 0
        return batch, finished

    def state_dict(self) -> dict:
        """Every sub-env's simulator state plus the running episodes: tensors and python values only."""
        return {"envs": [capture(env) for env in self.envs.envs], "obs": torch.from_numpy(self.obs.copy()),
                "returns": torch.from_numpy(self.returns.copy()), "lengths": torch.from_numpy(self.lengths.copy())}

    def load_state_dict(self, state: dict) -> None:
        if len(state["envs"]) != self.num_envs:
            raise ValueError(f"snapshot holds {len(state['envs'])} envs, this collector {self.num_envs}")
        self.start()  # the wrappers must have seen a reset before their counters are restored
        for env, env_state in zip(self.envs.envs, state["envs"]):
            restore(env, env_state)
        self.obs = state["obs"].numpy().copy()
        self.returns, self.lengths = state["returns"].numpy().copy(), state["lengths"].numpy().copy()

    def close(self) -> None:
        self.envs.close()

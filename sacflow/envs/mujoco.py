"""Gymnasium MuJoCo tasks for from-scratch training (the paper uses the ``-v4`` versions)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import gymnasium as gym


def make_mujoco_env(env_id: str, max_episode_steps: int | None = None) -> gym.Env:
    """A single (non-vectorised) env: termination and truncation stay separate.

    ``terminated`` means a true terminal state (no bootstrap); ``truncated`` is the time
    limit, through which the critic bootstraps, so the trainer stores only ``terminated``.
    """
    with warnings.catch_warnings():
        # gymnasium 1.x flags every -v4 env as outdated; the paper uses them on purpose.
        warnings.filterwarnings("ignore", message=".*is out of date.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return gym.make(env_id, max_episode_steps=max_episode_steps)


@dataclass(frozen=True)
class MujocoEnvSpec:
    """A picklable env factory, so vector envs can build copies in worker processes."""

    id: str
    max_episode_steps: int | None = None

    def __call__(self) -> gym.Env:
        return make_mujoco_env(self.id, self.max_episode_steps)

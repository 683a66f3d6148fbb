"""The offline-to-online suites behind one factory: OGBench cube tasks and Robomimic tasks.

``ManipulationEnvSpec`` is a small picklable description of an ``env`` config node, so the
same env can be built in this process (training) and in evaluation worker processes.
``sparse`` turns every nonzero reward into -1 (the official ``--sparse`` flag; OGBench's
native reward counts misplaced cubes).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

SUITES = ("ogbench", "robomimic")


def sparse_reward(reward):
    """-1 for every nonzero reward, 0 otherwise (works on scalars and arrays)."""
    return -(np.asarray(reward) != 0).astype(np.float32)


class SparseReward(gym.RewardWrapper):
    def reward(self, reward):
        return float(sparse_reward(reward))


@dataclass(frozen=True)
class ManipulationEnvSpec:
    suite: str
    id: str
    max_episode_steps: int | None = None
    success_timing: str = "pre"
    sparse: bool = False
    # Robosuite draws parts of the model (Lift's cube size) from its own RNG when an env is built,
    # unseeded by default: a model seed makes every copy of the env (workers, resumes) the same.
    model_seed: int | None = None

    @classmethod
    def from_config(cls, env_cfg) -> ManipulationEnvSpec:
        if env_cfg.suite not in SUITES:
            raise ValueError(f"env.suite must be one of {SUITES} for offline-to-online training, got {env_cfg.suite!r}")
        return cls(env_cfg.suite, env_cfg.id, env_cfg.get("max_episode_steps"), env_cfg.get("success_timing", "pre"),
                   bool(env_cfg.get("sparse", False)))

    def __call__(self) -> gym.Env:
        if self.suite == "ogbench":
            from sacflow.envs.ogbench import make_ogbench_env

            env = make_ogbench_env(self.id, success_timing=self.success_timing, max_episode_steps=self.max_episode_steps)
        else:
            from sacflow.envs.robomimic import make_robomimic_env

            seeded = {} if self.model_seed is None else {"seed": self.model_seed}
            env = make_robomimic_env(self.id, horizon=self.max_episode_steps, **seeded)
        return SparseReward(env) if self.sparse else env


class IgnoringCtrlC:
    """Builds the env in a worker process that ignores SIGINT: a terminal's Ctrl-C reaches the whole process
    group, and the trainer, not its workers, decides when to stop (sacflow/utils/interrupt.py)."""

    def __init__(self, spec):
        self.spec = spec

    def __call__(self) -> gym.Env:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return self.spec()


def make_vector_env(spec: ManipulationEnvSpec, num_envs: int, asynchronous: bool) -> gym.vector.VectorEnv:
    """``num_envs`` copies for parallel evaluation; ``asynchronous`` puts each in its own process."""
    if num_envs < 1:
        raise ValueError(f"eval.workers must be >= 1, got {num_envs}")
    if asynchronous:
        return gym.vector.AsyncVectorEnv([IgnoringCtrlC(spec)] * num_envs, context="fork")
    return gym.vector.SyncVectorEnv([spec] * num_envs)

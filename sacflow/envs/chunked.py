"""Execute a flattened h-step action chunk open loop as one step (ReinFlow / DPPO's multi-step wrapper).

The chunk stops early when the episode ends; the step's reward is the sum of the rewards of
the executed env steps, ``info['env_steps']`` their number and ``info['success']`` (when the env
reports one) the flag of the last executed step.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class ChunkedActions(gym.Wrapper):
    def __init__(self, env: gym.Env, horizon: int):
        super().__init__(env)
        if horizon < 1:
            raise ValueError(f"chunk horizon must be >= 1, got {horizon}")
        self.horizon = horizon
        low, high = env.action_space.low, env.action_space.high
        self.action_space = gym.spaces.Box(np.tile(low, horizon), np.tile(high, horizon), dtype=env.action_space.dtype)

    def step(self, chunk):
        actions = np.asarray(chunk).reshape(self.horizon, -1)
        total = 0.0
        for executed, action in enumerate(actions, start=1):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, {**info, "env_steps": executed}

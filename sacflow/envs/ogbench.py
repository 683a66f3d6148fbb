"""OGBench manipulation single-task environments (cube-double/triple/quadruple, task1..5).

The offline-to-online runs use the *singletask* envs: reward = (#cubes at goal) - #cubes,
``terminated`` on success, and ``info['success']``. ``success_timing`` chooses which state those
signals describe:

* ``'pre'`` (ogbench >= 1.2.0, the registered default): the state *before* the action, which is
  also how the datasets are relabelled;
* ``'post'``: the state after the action, as ogbench 1.1.x, which FQL, QC and the official
  SAC Flow code ran on. Use it for exact parity with their numbers.

Dataset names (``cube-double-play-singletask-task2-v0``) are accepted as well as env ids
(``cube-double-singletask-task2-v0``); the dataset type is dropped as ``ogbench`` does.
"""

from __future__ import annotations

import warnings

import gymnasium as gym

# ogbench builds a float64 Box on every ``action_space`` access (even inside reset), and
# gymnasium warns each time that it casts the bounds to float32; the cast is harmless.
warnings.filterwarnings("ignore", message=r".*Box (low|high)'s precision lowered", category=UserWarning)

SUCCESS_TIMINGS = ("pre", "post")
DATASET_TYPES = ("play", "noisy", "stitch", "explore", "navigate")


def singletask_env_id(name: str) -> str:
    """'cube-double-play-singletask-task2-v0' or 'cube-double-singletask-task2-v0' -> the env id."""
    parts = name.split("-")
    if "singletask" not in parts:
        raise ValueError(f"{name!r} is not an OGBench single-task name (e.g. cube-double-singletask-task2-v0)")
    pos = parts.index("singletask")
    if parts[pos - 1] in DATASET_TYPES:
        parts.pop(pos - 1)
    return "-".join(parts)


class SuccessInfo(gym.Wrapper):
    """``info['success']`` as a bool on reset and every step (ogbench only sets it on steps)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        info["success"] = bool(getattr(self.env.unwrapped, "_success", False))
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["success"] = bool(info.get("success", False))
        return obs, reward, terminated, truncated, info


def make_ogbench_env(name: str, success_timing: str = "pre", max_episode_steps: int | None = None,
                     **env_kwargs) -> gym.Env:
    """A single-task OGBench env (500 steps for cube-double, 1000 for triple/quadruple by default)."""
    if success_timing not in SUCCESS_TIMINGS:
        raise ValueError(f"success_timing must be one of {SUCCESS_TIMINGS}, got {success_timing!r}")
    import ogbench  # noqa: F401  (registers the envs with gymnasium)

    kwargs = dict(success_timing=success_timing, **env_kwargs)
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    return SuccessInfo(gym.make(singletask_env_id(name), **kwargs))

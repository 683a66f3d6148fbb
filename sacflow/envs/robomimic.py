"""Robomimic tasks (Lift, PickPlaceCan, NutAssemblySquare) created directly through robosuite.

The `robomimic` package cannot create environments here (its 0.3.0 release imports mujoco_py),
so we call ``robosuite.make`` ourselves with the settings robomimic's v1.5 low-dim datasets use
(Panda, the default OSC_POSE composite controller, 20 Hz, sparse reward, no cameras) and
reproduce the semantics of the wrapper the official offline-to-online code uses:

* observation: concatenation of robot0_eef_pos (3), robot0_eef_quat (4), robot0_gripper_qpos (2)
  and ``object`` (robosuite's ``object-state``), unnormalised: 19 / 23 / 23 dims;
* reward: sparse success (1 on success) minus 1, i.e. -1 per step and 0 on the success step;
* ``terminated`` on success, ``truncated`` at the time limit (300 / 300 / 400 steps by
  default, the official code's limits; the paper's table says 500);
* ``info['success']`` on every step.

robosuite is imported lazily so this module costs nothing when Robomimic is not used.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import gymnasium as gym
import numpy as np

# Short names (the official env ids are lift/can/square-mh-low_dim) -> robosuite env names.
TASKS = {"lift": "Lift", "can": "PickPlaceCan", "square": "NutAssemblySquare"}
DEFAULT_HORIZONS = {"Lift": 300, "PickPlaceCan": 300, "NutAssemblySquare": 400}
OBS_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "object")
ACTION_DIM = 7


def robosuite_name(task: str) -> str:
    """'lift' | 'can' | 'square' (or 'lift-mh-low_dim', or a robosuite name) -> robosuite name."""
    short = task.split("-")[0].lower()
    if short in TASKS:
        return TASKS[short]
    if task in DEFAULT_HORIZONS:
        return task
    raise ValueError(f"unknown Robomimic task {task!r}; choose one of {', '.join(TASKS)} "
                     f"(or {', '.join(DEFAULT_HORIZONS)})")


def _import_robosuite():
    import robosuite
    from robosuite.controllers import load_composite_controller_config

    # robosuite logs every controller-config load at INFO; keep warnings and errors only.
    logging.getLogger("robosuite_logs").setLevel(logging.WARNING)
    return robosuite, load_composite_controller_config


def robosuite_kwargs(**overrides) -> dict:
    """The JSON-serialisable kwargs for ``robosuite.make`` (also written as ``env_kwargs``)."""
    _, load_controller = _import_robosuite()
    kwargs = {
        "robots": "Panda",
        "controller_configs": load_controller(robot="Panda"),  # BASIC + OSC_POSE arm, delta input
        "has_renderer": False,
        "has_offscreen_renderer": False,
        "use_camera_obs": False,
        "use_object_obs": True,
        "control_freq": 20,
        "reward_shaping": False,
        "ignore_done": True,  # the time limit is ours (horizon), not robosuite's
        "hard_reset": False,  # as the official wrapper: resets without rebuilding the model (~2x faster)
    }
    kwargs.update(overrides)
    return kwargs


def make_robosuite_env(task: str, **overrides):
    """The raw robosuite env and the kwargs it was made with."""
    robosuite, _ = _import_robosuite()
    kwargs = robosuite_kwargs(**overrides)
    return robosuite.make(robosuite_name(task), **kwargs), kwargs


def low_dim_obs(obs: dict, keys=OBS_KEYS) -> np.ndarray:
    """Concatenate the low-dim keys in the fixed order; ``object`` is robosuite's ``object-state``."""
    return np.concatenate([np.asarray(obs["object-state" if k == "object" else k]) for k in keys]).astype(np.float32)


def reseed(env, seed: int | None) -> None:
    """Make the next ``env.reset()`` reproducible.

    robosuite draws object placements and robot init noise from ``env.rng``; the placement
    samplers keep their own reference to it (and ``hard_reset=False`` never rebuilds them), so
    the new generator is handed to every sampler as well.
    """
    rng = np.random.default_rng(seed)
    env.rng = rng
    stack = [getattr(env, "placement_initializer", None)]
    while stack:
        sampler = stack.pop()
        if sampler is None:
            continue
        sampler.rng = rng
        stack.extend(getattr(sampler, "samplers", {}).values())


def success(env) -> bool:
    return bool(env._check_success())


class RobomimicEnv(gym.Env):
    """Gymnasium API over a robosuite task with the official wrapper's semantics (module doc)."""

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, task: str, horizon: int | None = None, **robosuite_overrides):
        self.task = robosuite_name(task)
        self.horizon = DEFAULT_HORIZONS[self.task] if horizon is None else int(horizon)
        if self.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        self.env, self.env_kwargs = make_robosuite_env(self.task, **robosuite_overrides)
        obs_dim = low_dim_obs(self.env.reset()).shape[0]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            reseed(self.env, seed)
        self._t = 0
        return low_dim_obs(self.env.reset()), {"success": False}

    def step(self, action):
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        obs, _, _, info = self.env.step(action)
        self._t += 1
        done = success(self.env)
        info = {**info, "success": done}
        # Sparse success reward shifted by -1 (official: r - 1 for data and online steps).
        return low_dim_obs(obs), float(done) - 1.0, done, (not done) and self._t >= self.horizon, info

    def get_state(self) -> np.ndarray:
        """The flattened MuJoCo state (robomimic's ``states``)."""
        return np.asarray(self.env.sim.get_state().flatten())

    def close(self):
        self.env.close()


def make_robomimic_env(task: str, horizon: int | None = None, **robosuite_overrides) -> RobomimicEnv:
    return RobomimicEnv(task, horizon=horizon, **robosuite_overrides)

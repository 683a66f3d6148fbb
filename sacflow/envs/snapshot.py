"""Save and restore a gymnasium MuJoCo env mid-episode, so a checkpoint can be taken anywhere.

``capture(env)`` returns plain python values and tensors (loadable with ``weights_only=True``);
``restore(env, state)`` puts an env built the same way (and reset once) into exactly that state,
so its next ``step`` returns bit-identical results. Captured:

* every wrapper's episode counter (TimeLimit's elapsed steps, OrderEnforcing's reset flag,
  the passive checker's flags);
* the simulator: ``data.time`` and every fixed-size array of ``MjData`` (positions,
  velocities, controls, warm start *and* the derived quantities such as ``cfrc_ext`` or
  ``cinert`` that some observations read, which ``mj_step`` left at their pre-step values, so
  recomputing them with ``mj_forward`` would not reproduce the observation);
* the env's ``np_random`` (the next reset's noise).

Constraint arrays sized by the current number of contacts (``efc_*``, islands) are skipped:
the next ``mj_step`` recomputes them from the state above.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from sacflow.utils.rng import generator_state, set_generator_state

WRAPPER_COUNTERS = ("_elapsed_steps", "_has_reset", "checked_reset", "checked_step", "checked_render")
DYNAMIC_PREFIXES = ("efc_", "iefc_", "island_", "map_efc", "map_iefc")


def _wrappers(env: gym.Env) -> list[gym.Env]:
    chain = [env]
    while isinstance(chain[-1], gym.Wrapper):
        chain.append(chain[-1].env)
    return chain


def _fixed_size_arrays(data) -> dict[str, np.ndarray]:
    arrays = {}
    for name in dir(data):
        if name.startswith("_") or name.startswith(DYNAMIC_PREFIXES):
            continue
        value = getattr(data, name, None)
        if isinstance(value, np.ndarray) and value.size:
            arrays[name] = value
    return arrays


def capture(env: gym.Env) -> dict:
    data = env.unwrapped.data
    return {
        "wrappers": [{k: getattr(w, k) for k in WRAPPER_COUNTERS if hasattr(w, k)} for w in _wrappers(env)],
        "time": float(data.time),
        "arrays": {name: torch.from_numpy(np.array(value)) for name, value in _fixed_size_arrays(data).items()},
        "np_random": generator_state(env.unwrapped.np_random),
    }


def restore(env: gym.Env, state: dict) -> None:
    chain = _wrappers(env)
    if len(chain) != len(state["wrappers"]):
        raise ValueError(f"snapshot has {len(state['wrappers'])} wrapper levels, the env {len(chain)}")
    for wrapper, counters in zip(chain, state["wrappers"]):
        for key, value in counters.items():
            setattr(wrapper, key, value)
    data = env.unwrapped.data
    data.time = state["time"]
    current = _fixed_size_arrays(data)
    for name, value in state["arrays"].items():
        if name not in current or tuple(current[name].shape) != tuple(value.shape):
            raise ValueError(f"snapshot array {name!r} does not fit this env's MjData")
        current[name][...] = value.numpy()
    set_generator_state(env.unwrapped.np_random, state["np_random"])

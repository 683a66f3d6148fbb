"""Scripted Lift / PickPlaceCan demos written in robomimic's HDF5 layout.

A local substitute for robomimic's MH low-dim datasets (which cannot be downloaded here). The
layout is the one robomimic's tools and the official loader read:

    data                     attrs: total (transitions), env_args (JSON: env_name, env_version,
                                    type=1 (robosuite), env_kwargs = the robosuite.make kwargs)
    data/demo_<i>            attrs: num_samples, seed, noise, gain, pause_prob, quality
        obs/<key>            [N, d] float64, the state *before* each action, for the low-dim
                             keys robot0_eef_pos, robot0_eef_quat, robot0_gripper_qpos, object
        next_obs/<key>       [N, d] float64, the state after each action
        actions              [N, 7] float64 in [-1, 1] (OSC_POSE deltas + gripper)
        rewards              [N] float64, 1.0 on the success step (sparse, before the r - 1 shift)
        dones                [N] int64, 1 on the last step, which is the first success
        states               [N, D] float64, flattened MuJoCo state before each action
    mask/<better|okay|worse> demo names by noise level, like MH's operator-quality filter keys

As in MH, only successful rollouts are kept, each ending at its first success. The MJCF
``model_file`` attribute of real robomimic files is left out (our loaders never read it and
it would add ~100 kB per demo). Every attempt is seeded from (seed, attempt index), so a file
is reproducible from its command line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from sacflow.datasets.scripted import CONTROLLERS, Style
from sacflow.envs.robomimic import DEFAULT_HORIZONS, OBS_KEYS, make_robosuite_env, reseed, robosuite_name, success


def _obs_entry(obs: dict) -> dict[str, np.ndarray]:
    return {k: np.array(obs["object-state" if k == "object" else k], dtype=np.float64) for k in OBS_KEYS}


def rollout(env, controller, obs: dict, max_steps: int) -> tuple[dict, bool]:
    """Run one attempt from the reset observation ``obs``; stop at the first success."""
    steps = {"obs": [], "next_obs": [], "actions": [], "rewards": [], "states": []}
    done = False
    for _ in range(max_steps):
        steps["states"].append(np.array(env.sim.get_state().flatten()))
        steps["obs"].append(_obs_entry(obs))
        action = controller.act(obs)
        obs, _, _, _ = env.step(action)
        done = success(env)
        steps["actions"].append(action)
        steps["next_obs"].append(_obs_entry(obs))
        steps["rewards"].append(float(done))
        if done:
            break
    return steps, done


def _write_demo(group, steps: dict) -> int:
    n = len(steps["actions"])
    for part in ("obs", "next_obs"):
        for key in OBS_KEYS:
            group.create_dataset(f"{part}/{key}", data=np.stack([s[key] for s in steps[part]]))
    group.create_dataset("actions", data=np.asarray(steps["actions"], dtype=np.float64))
    group.create_dataset("rewards", data=np.asarray(steps["rewards"], dtype=np.float64))
    dones = np.zeros(n, dtype=np.int64)
    dones[-1] = 1
    group.create_dataset("dones", data=dones)
    group.create_dataset("states", data=np.asarray(steps["states"], dtype=np.float64))
    group.attrs["num_samples"] = n
    return n


def generate_robomimic_demos(task: str, episodes: int, out: str | os.PathLike, seed: int = 0,
                             max_steps: int | None = None, max_attempts: int | None = None,
                             log=print) -> dict:
    """Write ``episodes`` successful scripted demos of ``task`` ('lift' | 'can') to ``out``.

    Returns statistics: attempts, success rate of the scripted policy, transitions kept and
    simulated, wall time and simulated steps per second (one process: per core).
    """
    import h5py
    import robosuite

    name = robosuite_name(task)
    if name not in CONTROLLERS:
        raise ValueError(f"no scripted policy for {name}; scripted demos exist for {', '.join(CONTROLLERS)}")
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    max_steps = DEFAULT_HORIZONS[name] if max_steps is None else max_steps
    max_attempts = 3 * episodes + 10 if max_attempts is None else max_attempts
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")

    env, env_kwargs = make_robosuite_env(name)
    start, simulated, kept, attempt = time.perf_counter(), 0, 0, 0
    tiers: dict[str, list[str]] = {}
    with h5py.File(tmp, "w") as f:
        data = f.create_group("data")
        while len(data) < episodes:
            if attempt >= max_attempts:
                raise RuntimeError(f"scripted {name} policy succeeded only {len(data)}/{attempt} times; "
                                   f"raise --max-attempts or lower --episodes")
            env_seed, policy_seed = np.random.SeedSequence([seed, attempt]).generate_state(2)
            attempt += 1
            reseed(env, int(env_seed))
            obs = env.reset()
            rng = np.random.default_rng(int(policy_seed))
            style = Style.sample(rng)
            steps, ok = rollout(env, CONTROLLERS[name](env, rng, style), obs, max_steps)
            simulated += len(steps["actions"])
            if not ok:
                continue
            demo = f"demo_{len(data)}"
            group = data.create_group(demo)
            kept += _write_demo(group, steps)
            group.attrs["seed"] = attempt - 1
            for key, value in style.as_dict().items():
                group.attrs[key] = value
            tiers.setdefault(style.quality, []).append(demo)
            log(f"{demo}: {len(steps['actions'])} steps, noise {style.noise:.2f} ({style.quality})")
        data.attrs["total"] = kept
        data.attrs["env_args"] = json.dumps({"env_name": name, "env_version": robosuite.__version__,
                                             "type": 1, "env_kwargs": env_kwargs})
        for tier, demos in tiers.items():
            f.create_dataset(f"mask/{tier}", data=np.array(demos, dtype="S"))
    os.replace(tmp, out)
    env.close()
    seconds = time.perf_counter() - start
    return {"task": name, "episodes": episodes, "attempts": attempt, "success_rate": episodes / attempt,
            "transitions": kept, "simulated_steps": simulated, "seconds": seconds,
            "steps_per_second_per_core": simulated / seconds, "path": str(out)}

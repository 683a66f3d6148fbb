"""OGBench cube "play" datasets, generated locally in the official npz format.

The recipe is the one the official play datasets were made with (reference notes, OGBench §B3):
ogbench's own scripted ``CubePlanOracle`` (noise 0.1, smoothing 0.5), shipped in the wheel,
drives the data-collection env (``mode='data_collection'``, no termination at goals). Whenever
the oracle finishes a pick-and-place, ``set_new_target`` draws a new one (a random top cube to a
random spot, or onto another cube with a per-episode stacking probability), until the episode
reaches its fixed length of 1001 steps.

Stored per step, with the official dtypes (float32; terminals bool):
    observations  the observation *before* the action
    actions       the oracle's action clipped to [-1, 1]
    terminals     True only on the episode's last step
    qpos, qvel    the MuJoCo state of that observation (``info['prev_qpos'/'prev_qvel']``),
                  which ogbench uses to relabel single-task rewards
There are no next_observations/rewards/masks: ogbench's loader shifts observations and drops
each episode's last step (1001 steps -> 1000 transitions), and relabels rewards per task.

Unlike the official script (which never seeds), each episode is seeded from (seed, split,
episode index): files are reproducible and independent of how the work is split. Episodes are
written in shards of a few dozen, atomically, so a killed run resumes where it stopped; the
shards are merged into ``<env>-play-v0.npz`` and ``-val.npz`` (``--episodes // 10`` validation
episodes, at least 1 because ogbench's loader needs a non-empty val file) at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

# Per-episode stacking probability ranges of the official commands (single has nothing to stack on).
P_STACK = {"cube-single": (0.0, 0.0), "cube-double": (0.0, 0.25), "cube-triple": (0.05, 0.35),
           "cube-quadruple": (0.1, 0.5)}
EPISODE_LENGTH = 1001
ORACLE = {"noise": 0.1, "noise_smoothing": 0.5}
SPLITS = {"train": 0, "val": 1}  # part of every episode's seed, so train and val never share one


def dataset_stem(env: str) -> str:
    return f"{env}-play-v0"


_ENVS: dict = {}  # one env per (env, length) per process: building the MuJoCo model takes ~1 s


def _make_env(env: str, length: int):
    import gymnasium as gym
    import ogbench  # noqa: F401  (registers the envs)

    import sacflow.envs.ogbench  # noqa: F401  (silences ogbench's float64-Box warnings)

    if (env, length) not in _ENVS:
        _ENVS[env, length] = gym.make(f"{env}-v0", terminate_at_goal=False, mode="data_collection",
                                      max_episode_steps=length)
    return _ENVS[env, length]


def collect_episode(env, oracle, p_stack_range, seed_seq: np.random.SeedSequence, length: int) -> tuple[dict, int]:
    """One play episode; returns its arrays and the number of pick-and-places the oracle finished."""
    env_seed, np_seed = seed_seq.generate_state(2)
    np.random.seed(int(np_seed))  # the oracles draw their plans and noise from numpy's global RNG
    ob, info = env.reset(seed=int(env_seed))
    p_stack = np.random.uniform(*p_stack_range)
    oracle.reset(ob, info)
    rows = {"observations": [], "actions": [], "qpos": [], "qvel": []}
    finished = 0
    for _ in range(length):
        action = np.clip(oracle.select_action(ob, info), -1.0, 1.0)
        next_ob, _, _, _, next_info = env.step(action)
        rows["observations"].append(ob)
        rows["actions"].append(action)
        rows["qpos"].append(next_info["prev_qpos"])
        rows["qvel"].append(next_info["prev_qvel"])
        if oracle.done:  # pick a new target and re-plan from the current state
            finished += 1
            ob, info = env.unwrapped.set_new_target(p_stack=p_stack)
            oracle.reset(ob, info)
        else:
            ob, info = next_ob, next_info
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in rows.items()}
    arrays["terminals"] = np.zeros(length, dtype=bool)
    arrays["terminals"][-1] = True
    return arrays, finished


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _save_npz(path: Path, arrays: dict) -> None:
    """Atomic: a killed run never leaves a half-written file under the final name."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def run_shard(env: str, split: str, start: int, stop: int, seed: int, length: int, path: str) -> dict:
    """Episodes [start, stop) of ``split`` into the shard file ``path``; returns timing."""
    from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle

    t0 = time.perf_counter()
    gym_env = _make_env(env, length)
    oracle = CubePlanOracle(env=gym_env, **ORACLE)
    episodes, finished = [], 0
    for e in range(start, stop):
        arrays, n = collect_episode(gym_env, oracle, P_STACK[env],
                                    np.random.SeedSequence([seed, SPLITS[split], e]), length)
        episodes.append(arrays)
        finished += n
    _save_npz(Path(path), _concat(episodes))
    return {"steps": (stop - start) * length, "seconds": time.perf_counter() - t0, "subtasks": finished}


def plan_shards(episodes: int, val_episodes: int, shard_size: int) -> list[tuple[str, int, int]]:
    shards = []
    for split, count in (("train", episodes), ("val", val_episodes)):
        shards += [(split, s, min(s + shard_size, count)) for s in range(0, count, shard_size)]
    return shards


def generate_ogbench_play(env: str, episodes: int, out_dir: str | os.PathLike, seed: int = 0, workers: int = 1,
                          episode_length: int = EPISODE_LENGTH, shard_size: int = 25,
                          val_episodes: int | None = None, keep_shards: bool = False, log=print) -> dict:
    """Write ``<out_dir>/<env>-play-v0.npz`` and ``-val.npz``; returns paths and timing."""
    if env not in P_STACK:
        raise ValueError(f"unknown OGBench env {env!r}; choose one of {', '.join(P_STACK)}")
    if episodes < 1 or workers < 1 or shard_size < 1 or episode_length < 2:
        raise ValueError("--episodes, --workers and --shard-size must be >= 1 and --episode-length >= 2")
    val_episodes = max(1, episodes // 10) if val_episodes is None else val_episodes
    out_dir = Path(out_dir)
    stem = dataset_stem(env)
    train_path, val_path, meta_path = out_dir / f"{stem}.npz", out_dir / f"{stem}-val.npz", out_dir / f"{stem}.json"
    settings = {"env": env, "episodes": episodes, "val_episodes": val_episodes, "seed": seed,
                "episode_length": episode_length, "oracle": "CubePlanOracle", **ORACLE, "p_stack": P_STACK[env]}
    if train_path.exists() and val_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("settings") == json.loads(json.dumps(settings)):  # tuples come back as lists
            log(f"{train_path} already generated with these settings; nothing to do")
            return {**meta, "skipped": True}
        raise FileExistsError(f"{train_path}: exists with different settings ({meta_path}); "
                              "delete it or choose another --out")

    # Settings that change an episode's content name the shard folder, so shards never mix.
    shard_dir = out_dir / f".{stem}-shards" / f"seed{seed}-len{episode_length}"
    shard_dir.mkdir(parents=True, exist_ok=True)
    shards = [(split, a, b, shard_dir / f"{split}-{a:06d}-{b:06d}.npz")
              for split, a, b in plan_shards(episodes, val_episodes, shard_size)]
    todo = [s for s in shards if not s[3].exists()]
    log(f"{env}: {episodes}+{val_episodes} episodes x {episode_length} steps in {len(shards)} shards "
        f"({len(shards) - len(todo)} already done), {workers} worker(s)")

    t0, stats = time.perf_counter(), []
    jobs = [(env, split, a, b, seed, episode_length, str(path)) for split, a, b, path in todo]
    if workers == 1:
        for job in jobs:
            stats.append(run_shard(*job))
            log(f"  shard {Path(job[-1]).name}: {stats[-1]['steps'] / stats[-1]['seconds']:.0f} steps/s")
    elif jobs:
        # spawn, not fork: every worker builds its own MuJoCo/ogbench state from scratch.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            for job, result in zip(jobs, pool.map(run_shard, *zip(*jobs))):
                stats.append(result)
                log(f"  shard {Path(job[-1]).name}: {result['steps'] / result['seconds']:.0f} steps/s")
    wall = time.perf_counter() - t0

    for split, path in (("train", train_path), ("val", val_path)):
        _save_npz(path, _concat([dict(np.load(p)) for s, _, _, p in shards if s == split]))
    steps = sum(s["steps"] for s in stats)
    core_seconds = sum(s["seconds"] for s in stats)
    meta = {"settings": settings, "train": str(train_path), "val": str(val_path),
            "generated_steps": steps, "wall_seconds": wall, "core_seconds": core_seconds,
            "steps_per_second_per_core": steps / core_seconds if core_seconds else None,
            "oracle_subtasks": sum(s["subtasks"] for s in stats)}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    if not keep_shards:
        shutil.rmtree(shard_dir)
        if not any(shard_dir.parent.iterdir()):
            shard_dir.parent.rmdir()
    return {**meta, "skipped": False}

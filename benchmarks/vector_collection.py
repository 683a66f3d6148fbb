"""Speed of vectorised collection and evaluation on a MuJoCo task (docs/performance.md).

Times, with an untrained agent built from the config (pass Hydra overrides for the sizes):

* collection: ``agent.act`` on the batch of observations + one vector step + replay-buffer
  adds, for each ``--num-envs`` (no gradient updates: they cost the same per transition
  whatever the number of envs);
* evaluation: ``evaluate`` (deterministic mode) of ``--episodes`` episodes with each
  ``--workers`` setting, in-process (sync) and with one process per sub-env (async).

Prints a Markdown table with the 1-minute load before and after each row.

    python benchmarks/vector_collection.py --steps 2000 -- velocity.d_model=32 env.max_episode_steps=200
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import get_class

from sacflow.buffers.replay_buffer import ReplayBuffer
from sacflow.envs.collector import VectorCollector
from sacflow.envs.manipulation import make_vector_env
from sacflow.envs.mujoco import MujocoEnvSpec
from sacflow.evaluation import evaluate

ROOT = Path(__file__).resolve().parent.parent


def build(overrides: list[str]):
    with initialize_config_dir(config_dir=str(ROOT / "cfg"), version_base="1.3"):
        cfg = compose("config", overrides=["device=cpu", *overrides])
    spec = MujocoEnvSpec(cfg.env.id, cfg.env.max_episode_steps)
    env = spec()
    low, high = env.action_space.low, env.action_space.high
    agent = get_class(cfg.agent.cls).build(cfg, env.observation_space.shape[0], low.shape[0], low, high)
    return cfg, spec, agent


def collection_rate(spec, agent, num_envs: int, steps: int) -> float:
    """Env transitions per second of acting + stepping + storing."""
    collector = VectorCollector(spec, num_envs, seed=0)
    collector.start()
    obs_dim = collector.single_observation_space.shape[0]
    buffer = ReplayBuffer(steps + num_envs, obs_dim, collector.single_action_space.shape[0])
    start, done = time.perf_counter(), 0
    while done < steps:
        actions = agent.act(torch.as_tensor(collector.obs, dtype=torch.float32)).numpy()
        batch, _ = collector.step(actions)
        for i in range(num_envs):
            buffer.add(batch.obs[i], batch.action[i], batch.reward[i], batch.next_obs[i], float(batch.terminated[i]))
        done += num_envs
    rate = done / (time.perf_counter() - start)
    collector.close()
    return rate


def eval_seconds(spec, agent, episodes: int, workers: int, asynchronous: bool) -> tuple[float, float]:
    """Wall seconds of one evaluation (process start-up excluded: it is paid once per run) and its mean length."""
    vector = make_vector_env(spec, workers, asynchronous)
    vector.reset(seed=0)
    start = time.perf_counter()
    metrics = evaluate(agent, vector, episodes, 0, 0, ["det"], torch.device("cpu"))
    seconds = time.perf_counter() - start
    vector.close()
    return seconds, metrics["eval/length_det"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="transitions timed per collection row")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4, 10])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (after --)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg, spec, agent = build(args.overrides)
    print(f"env {cfg.env.id} (max {cfg.env.max_episode_steps} steps), agent {cfg.agent.tag}, overrides {args.overrides}")
    print("\n| what | setting | result | 1-min load before / after |\n|---|---|---|---|")
    for n in args.num_envs:
        load = os.getloadavg()[0]
        rate = collection_rate(spec, agent, n, args.steps)
        print(f"| collection | num_envs={n} | {rate:.0f} transitions/s | {load:.1f} / {os.getloadavg()[0]:.1f} |")
    for workers in args.workers:
        for asynchronous in (False, True) if workers > 1 else (False,):
            load = os.getloadavg()[0]
            seconds, length = eval_seconds(spec, agent, args.episodes, workers, asynchronous)
            mode = "async" if asynchronous else "sync"
            print(f"| eval, {args.episodes} episodes (mean length {length:.0f}) | workers={workers} {mode} "
                  f"| {seconds:.2f} s | {load:.1f} / {os.getloadavg()[0]:.1f} |")


if __name__ == "__main__":
    main()

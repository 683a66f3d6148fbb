"""Periodic evaluation episodes on a separate environment.

Evaluation must not disturb training: it runs under a forked torch RNG and seeds its
episodes from (seed, step), so it is reproducible and a resumed run evaluates exactly
as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch


def run_episodes(env, act_fn, episodes: int, seed: int, device: torch.device) -> dict[str, float]:
    """Mean/std return and mean length of ``episodes`` full episodes."""
    returns, lengths = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, total, length = False, 0.0, 0
        while not done:
            action = act_fn(torch.as_tensor(obs, dtype=torch.float32, device=device).unsqueeze(0))
            obs, reward, terminated, truncated, _ = env.step(action.squeeze(0).cpu().numpy())
            total, length, done = total + float(reward), length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
    return {"return": float(np.mean(returns)), "return_std": float(np.std(returns)), "length": float(np.mean(lengths))}


def evaluate(agent, env, episodes: int, seed: int, step: int, modes: list[str], device: torch.device) -> dict:
    """``modes`` among 'det' (deterministic rollout) and 'stoch' (the sampling policy)."""
    metrics = {}
    devices = [device] if device.type == "cuda" else []
    for mode in modes:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed * 1_000_003 + step)
            stats = run_episodes(env, lambda o: agent.act(o, deterministic=mode == "det"), episodes, seed + 10_000, device)
        metrics.update({f"eval/{key}_{mode}": value for key, value in stats.items()})
    return metrics


def evaluate_chunked(vector_env, act_fn, episodes: int, horizon: int, act_dim: int, seed: int) -> dict[str, float]:
    """Success rate, return and length of ``episodes`` episodes run side by side in ``vector_env``.

    Every round resets all sub-envs with their own seeds (seed + episode index), so the chunk
    queues of all sub-envs refill together every ``horizon`` steps: one batched policy call
    per chunk. Each chunk is executed open loop and clipped to [-1, 1], as the official
    evaluation does; an episode's success is ``info['success']`` at its last step. Sub-envs
    that finished keep stepping until the round ends, but nothing they do is counted.
    """
    n = vector_env.num_envs
    successes, returns, lengths = [], [], []
    for first in range(0, episodes, n):
        count = min(n, episodes - first)
        obs, _ = vector_env.reset(seed=[seed + first + i for i in range(n)])
        done = np.zeros(n, dtype=bool)
        ep_return, ep_length, success = np.zeros(n), np.zeros(n, dtype=int), np.zeros(n)
        t = 0
        while not done[:count].all():
            if t % horizon == 0:
                chunks = np.clip(act_fn(obs), -1.0, 1.0).reshape(n, horizon, act_dim)
            obs, reward, terminated, truncated, info = vector_env.step(chunks[:, t % horizon])
            active = ~done
            ep_return[active] += reward[active]
            ep_length[active] += 1
            ended = active & (terminated | truncated)
            success[ended] = np.asarray(info["success"], dtype=float)[ended]
            done |= ended
            t += 1
        successes += list(success[:count])
        returns += list(ep_return[:count])
        lengths += list(ep_length[:count])
    return {"eval/success": float(np.mean(successes)), "eval/return": float(np.mean(returns)),
            "eval/length": float(np.mean(lengths))}

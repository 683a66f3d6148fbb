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

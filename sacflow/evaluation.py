"""Periodic evaluation episodes, run side by side in a gymnasium vector env.

Evaluation must not disturb training: it runs under a forked torch RNG and seeds its
episodes from (seed, step), so it is reproducible and a resumed run evaluates exactly
as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch


def vector_episodes(vector_env, act_fn, episodes: int, seed: int, horizon: int = 1,
                    clip: float | None = None) -> dict[str, np.ndarray]:
    """Per-episode ``return``, ``length`` and (where the env reports one) ``success``.

    Episodes run in rounds of ``vector_env.num_envs``; episode ``i`` is reset with seed
    ``seed + i``, whatever the number of sub-envs. ``act_fn`` maps the batch of observations
    to ``horizon`` actions per sub-env (``horizon`` > 1: action chunks executed open loop,
    one batched policy call per chunk), optionally clipped to [-clip, clip]. Sub-envs whose
    episode ended keep stepping until the round ends (the vector env resets them), but
    nothing they do is counted.
    """
    n = vector_env.num_envs
    returns, lengths, successes = [], [], []
    for first in range(0, episodes, n):
        count = min(n, episodes - first)
        obs, _ = vector_env.reset(seed=[seed + first + i for i in range(n)])
        done = np.zeros(n, dtype=bool)
        ep_return, ep_length, success = np.zeros(n), np.zeros(n, dtype=int), np.full(n, np.nan)
        t = 0
        while not done[:count].all():
            if t % horizon == 0:
                actions = np.asarray(act_fn(obs))
                chunks = (actions if clip is None else np.clip(actions, -clip, clip)).reshape(n, horizon, -1)
            obs, reward, terminated, truncated, info = vector_env.step(chunks[:, t % horizon])
            active = ~done
            ep_return[active] += reward[active]
            ep_length[active] += 1
            ended = active & (terminated | truncated)
            if "success" in info:
                success[ended] = np.asarray(info["success"], dtype=float)[ended]
            done |= ended
            t += 1
        returns += list(ep_return[:count])
        lengths += list(ep_length[:count])
        successes += list(success[:count])
    stats = {"return": np.array(returns), "length": np.array(lengths)}
    if not np.isnan(successes).any():
        stats["success"] = np.array(successes)
    return stats


def evaluate(agent, vector_env, episodes: int, seed: int, step: int, modes: list[str], device: torch.device) -> dict:
    """From-scratch evaluation; ``modes`` among 'det' (deterministic rollout) and 'stoch' (the sampling policy).

    One batched ``agent.act`` per step for all sub-envs. With one sub-env this is the
    sequential protocol exactly; with more, each row still acts independently (running
    BatchRenorm statistics in eval mode), but the stochastic mode draws its noise for all
    rows at once, and float matmul kernels round differently for different batch shapes,
    so per-episode results differ from the sequential ones in the last bits (docs/deviations.md).
    """
    metrics = {}
    devices = [device] if device.type == "cuda" else []
    for mode in modes:
        def act_fn(obs, deterministic=mode == "det"):
            obs_t = torch.as_tensor(obs, dtype=torch.float32, device=device)
            return agent.act(obs_t, deterministic=deterministic, explore=False).cpu().numpy()

        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed * 1_000_003 + step)
            stats = vector_episodes(vector_env, act_fn, episodes, seed + 10_000)
        metrics.update({f"eval/return_{mode}": float(np.mean(stats["return"])),
                        f"eval/return_std_{mode}": float(np.std(stats["return"])),
                        f"eval/length_{mode}": float(np.mean(stats["length"]))})
    return metrics


def evaluate_chunked(vector_env, act_fn, episodes: int, horizon: int, act_dim: int, seed: int) -> dict[str, float]:
    """Offline-to-online evaluation: success rate, return and length, with action chunks.

    Every round resets all sub-envs together, so their chunk queues refill together every
    ``horizon`` steps: one batched policy call per chunk. Each chunk is executed open loop
    and clipped to [-1, 1], as the official evaluation does; an episode's success is
    ``info['success']`` at its last step.
    """
    stats = vector_episodes(vector_env, lambda obs: np.reshape(act_fn(obs), (len(obs), horizon, act_dim)),
                            episodes, seed, horizon=horizon, clip=1.0)
    return {"eval/success": float(np.mean(stats["success"])), "eval/return": float(np.mean(stats["return"])),
            "eval/length": float(np.mean(stats["length"]))}

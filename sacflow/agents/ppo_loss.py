"""GAE and the PPO losses, shared by Gaussian PPO and ReinFlow (one place for both).

Rollout tensors are [T, N] (T steps of N parallel envs). Per step t:

    next_values[t]  V(s'_t), the true next state (on a truncated step: the state the time limit
                    cut, through which we bootstrap; CleanRL instead cuts the return there)
    terminated[t]   1 on a true terminal state: no bootstrap
    ended[t]        1 when the episode ended (terminated or truncated): the advantage
                    recursion stops

    delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)
    A_t     = delta_t + gamma lambda (1 - ended_t) A_{t+1},    A_T = 0,    returns = A + V.
"""

from __future__ import annotations

import torch


def gae(rewards, values, next_values, terminated, ended, gamma: float, lam: float):
    """(advantages, returns), both [T, N]."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * (1.0 - terminated[t]) * next_values[t] - values[t]
        running = delta + gamma * lam * (1.0 - ended[t]) * running
        advantages[t] = running
    return advantages, advantages + values


def policy_loss(log_prob, old_log_prob, advantages, clip: float,
                logprob_clip: tuple[float, float] | None = None) -> tuple[torch.Tensor, dict]:
    """Clipped surrogate: mean max(-A r, -A clip(r, 1 - eps, 1 + eps)), r = exp(log pi - log pi_old).

    With ``logprob_clip`` = (low, high) both log-probs are clamped to [low, high] first (ReinFlow's
    logprob_min/max on its normalised chain log-probs); a clamped new log-prob passes no gradient.
    ``approx_kl`` is the low-variance estimator mean((r - 1) - log r) (CleanRL's), the quantity
    the target-KL early stop compares; it uses the same (clamped) ratio, as ReinFlow."""
    if logprob_clip is not None:
        log_prob, old_log_prob = log_prob.clamp(*logprob_clip), old_log_prob.clamp(*logprob_clip)
    log_ratio = log_prob - old_log_prob
    ratio = log_ratio.exp()
    loss = torch.max(-advantages * ratio, -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
    return loss, {"losses/policy": loss.detach(), "losses/approx_kl": approx_kl,
                  "losses/clip_fraction": clip_fraction}


def value_loss(values, old_values, returns, clip: float | None) -> tuple[torch.Tensor, dict]:
    """0.5 mean (V - R)^2; with ``clip`` (CleanRL's clip_vloss) the max of that and the error of
    V clipped to old_V +- clip."""
    error = (values - returns) ** 2
    if clip is not None:
        clipped = old_values + (values - old_values).clamp(-clip, clip)
        error = torch.max(error, (clipped - returns) ** 2)
    loss = 0.5 * error.mean()
    return loss, {"losses/value": loss.detach()}


def normalize_advantages(advantages: torch.Tensor) -> torch.Tensor:
    """Per-minibatch standardisation (CleanRL's norm_adv; torch's unbiased std, eps 1e-8)."""
    return (advantages - advantages.mean()) / (advantages.std() + 1e-8)

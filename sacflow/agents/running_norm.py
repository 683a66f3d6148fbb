"""Running mean/variance normalisers, as gymnasium's NormalizeObservation / NormalizeReward (CleanRL's PPO).

Kept as module buffers (float64, like gymnasium's numpy statistics) so they travel with the
agent's checkpoint and a resumed run normalises exactly as an uninterrupted one.
"""

from __future__ import annotations

import torch
from torch import nn


class RunningMeanStd(nn.Module):
    """Parallel (Chan et al.) update of mean and population variance; count starts at 1e-4."""

    def __init__(self, shape: tuple[int, ...] = ()):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """``x``: [B, *shape], one row per sample."""
        x = x.to(torch.float64)
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.mean += delta * n / total
        self.var.copy_(m2 / total)
        self.count.copy_(total)


class ObservationNormalizer(nn.Module):
    """(obs - mean) / sqrt(var + 1e-8), clipped to +-clip; the identity when disabled."""

    def __init__(self, obs_dim: int, enabled: bool, clip: float = 10.0):
        super().__init__()
        self.enabled, self.clip = enabled, clip
        self.stats = RunningMeanStd((obs_dim,))

    def forward(self, obs: torch.Tensor, update: bool = False) -> torch.Tensor:
        if not self.enabled:
            return obs
        if update:
            self.stats.update(obs)
        normed = (obs.to(torch.float64) - self.stats.mean) / torch.sqrt(self.stats.var + 1e-8)
        return normed.clamp(-self.clip, self.clip).to(obs.dtype)


class RewardScaler(nn.Module):
    """r / sqrt(Var[discounted return] + 1e-8), clipped to +-clip, per env (NormalizeReward).

    The discounted-return accumulator of each env restarts when its episode ends."""

    def __init__(self, num_envs: int, gamma: float, enabled: bool, clip: float = 10.0):
        super().__init__()
        self.enabled, self.gamma, self.clip = enabled, gamma, clip
        self.stats = RunningMeanStd()
        self.register_buffer("returns", torch.zeros(num_envs, dtype=torch.float64))

    @torch.no_grad()
    def forward(self, rewards: torch.Tensor, ended: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return rewards
        self.returns.mul_(self.gamma).add_(rewards.to(torch.float64))
        self.stats.update(self.returns)
        self.returns.mul_(1.0 - ended.to(torch.float64))
        scaled = rewards.to(torch.float64) / torch.sqrt(self.stats.var + 1e-8)
        return scaled.clamp(-self.clip, self.clip).to(rewards.dtype)

"""The chunk-level critic shared by the offline-to-online agents (QC / QC-FQL / SAC Flow).

Q(s_t, a_{t:t+h}) is trained on the unbiased h-step backup of the chunk that produced the
rewards (batches from ``sacflow.datasets.chunking.sample_chunks``):

    y   = R_{h-1} + gamma^h * mask_{h-1} * ( mean_i Qbar_i(s_{t+h}, a') - alpha * log p(a') )
    L_Q = mean_{i, b} valid_{h-1} * (Q_i(s_t, a_chunk) - y)^2

with a' the agent's next chunk (no gradient), Qbar the Polyak-averaged target critic and the
ensemble aggregated by its mean (``q_agg='mean'`` in FQL/QC). FQL-style agents pass no
entropy term. h = 1 gives FQL's one-step backup.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class ChunkedCritic(nn.Module):
    def __init__(self, critic: nn.Module, gamma: float, horizon: int, tau: float):
        super().__init__()
        if horizon < 1:
            raise ValueError(f"chunk horizon must be >= 1, got {horizon}")
        self.online = critic
        self.target = copy.deepcopy(critic).requires_grad_(False)
        self.gamma, self.horizon, self.tau = gamma, horizon, tau

    def forward(self, obs: torch.Tensor, chunk: torch.Tensor) -> torch.Tensor:
        """[n_critics, B] online values."""
        return self.online(obs, chunk)

    def frozen_value(self, obs: torch.Tensor, chunk: torch.Tensor) -> torch.Tensor:
        """mean_i Q_i(s, a) with the critic's weights frozen: the actor's gradient reaches only a."""
        self.online.requires_grad_(False)
        value = self.online(obs, chunk).mean(0)
        self.online.requires_grad_(True)
        return value

    @torch.no_grad()
    def target_value(self, batch: dict, next_chunk: torch.Tensor, next_log_prob: torch.Tensor | None,
                     alpha: torch.Tensor | float = 0.0) -> torch.Tensor:
        next_obs = batch["next_observations"][:, -1]
        next_v = self.target(next_obs, next_chunk).mean(0)
        if next_log_prob is not None:
            next_v = next_v - alpha * next_log_prob
        return batch["rewards"][:, -1] + self.gamma**self.horizon * batch["masks"][:, -1] * next_v

    def loss(self, batch: dict, target: torch.Tensor) -> tuple[torch.Tensor, dict]:
        q = self.online(batch["observations"], batch["actions"])
        loss = (((q - target) ** 2) * batch["valid"][:, -1]).mean()
        return loss, {"losses/critic": loss.detach(), "losses/q_mean": q.mean().detach(),
                      "losses/target_mean": target.mean()}

    @torch.no_grad()
    def polyak_update(self) -> None:
        """target <- tau * online + (1 - tau) * target, one fused call."""
        torch._foreach_lerp_(list(self.target.parameters()), list(self.online.parameters()), self.tau)

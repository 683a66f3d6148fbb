"""Tanh-Gaussian actor for the Gaussian SAC baseline (CleanRL defaults: 2x256 ReLU, log-std in (-5, 2))."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sacflow.networks.layers import bounded_log_std, lecun_init_, mlp
from sacflow.policies.flow import HALF_LOG_2PI, PolicyOutput
from sacflow.policies.squash import TanhSquash


class GaussianPolicy(nn.Module):
    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        action_low,
        action_high,
        hidden: Sequence[int] = (256, 256),
        act: str = "relu",
        log_std_bounds: Sequence[float] = (-5.0, 2.0),
        logp_sigma_term: bool = True,
    ):
        super().__init__()
        self.trunk = mlp(obs_dim, hidden, None, act)
        self.mean_head = lecun_init_(nn.Linear(hidden[-1], act_dim))
        self.log_std_head = lecun_init_(nn.Linear(hidden[-1], act_dim))
        self.log_std_bounds = tuple(log_std_bounds)
        self.logp_sigma_term = logp_sigma_term
        self.squash = TanhSquash(action_low, action_high)

    def forward(self, obs: torch.Tensor, deterministic: bool = False, keep_path: bool = False, noise_std=None,
                noise: torch.Tensor | None = None):
        """``noise`` ([1, B, D] from ``draw_noise``) replaces the draw from torch's global generator."""
        h = self.trunk(obs)
        mean = self.mean_head(h)
        if deterministic:
            return PolicyOutput(self.squash(mean)[0], None)
        log_std = bounded_log_std(self.log_std_head(h), *self.log_std_bounds)
        eps = torch.randn_like(mean) if noise is None else noise[0]
        x = mean + torch.exp(log_std) * eps
        action, log_det = self.squash(x)
        log_prob = -(0.5 * eps * eps + HALF_LOG_2PI).sum(-1) - log_det
        if self.logp_sigma_term:  # the official JAX baseline omits it (docs/deviations.md)
            log_prob = log_prob - log_std.sum(-1)
        return PolicyOutput(action, log_prob)

    def draw_noise(self, batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return torch.randn((1, batch, self.mean_head.out_features), generator=generator, device=device)

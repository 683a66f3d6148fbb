"""DIME's policy: a denoising diffusion sampler with a tractable bound on its log-density.

Following DIME (Celik et al. 2025; the DIS sampler of its code), actions come from N Euler-Maruyama
steps of a learned denoising SDE started at the prior N(0, I), with per-dimension step size eta:

    x_0 ~ N(0, I),   F_n:  x_{n+1} ~ N(x_n + eta (-x_n + f(s, x_n, n/N)), 2 eta),   a = tanh(x_N) * scale + bias,

where -x is the prior's score. The fixed noising process runs the other way,
B_n: x_n ~ N(x_{n+1} - eta x_{n+1}, 2 eta). For any such pair,

    log pi(a|s) <= E[ c ],   c = log N(x_0; 0, I) + sum_n (log F_n(x_{n+1}|x_n) - log B_n(x_n|x_{n+1})) - log|da/dx_N|,

so -c is DIME's lower bound on the entropy. The policy returns c as ``log_prob``: SAC's losses
(critic target, actor loss, temperature) then become DIME's. The path is reparameterised, so
the actor loss differentiates through all N steps, the step size included.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sacflow.policies.flow import HALF_LOG_2PI, PolicyOutput
from sacflow.policies.squash import TanhSquash


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, diag(var)), summed over the last dimension."""
    return (-0.5 * (x - mean) ** 2 / var - 0.5 * torch.log(var) - HALF_LOG_2PI).sum(-1)


class DiffusionSamplerPolicy(nn.Module):
    def __init__(self, score, obs_dim: int, act_dim: int, action_low, action_high, steps: int = 16,
                 step_size: float = 0.1, learn_step_size: bool = True):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if step_size <= 0:
            raise ValueError(f"step_size must be positive, got {step_size}")
        self.steps, self.act_dim = steps, act_dim
        # ``score`` is a factory (a Hydra partial of a velocity network, reused as f(s, x_n, t_n)).
        self.score = score(obs_dim=obs_dim, act_dim=act_dim, steps=steps)
        inverse_softplus = math.log(math.expm1(step_size))
        self.raw_step_size = nn.Parameter(torch.full((act_dim,), inverse_softplus), requires_grad=learn_step_size)
        self.squash = TanhSquash(action_low, action_high)

    def step_size(self) -> torch.Tensor:
        return F.softplus(self.raw_step_size)

    def rollout(self, obs: torch.Tensor, x0: torch.Tensor, noises: list[torch.Tensor] | None):
        """x_N and sum_n (log F_n - log B_n) along the path driven by ``noises`` (None: the noiseless mean path)."""
        ctx, eta = self.score.context(obs), self.step_size()
        var = 2.0 * eta
        x, log_ratio = x0, x0.new_zeros(x0.shape[0])
        for n in range(self.steps):
            t = obs.new_full((1, 1), n / self.steps)
            forward_mean = x + eta * (-x + self.score(ctx, x, t, n)[0])
            if noises is None:
                x = forward_mean
                continue
            x_next = forward_mean + torch.sqrt(var) * noises[n]
            backward_mean = x_next - eta * x_next
            log_ratio = log_ratio + gaussian_log_prob(x_next, forward_mean, var) - gaussian_log_prob(x, backward_mean, var)
            x = x_next
        return x, log_ratio

    def forward(self, obs: torch.Tensor, deterministic: bool = False, keep_path: bool = False, noise_std=None):
        """``deterministic`` follows the noiseless mean path from x_0 = 0 (no density)."""
        batch = obs.shape[0]
        if deterministic:
            x, _ = self.rollout(obs, obs.new_zeros(batch, self.act_dim), None)
            return PolicyOutput(self.squash(x)[0], None)
        x0 = torch.randn(batch, self.act_dim, device=obs.device, dtype=obs.dtype)
        noises = [torch.randn_like(x0) for _ in range(self.steps)]
        x, log_ratio = self.rollout(obs, x0, noises)
        action, log_det = self.squash(x)
        prior = -(0.5 * x0 * x0 + HALF_LOG_2PI).sum(-1)
        return PolicyOutput(action, prior + log_ratio - log_det)

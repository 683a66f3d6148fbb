"""QSM's policy: a DDPM over actions in [-1, 1] with a variance-preserving beta schedule.

A noise-prediction network eps(s, x_t, t) is sampled by the DDPM reverse chain (Ho et al. 2020),
from t = T-1 down to 0,

    x_{t-1} = (x_t - (1 - alpha_t) / sqrt(1 - alphabar_t) eps(s, x_t, t)) / sqrt(alpha_t) + [t > 0] sqrt(beta_t) z,

each step clipped to [-1, 1], and the result mapped affinely onto the action box (jaxrl5
``ddpm_sampler``). The official code at HEAD samples with the online network it trains
(``ema_tau: 1``); its initial commit sampled with an exponential moving average of it
(``ema_tau`` < 1, ``actor_tau`` 0.001 there). Like FlowRL's flow, the policy has no density:
``log_prob`` is a zero placeholder for SAC's (zero-temperature) critic target.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from sacflow.policies.flow import PolicyOutput


def vp_beta_schedule(steps: int, beta_min: float = 0.1, beta_max: float = 10.0) -> torch.Tensor:
    """beta_t = 1 - exp(-beta_min / T - (beta_max - beta_min) (2t - 1) / (2 T^2)), t = 1..T (the VP SDE, discretised)."""
    t = torch.arange(1, steps + 1, dtype=torch.float64)
    return 1.0 - torch.exp(-beta_min / steps - 0.5 * (beta_max - beta_min) * (2 * t - 1) / steps**2)


class DDPMPolicy(nn.Module):
    def __init__(self, denoiser, obs_dim: int, act_dim: int, action_low, action_high, steps: int = 5,
                 ema_tau: float = 1.0, clip_sampler: bool = True):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not 0.0 < ema_tau <= 1.0:
            raise ValueError(f"ema_tau must be in (0, 1], got {ema_tau}")
        self.steps, self.act_dim, self.ema_tau, self.clip_sampler = steps, act_dim, ema_tau, clip_sampler
        # ``denoiser`` is a factory (a Hydra partial of a velocity network, reused as eps(s, x_t, t)).
        self.denoiser = denoiser(obs_dim=obs_dim, act_dim=act_dim, steps=steps)
        # An EMA with rate 1 would copy the online network after every update: sample with it directly.
        self.ema_denoiser = None if ema_tau == 1.0 else copy.deepcopy(self.denoiser).requires_grad_(False)
        betas = vp_beta_schedule(steps)
        self.register_buffer("betas", betas.float())
        self.register_buffer("alphas", (1.0 - betas).float())
        self.register_buffer("alpha_bars", torch.cumprod(1.0 - betas, 0).float())
        low, high = np.asarray(action_low, dtype=np.float32), np.asarray(action_high, dtype=np.float32)
        self.register_buffer("scale", torch.as_tensor((high - low) / 2.0))
        self.register_buffer("bias", torch.as_tensor((high + low) / 2.0))

    def to_action(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias

    def to_unit(self, action: torch.Tensor) -> torch.Tensor:
        return ((action - self.bias) / self.scale).clamp(-1.0, 1.0)

    def predict_noise(self, network: nn.Module, obs: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """eps(s, x_t, t) for integer steps ``t`` ([B] or scalar); the network sees t / T as a feature."""
        time = (t.to(x_t.dtype) / self.steps).reshape(-1, 1)
        return network(network.context(obs), x_t, time, 0)[0]

    @property
    def sampler(self) -> nn.Module:
        """The network the reverse chain runs: the EMA copy, or the online network without EMA."""
        return self.denoiser if self.ema_denoiser is None else self.ema_denoiser

    def forward(self, obs: torch.Tensor, deterministic: bool = False, keep_path: bool = False, noise_std=None):
        """The reverse chain with ``sampler``; ``deterministic`` starts at x_T = 0 and adds no noise."""
        batch = obs.shape[0]
        x = obs.new_zeros(batch, self.act_dim) if deterministic else torch.randn(batch, self.act_dim, device=obs.device, dtype=obs.dtype)
        for t in range(self.steps - 1, -1, -1):
            eps = self.predict_noise(self.sampler, obs, x, obs.new_tensor(float(t)))
            x = (x - (1.0 - self.alphas[t]) / torch.sqrt(1.0 - self.alpha_bars[t]) * eps) / torch.sqrt(self.alphas[t])
            if t > 0 and not deterministic:
                x = x + torch.sqrt(self.betas[t]) * torch.randn_like(x)
            if self.clip_sampler:
                x = x.clamp(-1.0, 1.0)
        return PolicyOutput(self.to_action(x.clamp(-1.0, 1.0)), obs.new_zeros(batch))

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.ema_denoiser is not None:
            torch._foreach_lerp_(list(self.ema_denoiser.parameters()), list(self.denoiser.parameters()), self.ema_tau)

    def noised(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The forward process q(x_t | x_0): sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) noise."""
        alpha_bar = self.alpha_bars[t].unsqueeze(-1)
        return torch.sqrt(alpha_bar) * x0 + torch.sqrt(1.0 - alpha_bar) * noise


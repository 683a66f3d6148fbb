"""The K-step flow policy and its noise-augmented rollout (paper Sec. 4 and App. A).

Deterministic rollout (paper Equ. 4), t_k = k/K, dt = 1/K:
    x_0 ~ N(0, I),  x_{k+1} = x_k + dt * u(s, x_k, t_k),  a = tanh(x_K) * scale + bias.

Noise-augmented rollout: every step becomes a Gaussian transition
    x_{k+1} ~ N(m_k, s_k^2),  m_k = x_k + dt * u_k,
so the joint path (x_0, ..., x_K) has the tractable density
    log p = log N(x_0; 0, I) + sum_k log N(x_{k+1}; m_k, s_k^2) - log|da/dx_K|,
which SAC uses as its entropy term. Gradients flow through all K steps
(reparameterised: x_{k+1} = m_k + s_k * eps_k).

Switches, each a documented paper/official-code difference (docs/deviations.md):
* ``noise_on='state'`` (paper): s_k = sigma_k.  ``'velocity'`` (official Flow-T): the
  noise is added to the velocity, x_{k+1} = x_k + dt (u_k + sigma_k eps_k), so s_k = dt sigma_k.
* ``logp_sigma_term=False`` (official Flow-T) drops the -sum log s_k terms, leaving only
  the standard-normal density of eps_k (a constant in theta).
* ``drift_correction=True`` replaces u_k by the marginal-preserving drift of App. A,
  (1 + g^2 t / (2(1-t))) u - g^2 x / (2(1-t)) with g^2 = s_k^2 / dt (the diffusion that
  gives per-step std s_k); neither the official code nor our default uses it.
* a fixed ``noise_std`` (offline-to-online) replaces a learned log-std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from sacflow.policies.squash import TanhSquash

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class PolicyOutput:
    action: torch.Tensor
    log_prob: torch.Tensor | None  # None for the deterministic rollout, which has no density
    path: list[torch.Tensor] | None = None  # x_0..x_K when requested (gradient diagnostics)


class FlowPolicy(nn.Module):
    def __init__(
        self,
        velocity,
        obs_dim: int,
        act_dim: int,
        action_low,
        action_high,
        steps: int = 4,
        noise_on: str = "state",
        logp_sigma_term: bool = True,
        drift_correction: bool = False,
        noise_std: float | None = None,
    ):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps (K) must be >= 1, got {steps}")
        if noise_on not in ("state", "velocity"):
            raise ValueError(f"noise_on must be state or velocity, got {noise_on!r}")
        self.steps, self.act_dim = steps, act_dim
        self.noise_on, self.logp_sigma_term = noise_on, logp_sigma_term
        self.drift_correction = drift_correction
        # ``velocity`` is a factory (a Hydra partial) so the policy supplies the dimensions.
        self.velocity = velocity(obs_dim=obs_dim, act_dim=act_dim, steps=steps)
        if noise_std is None and not self.velocity.learns_noise:
            raise ValueError("the velocity network learns no noise: set a fixed noise_std")
        self.noise_std = noise_std
        self.squash = TanhSquash(action_low, action_high)

    def _step_log_std(self, log_sigma, x: torch.Tensor, dt: float, noise_std: float | None) -> torch.Tensor:
        """log of the per-step transition std s_k."""
        if noise_std is not None:
            log_sigma = torch.full_like(x[:1], math.log(noise_std))
        return log_sigma + math.log(dt) if self.noise_on == "velocity" else log_sigma

    def forward(
        self,
        obs: torch.Tensor,
        deterministic: bool = False,
        keep_path: bool = False,
        noise_std: float | None = None,
        noise: torch.Tensor | None = None,
    ) -> PolicyOutput:
        """Sample an action and its joint path log-density.

        ``deterministic`` starts from x_0 = 0 (the base mode) and adds no step noise, so
        the action is a deterministic function of the state. ``noise_std`` overrides a
        fixed std for one call (offline-to-online uses 0.05 in the actor loss, 0.02 to act).
        ``noise`` ([K + 1, B, D] from ``draw_noise``: x_0, then eps_0..eps_{K-1}) replaces the
        draws from torch's global generator (vectorised seeds draw each seed's from its own).
        """
        noise_std = self.noise_std if noise_std is None else noise_std
        batch, dt = obs.shape[0], 1.0 / self.steps
        if deterministic:
            x = obs.new_zeros(batch, self.act_dim)
        elif noise is not None:
            x = noise[0]
        else:
            x = torch.randn(batch, self.act_dim, device=obs.device, dtype=obs.dtype)
        if keep_path:
            x.requires_grad_(True)  # so the diagnostic can ask for d loss / d x_0
        path = [x] if keep_path else None
        log_prob = -(0.5 * x * x + HALF_LOG_2PI).sum(-1)
        ctx = self.velocity.context(obs)
        for k in range(self.steps):
            t = obs.new_full((1, 1), k * dt)
            u, log_sigma = self.velocity(ctx, x, t, k)
            log_std = self._step_log_std(log_sigma, x, dt, noise_std)
            if self.drift_correction:
                u = self._corrected_drift(u, x, k * dt, log_std, dt)
            mean = x + dt * u
            if deterministic:
                x = mean
            else:
                eps = torch.randn_like(mean) if noise is None else noise[k + 1]
                x = mean + torch.exp(log_std) * eps
                step_log_prob = -(0.5 * eps * eps + HALF_LOG_2PI)
                if self.logp_sigma_term:
                    step_log_prob = step_log_prob - log_std
                log_prob = log_prob + step_log_prob.sum(-1)
            if keep_path:
                path.append(x)
        action, log_det = self.squash(x)
        return PolicyOutput(action, None if deterministic else log_prob - log_det, path)

    def draw_noise(self, batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        """Every standard-normal draw of one sampled rollout: x_0 and the K step noises."""
        return torch.randn((self.steps + 1, batch, self.act_dim), generator=generator, device=device)

    @staticmethod
    def _corrected_drift(u, x, t, log_std, dt):
        g2 = torch.exp(2 * log_std) / dt
        return (1 + g2 * t / (2 * (1 - t))) * u - g2 * x / (2 * (1 - t))

"""ReinFlow's noise-injected flow policy and the exact log-likelihood of its K-step chain.

A pretrained velocity v(s, x, t) is integrated with K Euler steps (t_k = k/K); ReinFlow makes
every step a Gaussian transition whose std comes from a learned noise network over (step, state):

    x_0 ~ N(0, I),   m_k = clip(x_k + v(s, x_k, t_k) / K, -1, 1),   x_{k+1} = m_k + sigma_k(s) eps_k,

with eps_k ~ N(0, I) truncated to +-``noise_clip`` (ReinFlow clips samples to +-3 sigma) and
sigma_k in [sigma_min, sigma_max]. The chain is Markov, so

    log pi(x_0..x_K | s) = [log N(x_0; 0, I)] + sum_k log N(x_{k+1}; m_k, sigma_k^2),

the bracketed term with ``initial_log_prob`` (ReinFlow's account_for_initial_stochasticity; it
does not depend on the parameters, but it adds a Gaussian term to the normaliser below). The
entropy is the sum of the same terms' Gaussian entropies (ReinFlow's joint entropy). PPO stores
the whole chain as the "action" and re-evaluates this density under the current parameters; the
env receives clip(x_K, -1, 1). With ``normalize_log_prob`` the density and the entropy are
divided by the number of Gaussian terms (K, or K + 1 with the initial term) times the action
dimension (ReinFlow's normalisation): the PPO ratio then measures the mean per-entry change,
which keeps it near 1 for long action chunks; with the initial term a parameter change moves
the log-ratio K / (K + 1) as much as without it. The truncation of eps is not renormalised in
the density (as ReinFlow).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sacflow.networks.layers import mlp, sinusoidal_embedding
from sacflow.policies.flow import HALF_LOG_2PI


class NoiseNet(nn.Module):
    """sigma_k(s) = exp(log_var / 2), log_var = tanh-mapped into [log sigma_min^2, log sigma_max^2]."""

    def __init__(self, obs_dim: int, act_dim: int, hidden=(256, 256), act: str = "relu", time_dim: int = 16,
                 sigma_min: float = 0.08, sigma_max: float = 0.14):
        super().__init__()
        if not 0.0 < sigma_min <= sigma_max:
            raise ValueError(f"need 0 < sigma_min <= sigma_max, got {sigma_min}, {sigma_max}")
        self.act_dim, self.time_dim = act_dim, time_dim
        self.log_var_bounds = (2.0 * math.log(sigma_min), 2.0 * math.log(sigma_max))
        self.net = mlp(obs_dim + time_dim, hidden, act_dim, act)

    def forward(self, obs: torch.Tensor, k: int) -> torch.Tensor:
        # The step index (not k/K) is embedded: the embedding's lowest frequency is 1.
        step = obs.new_full((obs.shape[0], 1), float(k))
        raw = self.net(torch.cat([sinusoidal_embedding(step, self.time_dim), obs], dim=-1))
        low, high = self.log_var_bounds
        return torch.exp(0.5 * (low + 0.5 * (high - low) * (torch.tanh(raw) + 1.0)))


class NoisyFlowPolicy(nn.Module):
    def __init__(self, velocity: nn.Module, noise: NoiseNet, steps: int, clip_mean: bool = True,
                 noise_clip: float = 3.0, initial_log_prob: bool = False, normalize_log_prob: bool = True):
        super().__init__()
        if steps < 1:
            raise ValueError(f"flow steps must be >= 1, got {steps}")
        self.velocity, self.noise, self.steps = velocity, noise, steps
        self.clip_mean, self.noise_clip = clip_mean, noise_clip
        self.initial_log_prob, self.normalize_log_prob = initial_log_prob, normalize_log_prob

    def step_mean(self, velocity: nn.Module, ctx: dict, x: torch.Tensor, k: int) -> torch.Tensor:
        t = x.new_full((1, 1), k / self.steps)
        mean = x + velocity(ctx, x, t, k)[0] / self.steps
        return mean.clamp(-1.0, 1.0) if self.clip_mean else mean

    def ode(self, obs: torch.Tensor, x0: torch.Tensor, velocity: nn.Module | None = None) -> torch.Tensor:
        """The noise-free chain from x_0 (the pretrained policy's sampler, mean clipping included);
        ``velocity`` defaults to this policy's (the BC regulariser passes the frozen one)."""
        velocity = self.velocity if velocity is None else velocity
        ctx, x = velocity.context(obs), x0
        for k in range(self.steps):
            x = self.step_mean(velocity, ctx, x, k)
        return x

    @torch.no_grad()
    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(env action clip(x_K), chain [B, K+1, D], log pi(chain | s))."""
        ctx = self.velocity.context(obs)
        x = torch.randn(obs.shape[0], self.noise.act_dim, device=obs.device, dtype=obs.dtype)
        chain = [x]
        for k in range(self.steps):
            eps = torch.randn_like(x).clamp(-self.noise_clip, self.noise_clip)
            x = self.step_mean(self.velocity, ctx, x, k) + self.noise(obs, k) * eps
            chain.append(x)
        chain = torch.stack(chain, dim=1)
        # Re-evaluated exactly as in the update, so the first PPO ratio is exactly 1.
        log_prob, _ = self.log_prob(obs, chain)
        return chain[:, -1].clamp(-1.0, 1.0), chain, log_prob

    def log_prob(self, obs: torch.Tensor, chain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log pi(chain | s), entropy of the chain's Gaussian terms), both [B]; the chain is teacher-forced."""
        ctx = self.velocity.context(obs)
        log_prob = torch.zeros(chain.shape[0], device=chain.device, dtype=chain.dtype)
        entropy = torch.zeros_like(log_prob)
        for k in range(self.steps):
            mean = self.step_mean(self.velocity, ctx, chain[:, k], k)
            sigma = self.noise(obs, k)
            z = (chain[:, k + 1] - mean) / sigma
            log_prob = log_prob - (0.5 * z * z + torch.log(sigma) + HALF_LOG_2PI).sum(-1)
            entropy = entropy + (0.5 + HALF_LOG_2PI + torch.log(sigma)).sum(-1)
        terms = self.steps
        if self.initial_log_prob:  # x_0 ~ N(0, I): entropy 0.5 + log sqrt(2 pi) per entry
            log_prob = log_prob - (0.5 * chain[:, 0] ** 2 + HALF_LOG_2PI).sum(-1)
            entropy = entropy + (0.5 + HALF_LOG_2PI) * chain.shape[-1]
            terms += 1
        if self.normalize_log_prob:
            scale = terms * chain.shape[-1]
            log_prob, entropy = log_prob / scale, entropy / scale
        return log_prob, entropy

    @torch.no_grad()
    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The flow without injected noise from a random x_0 (the policy as pretrained)."""
        x0 = torch.randn(obs.shape[0], self.noise.act_dim, device=obs.device, dtype=obs.dtype)
        return self.ode(obs, x0).clamp(-1.0, 1.0)

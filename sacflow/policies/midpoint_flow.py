"""FlowRL's policy: a deterministic flow from clipped Gaussian noise, integrated with the midpoint rule.

    x_0 = clip(N(0, I), -1, 1),   x_{k+1} = x_k + dt * u(s, x_k + dt/2 * u(s, x_k, t_k), t_k + dt/2),
    a = tanh(x_K) * scale + bias,  t_k = k / K.

The policy has no tractable density (FlowRL trains it by maximising Q with a flow-matching
regulariser, not by maximum entropy), so ``log_prob`` is a zero placeholder that SAC's
critic target multiplies by a zero temperature (``sacflow.agents.q_guided``).
"""

from __future__ import annotations

import torch
from torch import nn

from sacflow.policies.flow import PolicyOutput
from sacflow.policies.squash import TanhSquash


def clipped_noise(batch: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """FlowRL's source distribution: N(0, I) clipped to [-1, 1] (used by sampling and flow matching)."""
    return torch.randn(batch, dim, device=like.device, dtype=like.dtype).clamp(-1.0, 1.0)


class MidpointFlowPolicy(nn.Module):
    def __init__(self, velocity, obs_dim: int, act_dim: int, action_low, action_high, steps: int = 1):
        super().__init__()
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.steps, self.act_dim = steps, act_dim
        # ``velocity`` is a factory (a Hydra partial) so the policy supplies the dimensions.
        self.velocity = velocity(obs_dim=obs_dim, act_dim=act_dim, steps=steps)
        self.squash = TanhSquash(action_low, action_high)

    def integrate(self, obs: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Midpoint-rule integration of dx/dt = u(s, x, t) from t = 0 to 1 in ``steps`` steps."""
        ctx, dt = self.velocity.context(obs), 1.0 / self.steps
        for k in range(self.steps):
            t = obs.new_full((1, 1), k * dt)
            half = x + 0.5 * dt * self.velocity(ctx, x, t, k)[0]
            x = x + dt * self.velocity(ctx, half, t + 0.5 * dt, k)[0]
        return x

    def forward(self, obs: torch.Tensor, deterministic: bool = False, keep_path: bool = False, noise_std=None):
        """``deterministic`` starts from x_0 = 0, the centre of the source distribution."""
        x0 = obs.new_zeros(obs.shape[0], self.act_dim) if deterministic else clipped_noise(obs.shape[0], self.act_dim, obs)
        action, _ = self.squash(self.integrate(obs, x0))
        return PolicyOutput(action, obs.new_zeros(obs.shape[0]))

"""Flow matching (paper Equ. 3) and the plain Euler sampler of a velocity field.

Rectified-flow pretraining: x_0 ~ N(0, I), x_1 = the dataset action chunk, t ~ U[0, 1),
x_t = (1 - t) x_0 + t x_1, and the velocity regresses the straight-line direction x_1 - x_0.
As in the official offline-to-online code (and QC), the squared error of each chunk step is
multiplied by that step's ``valid`` flag and the mean runs over every entry (B * h * A),
masked ones included.

Any ``VelocityField`` works: the call is ``velocity(velocity.context(obs), x_t, t, 0)`` with a
per-sample ``t`` of shape [B, 1] (step index 0: the offline-to-online networks have no
per-step input normalisers).
"""

from __future__ import annotations

import torch


def chunk_step_mask(valid: torch.Tensor, act_dim: int) -> torch.Tensor:
    """[B, h] chunk validity -> [B, h * act_dim], matching flattened action chunks."""
    return valid.repeat_interleave(act_dim, dim=1)


def flow_matching_loss(velocity, obs: torch.Tensor, actions: torch.Tensor, valid: torch.Tensor,
                       act_dim: int) -> torch.Tensor:
    """Mean over B * h * A of valid_i * (u(s, x_t, t) - (x_1 - x_0))^2."""
    x0 = torch.randn_like(actions)
    t = torch.rand(actions.shape[0], 1, device=actions.device, dtype=actions.dtype)
    x_t = (1.0 - t) * x0 + t * actions
    u, _ = velocity(velocity.context(obs), x_t, t, 0)
    return (((u - (actions - x0)) ** 2) * chunk_step_mask(valid, act_dim)).mean()


def euler_sample(velocity, obs: torch.Tensor, x0: torch.Tensor, steps: int) -> torch.Tensor:
    """Deterministic K-step Euler integration of the ODE dx/dt = u(s, x, t) from x_0 on t_k = k/K."""
    ctx, x, dt = velocity.context(obs), x0, 1.0 / steps
    for k in range(steps):
        t = obs.new_full((1, 1), k * dt)
        x = x + dt * velocity(ctx, x, t, k)[0]
    return x

"""Tiny networks with hand-checkable outputs for the FlowRL / DIME / QSM loss tests (1-D state and action)."""

from __future__ import annotations

import torch
from torch import nn

from sacflow.networks.velocity.base import VelocityField


class LinearVelocity(VelocityField):
    """u(s, x, t) = p * s + q * x + r * t with scalar parameters (the velocity/score/noise-network contract)."""

    learns_noise = False

    def __init__(self, p: float, q: float, r: float):
        super().__init__()
        self.p, self.q, self.r = (nn.Parameter(torch.tensor(v)) for v in (p, q, r))

    def forward(self, ctx, x, t, k):
        return self.p * ctx["obs"] + self.q * x + self.r * t, None


def factory(p: float, q: float, r: float):
    """What the policies expect in place of a Hydra partial."""
    return lambda obs_dim, act_dim, steps: LinearVelocity(p, q, r)


class LinearCritics(nn.Module):
    """Q_1(s, a) = w11 s + w12 a,  Q_2(s, a) = w21 s + w22 a; returns [2, B] like QEnsemble."""

    def __init__(self, weights):
        super().__init__()
        self.weights = nn.Parameter(torch.tensor(weights))

    def forward(self, obs, action):
        return torch.stack([w[0] * obs[:, 0] + w[1] * action[:, 0] for w in self.weights])


def q_values(weights, s: float, a: float) -> list[float]:
    """The same critics in plain Python."""
    return [w[0] * s + w[1] * a for w in weights]


BATCH = {
    "obs": torch.tensor([[1.0], [-1.0]]),
    "action": torch.tensor([[0.5], [0.25]]),
    "reward": torch.tensor([1.0, 0.0]),
    "next_obs": torch.tensor([[0.5], [2.0]]),
    "terminated": torch.tensor([0.0, 1.0]),
}

"""Classic MLP velocity ("naive" SAC Flow): the residual-RNN baseline the paper stabilises."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sacflow.networks.layers import bounded_log_std, lecun_init_, mlp, norm_layer
from sacflow.networks.velocity.base import VelocityField
from sacflow.networks.velocity.state_share import (
    after_first_layer,
    can_hoist,
    normalise_columns,
    rest_share,
    state_share,
)


class MLPVelocity(VelocityField):
    """u = head(trunk(norm([s, x, t]))); a second head gives a per-step log-std.

    One input normalisation module is shared by all K steps (it sees t as a feature). With
    ``hoist_state_input`` (default) an eval-mode rollout computes the state's share of the
    first layer once, in ``context`` (``state_share.py``).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        steps: int,
        hidden: Sequence[int] = (512, 512),
        act: str = "relu",
        input_norm: str = "batchrenorm",
        learn_noise: bool = True,
        log_std_bounds: Sequence[float] = (-5.0, 2.0),
        batch_renorm: dict | None = None,
        hoist_state_input: bool = True,
    ):
        super().__init__()
        self.obs_dim, self.hoist_state_input = obs_dim, hoist_state_input
        in_dim = obs_dim + act_dim + 1
        self.learns_noise = learn_noise
        self.log_std_bounds = tuple(log_std_bounds)
        self.input_norm = norm_layer(input_norm, in_dim, batch_renorm)
        self.trunk = mlp(in_dim, hidden, None, act)
        self.velocity_head = lecun_init_(nn.Linear(hidden[-1], act_dim))
        self.log_std_head = lecun_init_(nn.Linear(hidden[-1], act_dim)) if learn_noise else None

    def context(self, obs):
        ctx = {"obs": obs}
        if self.hoist_state_input and can_hoist(self.input_norm):
            ctx["state_share"] = state_share(self.trunk[0], normalise_columns(self.input_norm, obs, 0))
        return ctx

    def forward(self, ctx, x, t, k):
        xt = torch.cat([x, t.expand(x.shape[0], 1)], dim=-1)
        if "state_share" in ctx:
            rest = rest_share(self.trunk[0], normalise_columns(self.input_norm, xt, self.obs_dim), self.obs_dim)
            h = after_first_layer(self.trunk, ctx["state_share"] + rest)
        else:
            h = self.trunk(self.input_norm(torch.cat([ctx["obs"], xt], dim=-1)))
        log_std = None
        if self.log_std_head is not None:
            log_std = bounded_log_std(self.log_std_head(h), *self.log_std_bounds)
        return self.velocity_head(h), log_std

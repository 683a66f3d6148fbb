"""Flow-G: the GRU-style gated velocity u = z * (h~ - x), z = sigmoid(gate)  (paper Equ. 6)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sacflow.networks.layers import activation, bounded_log_std, mlp, norm_layer, sinusoidal_embedding
from sacflow.networks.velocity.base import VelocityField
from sacflow.networks.velocity.state_share import (
    after_first_layer,
    can_hoist,
    normalise_columns,
    rest_share,
    state_share,
)


class FlowGVelocity(VelocityField):
    """The gate interpolates between keeping x_k (z -> 0) and moving to the candidate h~.

    The gate's last layer starts at weight 0 / bias ``gate_bias_init`` (5 -> z = 0.9933), so
    the untrained cell is almost a plain "jump to candidate" step. The candidate is
    unbounded by default (Equ. 6 and the official code); ``candidate_activation: tanh``
    gives the bounded candidate that the paper's prose suggests.

    From scratch the noise std comes from a state-only MLP on the raw observation (one
    vector shared by all K steps), computed once per rollout in ``context``. With
    ``hoist_state_input`` (default) an eval-mode rollout also computes the state's share of the
    gate's and candidate's first layers there (``state_share.py``).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        steps: int,
        candidate_hidden: Sequence[int] = (512,),
        gate_hidden: Sequence[int] = (512,),
        act: str = "silu",
        gate_act: str | None = None,
        candidate_activation: str = "identity",
        gate_bias_init: float = 5.0,
        time_embedding: str = "sinusoidal",
        time_embedding_dim: int = 32,
        input_norm: str = "batchrenorm",
        learn_noise: bool = True,
        log_std_hidden: Sequence[int] = (512, 512),
        log_std_bounds: Sequence[float] = (-5.0, 2.0),
        batch_renorm: dict | None = None,
        hoist_state_input: bool = True,
    ):
        super().__init__()
        self.obs_dim, self.hoist_state_input = obs_dim, hoist_state_input
        self.learns_noise = learn_noise
        self.log_std_bounds = tuple(log_std_bounds)
        self.time_embedding = time_embedding
        self.time_embedding_dim = time_embedding_dim
        if time_embedding == "sinusoidal":
            self.time_mlp = mlp(time_embedding_dim, [2 * time_embedding_dim], time_embedding_dim, "silu")
            t_dim = time_embedding_dim
        elif time_embedding == "raw":
            self.time_mlp, t_dim = None, 1
        else:
            raise ValueError(f"time_embedding must be sinusoidal or raw, got {time_embedding!r}")
        self.input_norm = norm_layer(input_norm, obs_dim + act_dim, batch_renorm)
        in_dim = obs_dim + act_dim + t_dim
        self.candidate = mlp(in_dim, candidate_hidden, act_dim, act)
        self.candidate_activation = activation(candidate_activation)
        # Offline-to-online the official cell pairs a GELU candidate with a swish gate.
        self.gate = mlp(in_dim, gate_hidden, act_dim, gate_act or act)
        nn.init.zeros_(self.gate[-1].weight)
        nn.init.constant_(self.gate[-1].bias, gate_bias_init)
        self.log_std_net = mlp(obs_dim, log_std_hidden, act_dim, "relu") if learn_noise else None

    def context(self, obs):
        ctx = {"obs": obs}
        if self.log_std_net is not None:
            ctx["log_std"] = bounded_log_std(self.log_std_net(obs), *self.log_std_bounds)
        if self.hoist_state_input and can_hoist(self.input_norm):
            state = normalise_columns(self.input_norm, obs, 0)
            ctx["state_shares"] = (state_share(self.gate[0], state), state_share(self.candidate[0], state))
        return ctx

    def _time_features(self, t: torch.Tensor, batch: int) -> torch.Tensor:
        # Embed t before expanding: inside a rollout t is one [1, 1] value for the whole batch.
        features = t if self.time_mlp is None else self.time_mlp(sinusoidal_embedding(t, self.time_embedding_dim))
        return features.expand(batch, features.shape[-1])

    def gate_value(self, ctx, x, t) -> torch.Tensor:
        """z in (0, 1); exposed for tests and diagnostics."""
        return torch.sigmoid(self.gate(self._inputs(ctx, x, t)))

    def _inputs(self, ctx, x, t):
        sx = self.input_norm(torch.cat([ctx["obs"], x], dim=-1))
        return torch.cat([sx, self._time_features(t, x.shape[0])], dim=-1)

    def forward(self, ctx, x, t, k):
        if "state_shares" in ctx:
            rest = torch.cat([normalise_columns(self.input_norm, x, self.obs_dim), self._time_features(t, x.shape[0])], -1)
            gate_share, candidate_share = ctx["state_shares"]
            gate = after_first_layer(self.gate, gate_share + rest_share(self.gate[0], rest, self.obs_dim))
            candidate = after_first_layer(self.candidate, candidate_share + rest_share(self.candidate[0], rest, self.obs_dim))
        else:
            h = self._inputs(ctx, x, t)
            gate, candidate = self.gate(h), self.candidate(h)
        u = torch.sigmoid(gate) * (self.candidate_activation(candidate) - x)
        return u, ctx.get("log_std")

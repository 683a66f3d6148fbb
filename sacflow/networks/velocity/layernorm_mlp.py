"""FlowRL's flow network: an MLP with LayerNorm before each ELU, Xavier-initialised.

    u(s, x, t) = W_out elu(LN(W_n ... elu(LN(W_1 [s; x; t])))),

the shape of bytedance/FlowRL's ``Policy_flow`` (``model/model.py``; 2 x 512 there). Kept apart
from ``MLPVelocity``, the SAC Flow ablation's network (activation then norm, LeCun init, an
optional log-std head), so each stays the network its paper describes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sacflow.networks.layers import xavier_init_
from sacflow.networks.velocity.base import VelocityField


class LayerNormMLPVelocity(VelocityField):
    learns_noise = False

    def __init__(self, obs_dim: int, act_dim: int, steps: int, hidden: Sequence[int] = (512, 512)):
        super().__init__()
        layers: list[nn.Module] = []
        in_dim = obs_dim + act_dim + 1
        for width in hidden:
            layers += [nn.Linear(in_dim, width), nn.LayerNorm(width), nn.ELU()]
            in_dim = width
        layers.append(nn.Linear(in_dim, act_dim))
        self.net = xavier_init_(nn.Sequential(*layers))

    def forward(self, ctx, x, t, k):
        return self.net(torch.cat([ctx["obs"], x, t.expand(x.shape[0], 1)], dim=-1)), None

"""The state's share of a velocity network's first layer, computed once per rollout.

Flow-G and the MLP velocity feed ``[norm(s, x_k, ...), ...]`` to a first Linear layer, so
W [s^; x^_k; t^_k] + b = (W_s s^ + b) + W_rest [x^_k; t^_k]. The first term depends on the state
only and is the bulk of the layer (the state has ~350 of ~400 input columns on Humanoid).
When the input normaliser treats every feature on its own with fixed statistics (BatchRenorm
in eval mode, or none) the state columns normalise to the same values at every flow step, so
a rollout can compute W_s s^ + b once instead of K times: the B=1 action and the critic's
no-grad next-action rollout both run in eval mode. The result equals the plain layer up to
float rounding of the split sum (tests/test_velocity_nets.py checks it in float64).

In training mode BatchRenorm's renormalisation reads running statistics that every call
updates, so the state columns change slightly from step to step and nothing is hoisted.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from sacflow.networks.batch_renorm import BatchRenorm


def can_hoist(norm: nn.Module) -> bool:
    """True when ``norm`` is currently a fixed per-feature map (a layer norm mixes features)."""
    return isinstance(norm, nn.Identity) or (isinstance(norm, BatchRenorm) and not norm.training)


def normalise_columns(norm: nn.Module, x: torch.Tensor, start: int) -> torch.Tensor:
    """``norm`` applied to ``x`` as the input columns [start, start + width) of the full input."""
    if isinstance(norm, nn.Identity):
        return x
    return norm.columns(x, start)


def state_share(layer: nn.Linear, state: torch.Tensor) -> torch.Tensor:
    """W_s s^ + b: the first ``state.shape[-1]`` input columns of ``layer`` and its bias."""
    return F.linear(state, layer.weight[:, : state.shape[-1]], layer.bias)


def rest_share(layer: nn.Linear, rest: torch.Tensor, start: int) -> torch.Tensor:
    """W_rest r: the input columns from ``start`` on, without the bias."""
    return F.linear(rest, layer.weight[:, start:])


def after_first_layer(net: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """Run ``net`` from its second module on (its first Linear has been applied in parts)."""
    for module in itertools.islice(net, 1, None):
        h = module(h)
    return h

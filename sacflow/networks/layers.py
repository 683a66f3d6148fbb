"""Small building blocks shared by velocity networks, actors and critics."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from sacflow.networks.batch_renorm import BatchRenorm

ACTIVATIONS = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,  # Flax's swish
    "gelu": lambda: nn.GELU(approximate="tanh"),  # Flax's nn.gelu is the tanh approximation
    "tanh": nn.Tanh,
    "identity": nn.Identity,
}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def norm_layer(kind: str, dim: int, brn: dict | None = None) -> nn.Module:
    """'batchrenorm' (CrossQ statistics), 'layernorm' (Flax eps 1e-6) or 'none'."""
    if kind == "batchrenorm":
        return BatchRenorm(dim, **(brn or {}))
    if kind == "layernorm":
        return nn.LayerNorm(dim, eps=1e-6)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose batchrenorm, layernorm or none")


def lecun_init_(module: nn.Module) -> nn.Module:
    """Flax's Dense default (truncated-normal LeCun kernel, zero bias), used by the reference.

    PyTorch's default (Kaiming-uniform with a uniform bias) gives a different start, which
    matters for the gate of Flow-G and for the tiny-budget learning checks.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            # 0.8796 is the std of a unit normal truncated to [-2, 2]; Flax divides it out.
            std = math.sqrt(1.0 / layer.in_features) / 0.87962566103423978
            nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(layer.bias)
    return module


def xavier_init_(module: nn.Module) -> nn.Module:
    """Xavier-uniform weights (gain 1) and zero biases: PyTorch codebases' common choice (FlowRL's, for one)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
    return module


def mlp(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int | None,
    act: str = "relu",
    norm: str = "none",
    brn: dict | None = None,
) -> nn.Sequential:
    """Linear -> act -> norm blocks (norm after the activation, as CrossQ), then an optional head."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), activation(act)]
        if norm != "none":
            layers.append(norm_layer(norm, width, brn))
        in_dim = width
    if out_dim is not None:
        layers.append(nn.Linear(in_dim, out_dim))
    return lecun_init_(nn.Sequential(*layers))


def layernorm_value_net(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """FlowRL's value network (bytedance/FlowRL ``model/model.py``: ``QNetwork``, ``ValueNetwork``).

    Linear -> LN, then Linear -> LN -> GELU for each inner width, then Linear -> LN and a linear
    head; the official 4 x h layout is ``hidden = [h, h, h, h]``. The first and last hidden layers
    have no activation and a LayerNorm sits right before the head, which bounds the head's input
    and so Q's scale: FlowRL's near target-free TD (target weight 0.95) relies on it. Torch's
    LayerNorm eps (1e-5), exact GELU and Xavier init, as the official code.
    """
    if len(hidden) < 2:
        raise ValueError(f"the layernorm value network needs >= 2 hidden widths, got {list(hidden)}")
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden[0]), nn.LayerNorm(hidden[0])]
    for i, (prev, width) in enumerate(itertools.pairwise(hidden)):
        layers += [nn.Linear(prev, width), nn.LayerNorm(width)]
        if i < len(hidden) - 2:
            layers.append(nn.GELU())
    layers.append(nn.Linear(hidden[-1], out_dim))
    return xavier_init_(nn.Sequential(*layers))


def bounded_log_std(raw: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Smooth clamp of a raw head into (low, high), as CleanRL and the reference do."""
    return low + 0.5 * (high - low) * (torch.tanh(raw) + 1.0)


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[sin(t f_j), cos(t f_j)] with f_j = exp(-j ln(10000) / (dim/2 - 1)); t is not rescaled."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=t.dtype) / (half - 1))
    angles = t * freqs
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)

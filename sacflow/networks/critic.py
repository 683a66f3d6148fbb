"""Q-function ensembles: CrossQ (BatchRenorm, no target), standard SAC (plain MLP + Polyak target)
or FlowRL's LayerNorm layout (``layout="layernorm"``, Polyak target)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sacflow.networks.batch_renorm import BatchRenorm
from sacflow.networks.layers import layernorm_value_net, mlp, norm_layer

LAYOUTS = ("mlp", "layernorm")


def value_trunk(in_dim: int, hidden: Sequence[int], act: str, norm: str, brn: dict | None,
                layout: str = "mlp") -> nn.Sequential:
    """The scalar-output network of a critic: ``mlp`` (act -> norm blocks) or FlowRL's ``layernorm`` layout.

    ``act`` and ``norm`` configure the ``mlp`` layout only; ``layernorm`` is fixed (``layernorm_value_net``).
    """
    if layout == "mlp":
        return mlp(in_dim, hidden, 1, act, norm, brn)
    if layout == "layernorm":
        return layernorm_value_net(in_dim, hidden, 1)
    raise ValueError(f"unknown critic layout {layout!r}; choose one of {LAYOUTS}")


class QNetwork(nn.Module):
    """Q(s, a) = head(... act -> norm ...(norm_in([s, a]))).

    CrossQ puts a BatchRenorm on the raw input and after every hidden activation.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], act: str, norm: str, brn: dict | None,
                 input_norm: str | None = None, layout: str = "mlp"):
        super().__init__()
        self.input_norm = norm_layer(norm if input_norm is None else input_norm, in_dim, brn)
        self.net = value_trunk(in_dim, hidden, act, norm, brn, layout)

    def forward(self, obs_action: torch.Tensor) -> torch.Tensor:
        return self.net(self.input_norm(obs_action)).squeeze(-1)


class StackedLinear(nn.Module):
    """n Linear layers as one [n, in, out] weight: one batched matmul for the whole ensemble."""

    def __init__(self, layers: Sequence[nn.Linear]):
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach().t() for layer in layers]).contiguous())
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [n, B, in]
        return torch.baddbmm(self.bias, x, self.weight)


class StackedLayerNorm(nn.Module):
    """n LayerNorms over the last dimension with per-member affine parameters."""

    def __init__(self, layers: Sequence[nn.LayerNorm]):
        super().__init__()
        self.eps = layers[0].eps
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]).unsqueeze(1))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.layer_norm(x, x.shape[-1:], eps=self.eps) * self.weight + self.bias


def _stack_batch_renorm(layers: Sequence[BatchRenorm]) -> BatchRenorm:
    first = layers[0]
    stacked = BatchRenorm(first.weight.shape[0], first.momentum, first.eps, first.r_max, first.d_max,
                          first.warmup_steps, members=len(layers)).to(first.weight.device, first.weight.dtype)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(stacked, name).copy_(torch.stack([getattr(layer, name) for layer in layers]).unsqueeze(1))
        stacked.steps.copy_(first.steps)
    return stacked


def stack_layers(layers: Sequence[nn.Module]) -> nn.Module:
    """The same layer of every member as one module over a leading member dimension."""
    first = layers[0]
    if isinstance(first, nn.Linear):
        return StackedLinear(layers)
    if isinstance(first, BatchRenorm):
        return _stack_batch_renorm(layers)
    if isinstance(first, nn.LayerNorm):
        return StackedLayerNorm(layers)
    if sum(1 for _ in first.parameters()) == 0:  # activations, Identity: shared as they are
        return first
    raise TypeError(f"no stacked form for {type(first).__name__}")


class QEnsemble(nn.Module):
    """``n`` independent Q-networks; returns ``[n, B]``.

    ``stacked=True`` (default) holds each layer of all members as one stacked weight and runs
    the ensemble as batched matmuls: one kernel per layer instead of n (docs/performance.md).
    The members are built first either way, so a seed gives the same initial networks in
    both forms and ``tests/test_critic_stacked.py`` can check they compute the same thing.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        n: int = 2,
        hidden: Sequence[int] = (1024, 1024),
        act: str = "relu",
        norm: str = "batchrenorm",
        batch_renorm: dict | None = None,
        input_norm: str | None = None,
        stacked: bool = True,
        layout: str = "mlp",
    ):
        """``input_norm`` (default: ``norm``) normalises [s, a]; the offline-to-online critics use none.

        ``layout`` picks the member network (``value_trunk``): ``mlp`` or FlowRL's ``layernorm``.
        """
        super().__init__()
        members = [QNetwork(obs_dim + act_dim, hidden, act, norm, batch_renorm, input_norm, layout)
                   for _ in range(n)]
        self.stacked = stacked
        if stacked:
            per_member = [[m.input_norm, *m.net] for m in members]
            self.layers = nn.Sequential(*(stack_layers(same) for same in zip(*per_member)))
        else:
            self.members = nn.ModuleList(members)

    def _stacked_input(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        obs_action = torch.cat([obs, action], dim=-1)
        return obs_action.expand(self.layers[-1].weight.shape[0], *obs_action.shape)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        if self.stacked:
            return self.layers(self._stacked_input(obs, action)).squeeze(-1)
        obs_action = torch.cat([obs, action], dim=-1)
        return torch.stack([q(obs_action) for q in self.members])

    def forward_pair(self, obs, action, next_obs, next_action) -> tuple[torch.Tensor, torch.Tensor]:
        """Q on (s, a) and, without gradient, on (s', a'), as one joint CrossQ pass would give.

        BatchRenorm layers normalise both halves with their joint statistics (identical
        outputs and running statistics); every other layer runs the next-state half under
        ``no_grad``, so the backward pass covers B rows instead of 2B. The gradient treats
        the next-state half's share of the batch statistics as a constant: a departure from
        the joint pass's gradient (docs/deviations.md), hence opt-in.
        """
        if not self.stacked:
            raise ValueError("critic.detach_next_half needs the stacked ensemble (critic.network.stacked: true)")
        h, h_next = self._stacked_input(obs, action), self._stacked_input(next_obs, next_action)
        for layer in self.layers:
            if isinstance(layer, BatchRenorm):
                h, h_next = layer.forward_pair(h, h_next)
            else:
                h = layer(h)
                with torch.no_grad():
                    h_next = layer(h_next)
        return h.squeeze(-1), h_next.squeeze(-1)

"""Q-function ensembles: CrossQ (BatchRenorm, no target) or standard SAC (plain MLP + Polyak target)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sacflow.networks.layers import mlp, norm_layer


class QNetwork(nn.Module):
    """Q(s, a) = head(... act -> norm ...(norm_in([s, a]))).

    CrossQ puts a BatchRenorm on the raw input and after every hidden activation.
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], act: str, norm: str, brn: dict | None,
                 input_norm: str | None = None):
        super().__init__()
        self.input_norm = norm_layer(norm if input_norm is None else input_norm, in_dim, brn)
        self.net = mlp(in_dim, hidden, 1, act, norm, brn)

    def forward(self, obs_action: torch.Tensor) -> torch.Tensor:
        return self.net(self.input_norm(obs_action)).squeeze(-1)


class QEnsemble(nn.Module):
    """``n`` independent Q-networks; returns ``[n, B]``."""

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
    ):
        """``input_norm`` (default: ``norm``) normalises [s, a]; the offline-to-online critics use none."""
        super().__init__()
        self.members = nn.ModuleList(
            QNetwork(obs_dim + act_dim, hidden, act, norm, batch_renorm, input_norm) for _ in range(n)
        )

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        obs_action = torch.cat([obs, action], dim=-1)
        return torch.stack([q(obs_action) for q in self.members])

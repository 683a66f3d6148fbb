"""The contract every velocity network satisfies inside the K-step flow rollout."""

from __future__ import annotations

import torch
from torch import nn


class VelocityField(nn.Module):
    """u_theta(s, x_k, t_k), optionally with a log-std for the noise-augmented rollout.

    ``context(obs)`` runs the state-only part once per rollout (Flow-G's log-std head,
    Flow-T's state memory) so the K-step loop never recomputes it. ``forward`` then
    returns ``(u, log_std)`` where ``log_std`` is None when the network learns no noise
    (offline-to-online uses a fixed sigma).

    ``k`` is the integer step index (needed by per-step input normalisation); ``t`` is a
    tensor broadcastable to ``[B, 1]`` so flow matching can feed continuous times.
    """

    learns_noise: bool

    def context(self, obs: torch.Tensor) -> dict:
        return {"obs": obs}

    def forward(self, ctx: dict, x: torch.Tensor, t: torch.Tensor, k: int | None):
        raise NotImplementedError

"""tanh squashing into the action box, with the exact log-Jacobian."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TanhSquash(nn.Module):
    """a = tanh(x) * scale + bias; log|da/dx| = sum_j log(scale_j (1 - tanh^2 x_j) + 1e-6).

    The 1e-6 is CleanRL's (and the reference's) guard against log(0) at saturation.
    """

    def __init__(self, low, high):
        super().__init__()
        low, high = np.asarray(low, dtype=np.float32), np.asarray(high, dtype=np.float32)
        self.register_buffer("scale", torch.as_tensor((high - low) / 2.0))
        self.register_buffer("bias", torch.as_tensor((high + low) / 2.0))

    def forward(self, x: torch.Tensor):
        y = torch.tanh(x)
        log_det = torch.log(self.scale * (1 - y * y) + 1e-6).sum(-1)
        return y * self.scale + self.bias, log_det

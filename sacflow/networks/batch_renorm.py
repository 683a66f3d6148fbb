"""Batch Renormalization (Ioffe, 2017) with CrossQ's conventions.

torch.nn.BatchNorm is not a substitute: it keeps an *unbiased* running variance,
uses a different momentum convention and has no renormalisation. The official
SAC Flow code (and CrossQ) normalise with:

* batch statistics from the biased variance E[x^2] - E[x]^2,
* running statistics ``ra <- m * ra + (1 - m) * batch`` with m = 0.99,
* after ``warmup_steps`` training-mode *calls*, the batch statistics are corrected
  by r = clip(sigma_B / sigma_R, 1/r_max, r_max) and d = clip((mu_B - mu_R) / sigma_R,
  -d_max, d_max) (both without gradient) so training-mode outputs match the
  running statistics used at inference.

The step counter counts calls, not optimiser updates: a module shared by the K flow
steps advances K times per actor forward, exactly as in the reference.
"""

from __future__ import annotations

import torch
from torch import nn


class BatchRenorm(nn.Module):
    """Normalises the last dimension; every leading dimension counts as batch.

    With ``members=n`` it holds n independent normalisers for a stacked ensemble: the input is
    [n, ..., F] and member i's statistics, running averages and affine use only rows x[i].
    """

    def __init__(
        self,
        num_features: int,
        momentum: float = 0.99,
        eps: float = 1e-3,
        r_max: float = 3.0,
        d_max: float = 5.0,
        warmup_steps: int = 100_000,
        members: int | None = None,
    ):
        super().__init__()
        self.members = members
        shape = (num_features,) if members is None else (members, 1, num_features)
        self.momentum, self.eps = momentum, eps
        self.r_max, self.d_max, self.warmup_steps = r_max, d_max, warmup_steps
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.register_buffer("running_mean", torch.zeros(shape))
        self.register_buffer("running_var", torch.ones(shape))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.weight.dtype)  # under bf16 autocast the statistics stay in float32
        if not self.training:
            mean, var = self.running_mean, self.running_var
        else:
            # Biased variance, as the reference. Two-pass (var_mean) rather than the reference's
            # E[x^2] - E[x]^2, which loses digits to cancellation when |mean| >> std.
            batch_var, batch_mean = self._batch_stats(x)
            mean, var = self._renormalised(batch_mean, batch_var)
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(m).add_(batch_mean.detach(), alpha=1 - m)
                self.running_var.mul_(m).add_(batch_var.detach(), alpha=1 - m)
                self.steps.add_(1)
        return self.weight * (x - mean) / torch.sqrt(var + self.eps) + self.bias

    def columns(self, x: torch.Tensor, start: int) -> torch.Tensor:
        """Eval-mode output for input features [start, start + width) given only those features.

        Every feature is normalised on its own with fixed running statistics, so this is
        elementwise the same as ``self(full)[..., start:start + width]``.
        """
        if self.training or self.members is not None:
            raise RuntimeError("BatchRenorm.columns needs eval mode and a single (unstacked) normaliser")
        cols = slice(start, start + x.shape[-1])
        x = x.to(self.weight.dtype)
        mean, var = self.running_mean[cols], self.running_var[cols]
        return self.weight[cols] * (x - mean) / torch.sqrt(var + self.eps) + self.bias[cols]

    def forward_pair(self, x: torch.Tensor, x_next: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalise two halves of a joint batch (rows on dim -2) with the same statistics.

        The statistics, running averages and outputs are exactly those of ``self(cat([x, x_next]))``;
        only the gradient differs: ``x_next`` enters as a constant, so nothing backpropagates
        into the layers that produced it (the CrossQ ``critic.detach_next_half`` lever).
        """
        if not self.training:
            return self(x), self(x_next).detach()
        out = self(torch.cat([x, x_next.detach()], dim=-2))
        return out[..., : x.shape[-2], :], out[..., x.shape[-2] :, :].detach()

    def _batch_stats(self, x: torch.Tensor):
        if self.members is None:
            return torch.var_mean(x.reshape(-1, x.shape[-1]), dim=0, correction=0)
        return torch.var_mean(x.reshape(self.members, -1, x.shape[-1]), dim=1, keepdim=True, correction=0)

    def _renormalised(self, batch_mean: torch.Tensor, batch_var: torch.Tensor):
        # torch.where keeps the branch free of host synchronisation on the step counter.
        warmed_up = self.steps >= self.warmup_steps
        with torch.no_grad():
            running_std = torch.sqrt(self.running_var + self.eps)
            r = (torch.sqrt(batch_var + self.eps) / running_std).clamp(1 / self.r_max, self.r_max)
            d = ((batch_mean - self.running_mean) / running_std).clamp(-self.d_max, self.d_max)
        # clamp_min keeps the gradient finite for constant features (sqrt'(0) = inf would turn
        # the masked-out branch of torch.where into NaN).
        renorm_mean = batch_mean - d * torch.sqrt(batch_var.clamp_min(1e-12)) / r
        renorm_var = batch_var / (r * r)
        return torch.where(warmed_up, renorm_mean, batch_mean), torch.where(warmed_up, renorm_var, batch_var)

    def extra_repr(self) -> str:
        return (
            f"{self.weight.shape[-1]}, members={self.members}, momentum={self.momentum}, eps={self.eps}, "
            f"r_max={self.r_max}, d_max={self.d_max}, warmup_steps={self.warmup_steps}"
        )

"""A preallocated ring buffer of transitions that lives on the training device.

All fields share one packed [capacity, width] tensor, so storing a transition is one
host-to-device copy and sampling a batch is one gather (on a GPU: 1 transfer instead of 5,
1 index kernel instead of 5). On CUDA the transition is staged in a pinned host row and
copied asynchronously. Sampling uses torch's global generator on that device, so the RNG
state captured in a checkpoint reproduces the same minibatches after a resume.

Sampling is uniform with replacement; ``recent_fraction`` > 0 draws that share of each batch
from the newest ``recent_window`` transitions instead (FlowRL's sampler: 20 % of the batch from
the last 2048; it samples both parts without replacement, a negligible difference at these sizes).
"""

from __future__ import annotations

import numpy as np
import torch


class ReplayBuffer:
    FIELDS = ("obs", "action", "reward", "next_obs", "terminated")

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str = "cpu",
                 recent_fraction: float = 0.0, recent_window: int = 2048, storage=None):
        """``storage(capacity, width)`` returns the [capacity, width] tensor to use instead of the buffer's
        own allocation (one seed's slice of a [seeds, capacity, width] tensor: vectorised seeds gather
        every seed's minibatch at once)."""
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity, self.device = capacity, torch.device(device)
        self.recent_fraction, self.recent_window = recent_fraction, recent_window
        widths = {"obs": obs_dim, "action": act_dim, "reward": 1, "next_obs": obs_dim, "terminated": 1}
        self.slices, start = {}, 0
        for key, width in widths.items():
            self.slices[key] = slice(start, start + width)
            start += width
        if storage is None:
            self.packed = torch.zeros((capacity, start), dtype=torch.float32, device=self.device)
        else:
            self.packed = storage(capacity, start)
            if tuple(self.packed.shape) != (capacity, start):
                raise ValueError(f"replay storage must be [{capacity}, {start}], got {list(self.packed.shape)}")
        self.scalar = {"reward", "terminated"}  # stored as one column, returned as [B]
        pinned = self.device.type == "cuda"
        self._staging = torch.zeros(start, dtype=torch.float32, pin_memory=pinned)
        self._staged = np.asarray(self._staging.numpy())  # numpy view: filling it is plain memcpy
        self._copy_done = torch.cuda.Event() if pinned else None
        self.ptr, self.size = 0, 0

    def __len__(self) -> int:
        return self.size

    def _view(self, rows: torch.Tensor, key: str) -> torch.Tensor:
        column = rows[..., self.slices[key]]
        return column.squeeze(-1) if key in self.scalar else column

    @property
    def storage(self) -> dict[str, torch.Tensor]:
        """Per-field views of the packed storage (writes go through to it)."""
        return {key: self._view(self.packed, key) for key in self.FIELDS}

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        """Store one transition. ``terminated`` must exclude time-limit truncation."""
        if self._copy_done is not None:
            self._copy_done.synchronize()  # the previous asynchronous copy still reads the staging row
        values = {"obs": obs, "action": action, "reward": reward, "next_obs": next_obs, "terminated": terminated}
        for key, value in values.items():
            self._staged[self.slices[key]] = value
        self.packed[self.ptr].copy_(self._staging, non_blocking=self._copy_done is not None)
        if self._copy_done is not None:
            self._copy_done.record()
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        return self.fields(self.packed[self.sample_indices(batch_size)])

    def sample_indices(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Rows of one minibatch, drawn from ``generator`` (default: torch's global one on the device)."""
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        n_recent = batch_size - int(batch_size * (1.0 - self.recent_fraction)) if self.recent_fraction else 0
        idx = torch.randint(0, self.size, (batch_size - n_recent,), device=self.device, generator=generator)
        if n_recent:
            age = torch.randint(0, min(self.recent_window, self.size), (n_recent,), device=self.device,
                                generator=generator)
            idx = torch.cat([idx, (self.ptr - 1 - age) % self.capacity])  # age 0: the newest row
        return idx

    def fields(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        """Packed rows ([..., width]) as the batch dict."""
        return {key: self._view(rows, key) for key in self.FIELDS}

    def state_dict(self) -> dict:
        # Only the filled rows, per field (the checkpoint format does not depend on the packing).
        filled = self.packed[: self.size].cpu()
        return {"ptr": self.ptr, "size": self.size, **{k: self._view(filled, k).clone() for k in self.FIELDS}}

    def load_state_dict(self, state: dict) -> None:
        if state["size"] > self.capacity:
            raise ValueError(f"checkpointed buffer holds {state['size']} rows but capacity is {self.capacity}")
        self.ptr, self.size = state["ptr"], state["size"]
        for key in self.FIELDS:
            value = state[key].to(self.device)
            self.packed[: self.size, self.slices[key]] = value.unsqueeze(-1) if key in self.scalar else value

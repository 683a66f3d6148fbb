"""A preallocated ring buffer of transitions that lives on the training device.

Sampling uses torch's global generator on that device, so the RNG state captured in a
checkpoint reproduces the same minibatches after a resume.
"""

from __future__ import annotations

import torch


class ReplayBuffer:
    FIELDS = ("obs", "action", "reward", "next_obs", "terminated")

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str = "cpu"):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity, self.device = capacity, torch.device(device)
        shapes = {"obs": (obs_dim,), "action": (act_dim,), "reward": (), "next_obs": (obs_dim,), "terminated": ()}
        self.storage = {k: torch.zeros((capacity, *shape), dtype=torch.float32, device=self.device) for k, shape in shapes.items()}
        self.ptr, self.size = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        """Store one transition. ``terminated`` must exclude time-limit truncation."""
        values = {"obs": obs, "action": action, "reward": reward, "next_obs": next_obs, "terminated": terminated}
        for key, value in values.items():
            self.storage[key][self.ptr] = torch.as_tensor(value, dtype=torch.float32)
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        idx = torch.randint(0, self.size, (batch_size,), device=self.device)
        return {key: value[idx] for key, value in self.storage.items()}

    def state_dict(self) -> dict:
        # Only the filled rows: a checkpoint early in training stays small.
        return {"ptr": self.ptr, "size": self.size, **{k: v[: self.size].cpu() for k, v in self.storage.items()}}

    def load_state_dict(self, state: dict) -> None:
        if state["size"] > self.capacity:
            raise ValueError(f"checkpointed buffer holds {state['size']} rows but capacity is {self.capacity}")
        self.ptr, self.size = state["ptr"], state["size"]
        for key in self.FIELDS:
            self.storage[key][: self.size] = state[key].to(self.device)

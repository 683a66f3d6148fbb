"""The offline-to-online replay buffer: the dataset's flat transitions, then the online ones.

As the official code (``ReplayBuffer.create_from_initial_dataset``), the offline data stays in
the buffer, online transitions are appended after it and chunks are sampled uniformly over
everything (no 50/50 mixing). Chunks come from ``sample_chunks`` with the official
``sample_sequence`` semantics, so a chunk may run across an episode end (its ``valid`` mask
marks that).

Capacity is the dataset plus the whole online phase, so nothing is ever overwritten. (The
official buffer holds max(2M, N + 1) rows FIFO, which only differs for datasets over 1M
transitions, e.g. cube-triple, where its online data overwrites the oldest offline rows.)
A checkpoint stores only the online rows: the dataset part is reloaded from its file.
"""

from __future__ import annotations

import torch

from sacflow.datasets.chunking import random_chunk_starts, sample_chunks
from sacflow.datasets.offline import KEYS, OfflineDataset


class ChunkReplayBuffer:
    def __init__(self, dataset: OfflineDataset, online_capacity: int, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.offline_size = len(dataset)
        capacity = self.offline_size + max(online_capacity, 0)
        source = dataset.to_torch("cpu")
        self.storage = {}
        for key in KEYS:
            value = torch.zeros((capacity, *source[key].shape[1:]), dtype=torch.float32, device=self.device)
            value[: self.offline_size] = source[key]
            self.storage[key] = value
        self.size = self.offline_size

    def __len__(self) -> int:
        return self.size

    @property
    def capacity(self) -> int:
        return self.storage["rewards"].shape[0]

    def add(self, obs, action, reward: float, next_obs, terminated: bool, episode_end: bool) -> None:
        """One env step: ``masks`` = 1 - terminated (bootstrap through truncation),
        ``terminals`` = episode end (terminated or truncated), as the official online loop stores."""
        if self.size >= self.capacity:
            raise RuntimeError(f"replay buffer full ({self.capacity} rows): more online steps than configured")
        row = {"observations": obs, "actions": action, "rewards": reward, "next_observations": next_obs,
               "masks": 1.0 - float(terminated), "terminals": float(episode_end)}
        for key, value in row.items():
            self.storage[key][self.size] = torch.as_tensor(value, dtype=torch.float32)
        self.size += 1

    def sample(self, batch_size: int, horizon: int, gamma: float) -> dict[str, torch.Tensor]:
        view = {key: value[: self.size] for key, value in self.storage.items()}
        idx = random_chunk_starts(self.size, batch_size, horizon, device=self.device)
        return sample_chunks(view, idx, horizon, gamma, device=self.device, check=False)

    def state_dict(self) -> dict:
        return {"offline_size": self.offline_size, "size": self.size,
                **{key: value[self.offline_size : self.size].cpu() for key, value in self.storage.items()}}

    def load_state_dict(self, state: dict) -> None:
        if state["offline_size"] != self.offline_size:
            raise ValueError(f"checkpoint was taken with a {state['offline_size']}-row dataset, "
                             f"this one has {self.offline_size} rows")
        if state["size"] > self.capacity:
            raise ValueError(f"checkpointed buffer holds {state['size']} rows but capacity is {self.capacity}")
        self.size = state["size"]
        for key in KEYS:
            self.storage[key][self.offline_size : self.size] = state[key].to(self.device)

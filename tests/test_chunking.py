"""Chunk sampling against numbers worked out by hand, and against the official loop."""

import numpy as np
import pytest
import torch

from sacflow.datasets.chunking import random_chunk_starts, sample_chunks
from sacflow.datasets.offline import OfflineDataset


def two_episodes():
    """Episode A = rows 0..2 (ends at 2), episode B = rows 3..5 (ends at 5); obs_dim 1, act_dim 2."""
    return OfflineDataset({
        "observations": np.array([[10], [11], [12], [20], [21], [22]], dtype=np.float32),
        "next_observations": np.array([[11], [12], [13], [21], [22], [23]], dtype=np.float32),
        "actions": np.array([[t / 10, -t / 10] for t in range(6)], dtype=np.float32),
        "rewards": np.array([1, 2, 3, 4, 5, 6], dtype=np.float32),
        "masks": np.array([1, 1, 1, 0, 1, 1], dtype=np.float32),
        "terminals": np.array([0, 0, 1, 0, 0, 1], dtype=np.float32),
    })


def test_hand_computed_chunks_across_an_episode_boundary():
    # h = 3, gamma = 0.5. Start 4 lies past N - h = 3: its steps clamp to rows 4, 5, 5.
    out = sample_chunks(two_episodes(), torch.tensor([0, 1, 2, 3, 4]), horizon=3, gamma=0.5)
    expected = {
        # running max of the episode-end flags
        "terminals": [[0, 0, 1], [0, 1, 1], [1, 1, 1], [0, 0, 1], [0, 1, 1]],
        # 1, then 1 - terminals of the previous step
        "valid": [[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0]],
        # 1, 1+.5*2, 2+.25*3 | 2, 2+.5*3, +nothing (row 3 is in the next episode) | 3, 3, 3
        # | 4, 4+.5*5, 6.5+.25*6 | 5, 5+.5*6, 8 (the clamped repeat is invalid)
        "rewards": [[1, 2, 2.75], [2, 3.5, 3.5], [3, 3, 3], [4, 6.5, 8], [5, 8, 8]],
        # row 3's mask 0 lies after episode A's end: it must not leak into starts 1 and 2
        "masks": [[1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 0, 0], [1, 1, 1]],
    }
    for key, value in expected.items():
        torch.testing.assert_close(out[key], torch.tensor(value, dtype=torch.float32), msg=key)
    # s_{t+1..t+h}; after an episode end the last valid next-observation is repeated
    next_obs = [[11, 12, 13], [12, 13, 13], [13, 13, 13], [21, 22, 23], [22, 23, 23]]
    torch.testing.assert_close(out["next_observations"][..., 0], torch.tensor(next_obs, dtype=torch.float32))
    torch.testing.assert_close(out["observations"][:, 0], torch.tensor([10, 11, 12, 20, 21], dtype=torch.float32))
    # a_t..a_{t+2} flattened to [B, h*A]
    assert out["actions"].shape == (5, 6)
    torch.testing.assert_close(out["actions"][1], torch.tensor([0.1, -0.1, 0.2, -0.2, 0.3, -0.3]))
    torch.testing.assert_close(out["actions"][4], torch.tensor([0.4, -0.4, 0.5, -0.5, 0.5, -0.5]))


def official_loop(d, idxs, h, gamma):
    """The official sample_sequence loop, written out step by step (numpy, float64)."""
    b = len(idxs)
    rewards, masks, valid, terminals = np.zeros((b, h)), np.ones((b, h)), np.ones((b, h)), np.zeros((b, h))
    next_obs = np.zeros((b, h, d["observations"].shape[1]))
    for i in range(h):
        cur = idxs + i
        if i == 0:
            rewards[:, 0], masks[:, 0], terminals[:, 0] = d["rewards"][cur], d["masks"][cur], d["terminals"][cur]
        else:
            valid[:, i] = 1.0 - terminals[:, i - 1]
            rewards[:, i] = rewards[:, i - 1] + d["rewards"][cur] * gamma**i * valid[:, i]
            masks[:, i] = np.minimum(masks[:, i - 1], d["masks"][cur]) * valid[:, i] + masks[:, i - 1] * (1 - valid[:, i])
            terminals[:, i] = np.maximum(terminals[:, i - 1], d["terminals"][cur])
        v = valid[:, i : i + 1]
        next_obs[:, i] = d["next_observations"][cur] * v + (next_obs[:, i - 1] * (1 - v) if i else 0)
    return {"rewards": rewards, "masks": masks, "valid": valid, "terminals": terminals, "next_observations": next_obs}


def test_matches_the_official_loop_on_random_data():
    rng = np.random.default_rng(0)
    n, h = 400, 5
    data = {
        "observations": rng.normal(size=(n, 3)), "next_observations": rng.normal(size=(n, 3)),
        "actions": rng.uniform(-1, 1, size=(n, 2)), "rewards": rng.normal(size=n),
        "masks": (rng.uniform(size=n) > 0.2).astype(float), "terminals": (rng.uniform(size=n) < 0.15).astype(float),
    }
    dataset = OfflineDataset(data)
    idxs = rng.integers(0, n - h + 1, size=256)
    ours = sample_chunks(dataset, idxs, horizon=h, gamma=0.99)
    ref = official_loop(dataset.data, idxs, h, 0.99)
    for key, value in ref.items():
        np.testing.assert_allclose(ours[key].numpy(), value, rtol=1e-5, atol=1e-5, err_msg=key)
    steps = idxs[:, None] + np.arange(h)
    np.testing.assert_allclose(ours["actions"].numpy(), dataset["actions"][steps].reshape(256, -1))


def test_random_starts_follow_the_official_range():
    starts = random_chunk_starts(10, 5000, 4, generator=torch.Generator().manual_seed(0))
    assert starts.min() == 0 and starts.max() == 6  # [0, N - h]
    with pytest.raises(ValueError, match="cannot draw 4-step chunks from 3"):
        random_chunk_starts(3, 1, 4)


def test_mapping_input_device_dtype_and_errors():
    dataset = two_episodes()
    as_dict = {k: torch.as_tensor(v) for k, v in dataset.data.items()}
    a = sample_chunks(dataset, np.array([1, 3]), 2, 0.9, device="cpu")
    b = sample_chunks(as_dict, torch.tensor([1, 3]), 2, 0.9)
    for key in a:
        assert a[key].dtype == torch.float32 and a[key].device.type == "cpu"
        torch.testing.assert_close(a[key], b[key])
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        sample_chunks(dataset, [6], 2, 0.9)
    with pytest.raises(IndexError):
        sample_chunks(dataset, [-1], 2, 0.9)
    with pytest.raises(ValueError, match="horizon"):
        sample_chunks(dataset, [0], 0, 0.9)


def test_horizon_one_is_a_plain_transition_batch():
    dataset = two_episodes()
    out = sample_chunks(dataset, [2, 4], 1, 0.99)
    torch.testing.assert_close(out["rewards"][:, 0], torch.tensor([3.0, 5.0]))
    torch.testing.assert_close(out["next_observations"][:, 0, 0], torch.tensor([13.0, 22.0]))
    torch.testing.assert_close(out["valid"], torch.ones(2, 1))

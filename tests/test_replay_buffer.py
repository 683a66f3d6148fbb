import pytest
import torch

from sacflow.buffers.replay_buffer import ReplayBuffer
from sacflow.utils.checkpoint import load, save_atomic


def fill(buffer, n, start=0):
    for i in range(start, start + n):
        buffer.add([i, -i], [i / 10], float(i), [i + 1, -(i + 1)], float(i % 5 == 4))


def test_add_and_sample_keep_transitions_aligned():
    buffer = ReplayBuffer(100, obs_dim=2, act_dim=1)
    fill(buffer, 30)
    assert len(buffer) == 30
    batch = buffer.sample(64)
    i = batch["reward"]
    torch.testing.assert_close(batch["obs"][:, 0], i)
    torch.testing.assert_close(batch["next_obs"][:, 0], i + 1)
    torch.testing.assert_close(batch["action"][:, 0], i / 10)
    torch.testing.assert_close(batch["terminated"], (i % 5 == 4).float())
    assert (i < 30).all()


def test_ring_buffer_overwrites_oldest():
    buffer = ReplayBuffer(10, obs_dim=2, act_dim=1)
    fill(buffer, 25)
    assert len(buffer) == 10 and buffer.ptr == 5
    assert sorted(buffer.storage["reward"].tolist()) == list(map(float, range(15, 25)))


def test_state_round_trip_and_seeded_sampling(tmp_path):
    buffer = ReplayBuffer(50, obs_dim=2, act_dim=1)
    fill(buffer, 20)
    save_atomic(buffer.state_dict(), tmp_path / "b.pt")
    restored = ReplayBuffer(50, obs_dim=2, act_dim=1)
    restored.load_state_dict(load(tmp_path / "b.pt"))
    torch.manual_seed(3)
    a = buffer.sample(16)
    torch.manual_seed(3)
    b = restored.sample(16)
    for key in ReplayBuffer.FIELDS:
        torch.testing.assert_close(a[key], b[key])
    fill(buffer, 1, 20)
    fill(restored, 1, 20)
    assert buffer.ptr == restored.ptr and len(buffer) == len(restored) == 21


def test_errors_are_clear():
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, 2, 1)
    with pytest.raises(RuntimeError, match="empty"):
        ReplayBuffer(5, 2, 1).sample(1)


def test_packed_rows_keep_every_field_apart():
    """Fields with widths 3 / 2 / 1 / 3 / 1 sit side by side in one row: none leaks into another."""
    buffer = ReplayBuffer(4, obs_dim=3, act_dim=2)
    buffer.add([1, 2, 3], [4, 5], 6.0, [7, 8, 9], 1.0)
    assert buffer.packed[0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 1]
    batch = buffer.sample(2)
    assert batch["obs"].shape == (2, 3) and batch["action"].shape == (2, 2) and batch["reward"].shape == (2,)
    assert batch["next_obs"][0].tolist() == [7, 8, 9] and batch["terminated"].tolist() == [1.0, 1.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pinned_staging_on_cuda_stores_what_the_cpu_buffer_stores():
    cpu, gpu = ReplayBuffer(64, 2, 1), ReplayBuffer(64, 2, 1, device="cuda")
    fill(cpu, 40)
    fill(gpu, 40)  # back-to-back asynchronous copies from the one pinned staging row
    torch.testing.assert_close(gpu.packed.cpu(), cpu.packed)


def test_recent_fraction_draws_its_share_from_the_newest_rows():
    # batch 10 at 0.2: int(10 * 0.8) = 8 uniform rows, then 2 from the newest 5 (FlowRL's split)
    buffer = ReplayBuffer(10, obs_dim=2, act_dim=1, recent_fraction=0.2, recent_window=5)
    fill(buffer, 25)  # the ring holds 15..24; the newest five are 20..24
    for seed in range(20):
        torch.manual_seed(seed)
        obs = buffer.sample(10)["obs"][:, 0]
        assert set(obs[:8].tolist()) <= set(range(15, 25))
        assert set(obs[8:].tolist()) <= set(range(20, 25))


def test_recent_window_is_capped_by_what_the_buffer_holds():
    buffer = ReplayBuffer(100, obs_dim=2, act_dim=1, recent_fraction=0.5, recent_window=2048)
    fill(buffer, 3)
    torch.manual_seed(0)
    assert set(buffer.sample(64)["obs"][32:, 0].tolist()) <= {0.0, 1.0, 2.0}


def test_zero_recent_fraction_samples_exactly_as_the_uniform_buffer():
    plain = ReplayBuffer(50, obs_dim=2, act_dim=1)
    mixed = ReplayBuffer(50, obs_dim=2, act_dim=1, recent_fraction=0.0, recent_window=4)
    fill(plain, 30), fill(mixed, 30)
    torch.manual_seed(3)
    a = plain.sample(16)
    torch.manual_seed(3)
    b = mixed.sample(16)
    assert all(torch.equal(a[k], b[k]) for k in a)

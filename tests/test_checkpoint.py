import pickle
import random
import threading

import gymnasium as gym
import numpy as np
import pytest
import torch

from sacflow.utils.checkpoint import latest_path, load, numpy_to_torch, save_atomic
from sacflow.utils.rng import (
    capture_rng_state,
    generator_state,
    restore_rng_state,
    seed_everything,
    set_generator_state,
)


def test_latest_path(tmp_path):
    assert latest_path(tmp_path) == tmp_path / "checkpoints" / "latest.pt"


def test_round_trip_nested_dict(tmp_path):
    obj = {
        "agent": {"actor": {"w": torch.randn(3, 4), "b": torch.zeros(4)}, "log_alpha": torch.tensor(-1.0)},
        "optim": [{"step": torch.tensor(5.0), "lr": 3e-4}],
        "step": 12345,
        "big_int": 2**100,
        "name": "sac",
        "shape": (3, 4),
        "flags": [True, None],
    }
    path = latest_path(tmp_path)
    save_atomic(obj, path)  # creates checkpoints/
    loaded = load(path)
    assert torch.equal(loaded["agent"]["actor"]["w"], obj["agent"]["actor"]["w"])
    assert loaded["optim"][0]["lr"] == 3e-4 and loaded["big_int"] == 2**100
    assert loaded["shape"] == (3, 4) and loaded["flags"] == [True, None] and loaded["name"] == "sac"


def test_leftover_tmp_from_crashed_save_does_not_break_load(tmp_path):
    path = latest_path(tmp_path)
    save_atomic({"step": 1}, path)
    path.with_name(path.name + ".tmp").write_bytes(b"half a checkpoint")  # crash mid-save
    assert load(path) == {"step": 1}

    save_atomic({"step": 2}, path)  # the next save just overwrites the leftover
    assert load(path) == {"step": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["latest.pt"]


def test_failed_save_keeps_previous_checkpoint(tmp_path):
    path = latest_path(tmp_path)
    save_atomic({"step": 1}, path)
    with pytest.raises(TypeError):
        save_atomic({"step": 2, "lock": threading.Lock()}, path)  # locks cannot be pickled
    assert load(path) == {"step": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["latest.pt"]


def test_numpy_data_needs_conversion_for_weights_only(tmp_path):
    path = tmp_path / "ckpt.pt"
    data = {"obs_mean": np.arange(3, dtype=np.float32), "count": np.int64(7), "pair": (np.float64(0.5),)}
    save_atomic(data, path)
    with pytest.raises(pickle.UnpicklingError):  # weights_only rejects numpy arrays
        load(path)

    save_atomic(numpy_to_torch(data), path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded["obs_mean"].numpy(), data["obs_mean"])
    assert loaded["count"] == 7 and loaded["pair"] == (0.5,)


def draws(generators):
    return (
        [random.random() for _ in range(3)],
        np.random.randn(3).tolist(),  # randn also exercises numpy's cached gaussian
        torch.rand(3).tolist(),
        [gen.random(3).tolist() for gen in generators],
    )


def test_rng_state_survives_checkpoint_round_trip(tmp_path):
    env = gym.make("Pendulum-v1")
    env.reset(seed=3)
    generators = [env.unwrapped.np_random, np.random.default_rng(1), np.random.Generator(np.random.MT19937(2))]

    seed_everything(0)
    draws(generators)  # advance every generator away from its seeded state
    np.random.randn()  # leave a cached gaussian in numpy's legacy state
    save_atomic(
        {"rng": capture_rng_state(), "generators": [generator_state(gen) for gen in generators]},
        tmp_path / "ckpt.pt",
    )
    expected = draws(generators)

    seed_everything(123)  # scramble everything, as a fresh process would
    for gen in generators:
        gen.random(7)
    state = load(tmp_path / "ckpt.pt")  # weights_only=True
    restore_rng_state(state["rng"])
    for gen, gen_state in zip(generators, state["generators"]):
        set_generator_state(gen, gen_state)
    assert draws(generators) == expected
    env.close()


def test_seed_everything_is_reproducible():
    seed_everything(7)
    first = draws([])
    seed_everything(7)
    assert draws([]) == first

"""The offline-to-online replay buffer and the open-loop, side-by-side chunk evaluation."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from sacflow.buffers.chunk_buffer import ChunkReplayBuffer
from sacflow.datasets.offline import OfflineDataset
from sacflow.envs.manipulation import ManipulationEnvSpec, make_vector_env, sparse_reward
from sacflow.evaluation import evaluate_chunked


def dataset(n=6):
    return OfflineDataset({
        "observations": np.arange(n, dtype=np.float32)[:, None].repeat(2, 1),
        "next_observations": np.arange(1, n + 1, dtype=np.float32)[:, None].repeat(2, 1),
        "actions": np.zeros((n, 1)), "rewards": -np.ones(n), "masks": np.ones(n),
        "terminals": np.eye(n)[n - 1],
    })


def test_online_rows_follow_the_dataset_and_only_they_are_checkpointed():
    buffer = ChunkReplayBuffer(dataset(), online_capacity=3)
    assert len(buffer) == 6 and buffer.capacity == 9
    buffer.add([10, 10], [0.5], 0.0, [11, 11], terminated=True, episode_end=True)
    buffer.add([20, 20], [-0.5], -1.0, [21, 21], terminated=False, episode_end=True)  # truncated
    assert buffer.storage["masks"][6:8].tolist() == [0.0, 1.0]  # bootstrap through truncation
    assert buffer.storage["terminals"][6:8].tolist() == [1.0, 1.0]
    state = buffer.state_dict()
    assert state["observations"].shape == (2, 2)  # the dataset part is reloaded from its file
    restored = ChunkReplayBuffer(dataset(), online_capacity=3)
    restored.load_state_dict(state)
    for key, value in buffer.storage.items():
        assert torch.equal(value, restored.storage[key]), key
    buffer.add([30, 30], [0.0], 0.0, [31, 31], terminated=False, episode_end=False)
    with pytest.raises(RuntimeError, match="replay buffer full"):
        buffer.add([40, 40], [0.0], 0.0, [41, 41], terminated=False, episode_end=False)
    with pytest.raises(ValueError, match="6-row dataset, this one has 5"):
        ChunkReplayBuffer(dataset(5), online_capacity=3).load_state_dict(state)


def test_sampled_chunks_cover_dataset_and_online_rows():
    buffer = ChunkReplayBuffer(dataset(), online_capacity=50)
    for i in range(50):
        buffer.add([100 + i] * 2, [0.1], -1.0, [101 + i] * 2, terminated=False, episode_end=(i % 10 == 9))
    torch.manual_seed(0)
    batch = buffer.sample(512, horizon=3, gamma=0.5)
    assert batch["actions"].shape == (512, 3) and batch["next_observations"].shape == (512, 3, 2)
    starts = batch["observations"][:, 0]
    assert starts.min() < 6 and starts.max() >= 100 and starts.max() <= 100 + 50 - 3  # never past the last row
    full = batch["valid"].min(1).values == 1
    torch.testing.assert_close(batch["rewards"][full, -1], torch.full((int(full.sum()),), -1.75))


class CountdownEnv(gym.Env):
    """A real (tiny) task: the episode of seed s terminates after 2 + s % 3 steps, successfully
    when s is even; otherwise it is truncated after 6 steps. Records every action it receives."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.received = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.seed_, self.t = (1 if seed is None else seed), 0  # the vector env's autoreset passes None
        return np.array([self.seed_], dtype=np.float32), {"success": False}

    def step(self, action):
        self.received.append(float(action[0]))
        self.t += 1
        ends = self.seed_ % 2 == 0 and self.t == 2 + self.seed_ % 3
        return np.array([self.seed_], np.float32), 1.0, ends, (not ends) and self.t >= 6, {"success": ends}


def test_chunked_evaluation_runs_chunks_open_loop_and_counts_each_episode_once():
    vector = gym.vector.SyncVectorEnv([CountdownEnv] * 2)
    calls = []

    def act_fn(obs):  # chunk j-th entry = 0.1 * j, plus 0.01 * call index; out-of-range parts get clipped
        calls.append(obs.copy())
        return np.array([[0.1 * j + 0.01 * len(calls) for j in range(3)]] * len(obs)) + np.array([[0, 0, 5.0]])

    # seeds 10..14: 10 -> success after 3 steps, 11 -> truncated at 6, 12 -> success after 2,
    # 13 -> truncated at 6, 14 -> success after 4 (episode 5 runs alone in a 2-env round)
    stats = evaluate_chunked(vector, act_fn, episodes=5, horizon=3, act_dim=1, seed=10)
    assert stats["eval/success"] == pytest.approx(3 / 5)
    assert stats["eval/length"] == pytest.approx((3 + 6 + 2 + 6 + 4) / 5)
    assert stats["eval/return"] == stats["eval/length"]  # reward 1 per step
    first = vector.envs[0].received[:3]
    assert first == pytest.approx([0.01, 0.11, 1.0])  # one chunk, in order, clipped to [-1, 1]
    assert calls[0][:, 0].tolist() == [10.0, 11.0]  # one batched policy call for both envs


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning", "ignore:.*DISPLAY environment variable")
def test_worker_processes_match_in_process_evaluation():
    spec = ManipulationEnvSpec("ogbench", "cube-double-singletask-task2-v0", max_episode_steps=10)
    act = lambda obs: np.tanh(obs[:, :25] * 0.3)
    results = []
    for asynchronous in (False, True):
        vector = make_vector_env(spec, 2, asynchronous)
        results.append(evaluate_chunked(vector, act, episodes=3, horizon=5, act_dim=5, seed=0))
        vector.close()
    assert results[0] == results[1] and results[0]["eval/length"] == 10


def test_sparse_reward_marks_every_nonzero_reward():
    assert sparse_reward(np.array([0.0, -1.0, -2.0, 0.5])).tolist() == [0.0, -1.0, -1.0, -1.0]

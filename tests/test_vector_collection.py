"""Vectorised collection and evaluation of the from-scratch trainer, against explicit single-env loops."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, TINY, TINY_VELOCITY, compose_config
from hydra.utils import get_class
from resume_check import assert_same_run, kill_after_checkpoint, resume

from sacflow.envs.manipulation import make_vector_env
from sacflow.envs.mujoco import MujocoEnvSpec, make_mujoco_env
from sacflow.evaluation import evaluate, vector_episodes
from sacflow.trainers.online import OnlineTrainer
from sacflow.utils.checkpoint import latest_path, load

PENDULUM = MujocoEnvSpec("InvertedPendulum-v4", 100)
FLOW_T = ["velocity=flow_t", *TINY_VELOCITY["flow_t"]]


def tiny_agent(spec):
    cfg = compose_config([*TINY, *FLOW_T])
    env = spec()
    low, high = env.action_space.low, env.action_space.high
    torch.manual_seed(3)
    return get_class(cfg.agent.cls).build(cfg, env.observation_space.shape[0], low.shape[0], low, high)


def sequential_episodes(spec, act_one, episodes, seed):
    """The sequential protocol written out: episode i on one env, reset with seed + i."""
    env, returns, lengths = spec(), [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, length, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act_one(obs))
            total, length, done = total + float(reward), length + 1, terminated or truncated
        returns.append(total)
        lengths.append(length)
    return returns, lengths


def test_parallel_episodes_equal_sequential_ones_exactly():
    """Same seeds, same per-episode returns and lengths, with worker processes and rounds of 3 + 2."""
    agent = tiny_agent(PENDULUM)

    def act_one(obs):
        return agent.act(torch.as_tensor(obs, dtype=torch.float32)[None], deterministic=True)[0].numpy()

    returns, lengths = sequential_episodes(PENDULUM, act_one, 5, seed=7)
    assert len(set(lengths)) > 1  # episodes end at different steps inside a round
    # Row by row, so the policy's float rounding is that of the sequential calls (see the next test).
    vector = make_vector_env(PENDULUM, 3, asynchronous=True)
    stats = vector_episodes(vector, lambda obs: np.stack([act_one(row) for row in obs]), 5, seed=7)
    vector.close()
    assert stats["return"].tolist() == returns and stats["length"].tolist() == lengths
    assert "success" not in stats


def test_batched_evaluation_one_worker_is_the_sequential_protocol_and_more_are_reproducible():
    agent = tiny_agent(PENDULUM)
    seed, step = 4, 300
    one = make_vector_env(PENDULUM, 1, asynchronous=False)
    rng_before = torch.get_rng_state()
    metrics = evaluate(agent, one, 3, seed, step, ["det", "stoch"], torch.device("cpu"))
    assert torch.equal(torch.get_rng_state(), rng_before)  # evaluation does not move the training RNG
    for mode in ("det", "stoch"):
        torch.manual_seed(seed * 1_000_003 + step)
        def act_one(obs, deterministic=mode == "det"):
            return agent.act(torch.as_tensor(obs, dtype=torch.float32)[None], deterministic=deterministic)[0].numpy()

        returns, lengths = sequential_episodes(PENDULUM, act_one, 3, seed + 10_000)
        assert metrics[f"eval/return_{mode}"] == np.mean(returns) and metrics[f"eval/length_{mode}"] == np.mean(lengths)
        assert metrics[f"eval/return_std_{mode}"] == np.std(returns)
    # Several workers: one batched call per step. Float kernels round a batch of rows differently
    # from single rows, and noise is drawn for all rows at once, so only reproducibility is exact.
    runs = []
    for asynchronous in (False, True, True):
        vector = make_vector_env(PENDULUM, 3, asynchronous)
        runs.append(evaluate(agent, vector, 5, seed, step, ["det", "stoch"], torch.device("cpu")))
        vector.close()
    assert runs[0] == runs[1] == runs[2]
    vector = make_vector_env(PENDULUM, 3, asynchronous=False)
    later = evaluate(agent, vector, 5, seed, step + 1, ["stoch"], torch.device("cpu"))
    assert later["eval/return_stoch"] != runs[0]["eval/return_stoch"]  # the noise depends on (seed, step)


def reference_transitions(env_id, max_steps, num_envs, seed, steps):
    """Random warm-up collection written out with one plain env per stream, reset by hand."""
    envs = [make_mujoco_env(env_id, max_steps) for _ in range(num_envs)]
    obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    low, high = envs[0].action_space.low, envs[0].action_space.high
    rng = np.random.default_rng(seed)
    rows, episodes, ep_return = [], [], [0.0] * num_envs
    for _ in range(steps // num_envs):
        actions = rng.uniform(low, high, size=(num_envs, len(low))).astype(np.float32)
        for i, env in enumerate(envs):
            next_obs, reward, terminated, truncated, _ = env.step(actions[i])
            rows.append((obs[i], actions[i], reward, next_obs, float(terminated)))
            ep_return[i] += reward
            obs[i] = next_obs
            if terminated or truncated:
                episodes.append((i, ep_return[i], terminated))
                obs[i], ep_return[i] = env.reset()[0], 0.0
    return rows, episodes


@pytest.mark.parametrize("num_envs", [1, 3])
def test_buffer_holds_true_final_observations_and_nothing_across_resets(num_envs, tmp_path):
    """Hopper under random actions: episodes end by falling and by the time limit, in each stream."""
    steps, max_steps, seed = 180, 15, 2
    cfg = compose_config([*TINY, "env=hopper", f"env.max_episode_steps={max_steps}", f"total_steps={steps}",
                          "learning_starts=180", "eval.every=0", f"num_envs={num_envs}", f"seed={seed}",
                          "velocity=mlp", *TINY_VELOCITY["mlp"], f"out_dir={tmp_path}"])
    trainer = OnlineTrainer(cfg, tmp_path)
    trainer.run()
    rows, episodes = reference_transitions("Hopper-v4", max_steps, num_envs, seed, steps)
    assert {terminated for _, _, terminated in episodes} == {True, False}  # falls and time limits both happen
    assert len(trainer.buffer) == steps
    for key, column in zip(("obs", "action", "reward", "next_obs", "terminated"), zip(*rows)):
        expected = torch.as_tensor(np.array(column), dtype=torch.float32)
        assert torch.equal(trainer.buffer.storage[key][:steps], expected), key
    train = pd.read_csv(tmp_path / "train.csv", float_precision="round_trip")  # the default parser may miss an ulp
    assert train["train/episode_return"].tolist() == [ret for _, ret, _ in episodes]
    assert train["train/episode"].tolist() == list(range(1, len(episodes) + 1))
    if num_envs > 1:
        assert train["train/env"].tolist() == [i for i, _, _ in episodes]


def launch(args, env):
    return subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def test_launch_with_three_envs_and_two_updates_per_transition(tmp_path, subprocess_env):
    args = [*TINY, *FLOW_T, "total_steps=150", "learning_starts=60", "num_envs=3", "utd=2", "eval.every=75",
            "eval.episodes=3", "eval.workers=2", "eval.asynchronous=true", f"out_dir={tmp_path}"]
    result = launch(args, subprocess_env)
    assert result.returncode == 0, result.stderr[-2000:]
    final = load(latest_path(tmp_path))
    assert final["step"] == 150
    # utd updates for every transition from learning_starts on, as the single-env loop makes one per step
    assert final["agent"]["counters"]["num_updates"] == 2 * (150 - 60 + 1)
    train = pd.read_csv(tmp_path / "train.csv")
    assert set(train["train/env"]) == {0, 1, 2} and (train["step"] % 3 == 0).all()
    assert pd.read_csv(tmp_path / "eval.csv")["step"].tolist() == [75, 150]
    assert pd.read_csv(tmp_path / "update.csv")["step"].tolist() == [51, 102, 150]  # first step past each multiple of 50


@pytest.mark.parametrize("override,message", [
    ("num_envs=0", "num_envs=0: must be positive"),
    ("total_steps=301", "total_steps=301: must be a multiple of num_envs=2"),
    ("eval.workers=0", "eval.workers=0: must be positive"),
])
def test_bad_vector_settings_stop_with_the_key(override, message, tmp_path, subprocess_env):
    result = launch([*TINY, "num_envs=2", override, f"out_dir={tmp_path}"], subprocess_env)
    assert result.returncode == 2 and message in result.stderr


def test_sigkill_mid_episode_then_resume_matches_uninterrupted_run_with_two_envs(tmp_path, subprocess_env):
    args = [*TINY, *FLOW_T, "total_steps=600", "checkpoint_every=150", "env.max_episode_steps=70", "num_envs=2",
            "eval.every=300", "eval.episodes=2", "eval.workers=2", "eval.asynchronous=true"]
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    assert launch([*args, f"out_dir={reference}"], subprocess_env).returncode == 0

    cmd = [sys.executable, "launch.py", *args, f"out_dir={resumed}"]
    checkpoint = latest_path(resumed)
    killed_at = kill_after_checkpoint(cmd, checkpoint, 300, subprocess_env)
    state = load(checkpoint)
    assert 0 < killed_at < 600
    assert (state["envs"]["lengths"] > 0).any()  # mid-episode: a simulator state was saved

    resume(cmd, resumed, killed_at, subprocess_env)
    assert_same_run(reference, resumed, {"train", "update", "eval"})

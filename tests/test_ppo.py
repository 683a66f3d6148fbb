"""PPO pieces on hand-checked tiny cases (GAE, clipped policy loss, value loss, entropy, target-KL stop,
critic warm-up, normalisers), the MuJoCo snapshot, and a run of the on-policy trainer through launch.py."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT

from sacflow.agents.on_policy import OnPolicyAgent
from sacflow.agents.ppo import GaussianPPOPolicy, orthogonal_mlp
from sacflow.agents.ppo_loss import gae, policy_loss, value_loss
from sacflow.agents.running_norm import ObservationNormalizer, RewardScaler
from sacflow.envs import snapshot
from sacflow.envs.mujoco import make_mujoco_env
from sacflow.utils.checkpoint import load, save_atomic


def reference_gae(rewards, values, next_values, terminated, ended, gamma, lam):
    """Forward sums: A_t = sum_l (gamma lam)^l delta_{t+l}, stopping after the step that ends the episode."""
    T, N = len(rewards), len(rewards[0])
    adv = np.zeros((T, N))
    for n in range(N):
        for t in range(T):
            total, weight = 0.0, 1.0
            for u in range(t, T):
                delta = rewards[u][n] + gamma * (1 - terminated[u][n]) * next_values[u][n] - values[u][n]
                total += weight * delta
                if ended[u][n]:
                    break
                weight *= gamma * lam
            adv[t, n] = total
    return adv


def test_gae_with_terminations_and_truncations_matches_forward_sums():
    # env 0: terminates at t=1 (no bootstrap), env 1: truncated at t=2 (bootstraps through V(s'_2) = 5)
    rewards = [[1.0, 0.5], [2.0, 0.0], [0.0, 1.0], [1.0, -1.0]]
    values = [[0.5, 1.0], [1.0, 2.0], [0.2, 3.0], [0.3, 0.1]]
    next_values = [[1.0, 2.0], [9.0, 3.0], [0.3, 5.0], [0.7, 0.4]]
    terminated = [[0, 0], [1, 0], [0, 0], [0, 0]]
    ended = [[0, 0], [1, 0], [0, 1], [0, 0]]
    gamma, lam = 0.9, 0.8
    t = [torch.tensor(x, dtype=torch.float64) for x in (rewards, values, next_values, terminated, ended)]
    adv, ret = gae(*t, gamma, lam)
    expected = reference_gae(rewards, values, next_values, terminated, ended, gamma, lam)
    np.testing.assert_allclose(adv.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(ret.numpy(), expected + np.array(values), rtol=1e-12)
    # By hand: env 0, t=1 is terminal: A = r - V = 2 - 1 = 1 (the 9 is never used)
    assert adv[1, 0].item() == pytest.approx(1.0)
    # env 1, t=2 is truncated: A = 1 + 0.9 * 5 - 3 = 2.5 (t=3 belongs to the next episode)
    assert adv[2, 1].item() == pytest.approx(2.5)
    # env 0, t=0: delta_0 = 1 + 0.9 * 1 - 0.5 = 1.4, plus 0.72 * A_1 = 0.72
    assert adv[0, 0].item() == pytest.approx(1.4 + 0.72 * 1.0)


def test_clipped_policy_loss_by_hand():
    old = torch.zeros(4)
    # ratios e^0.5 (clipped above), e^-0.5 (clipped below), 1.1 (inside), e^0.5 with a negative advantage
    new = torch.tensor([0.5, -0.5, math.log(1.1), 0.5])
    adv = torch.tensor([2.0, -1.0, 3.0, -1.0])
    loss, info = policy_loss(new, old, adv, clip=0.2)
    r = np.exp(new.numpy())
    per_sample = [-2.0 * 1.2,              # min(r A, 1.2 A) with A > 0, r > 1.2: clipped
                  max(1.0 * r[1], 1.0 * 0.8),   # A < 0, r < 0.8: -A * max(r, 0.8)... = max(-A r, -A 0.8)
                  -3.0 * 1.1,               # inside the clip range
                  1.0 * r[3]]               # A < 0, r > 1.2: the unclipped ratio is the pessimistic one
    assert loss.item() == pytest.approx(np.mean(per_sample), rel=1e-6)
    assert info["losses/clip_fraction"].item() == pytest.approx(0.75)
    kl = np.mean((r - 1) - new.numpy())
    assert info["losses/approx_kl"].item() == pytest.approx(kl, rel=1e-6)


def test_value_loss_plain_and_clipped():
    values, old, returns = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.5, 0.0, 1.0]), torch.tensor([2.0, 1.0, 1.1])
    plain, _ = value_loss(values, old, returns, None)
    assert plain.item() == pytest.approx(0.5 * np.mean([1.0, 1.0, 0.81]))
    clipped, _ = value_loss(values, old, returns, 0.2)
    # clipped values: 0.7, 0.0, 1.2 -> errors 1.69, 1.0, 0.01; max with the plain ones: 1.69, 1.0, 0.81
    assert clipped.item() == pytest.approx(0.5 * np.mean([1.69, 1.0, 0.81]))


def tiny_agent(**kwargs) -> OnPolicyAgent:
    torch.manual_seed(0)
    policy = GaussianPPOPolicy(3, 2, [-1.0, -1.0], [1.0, 1.0], hidden=(8,), init_log_std=-0.5)
    value = orthogonal_mlp(3, (8,), 1, "tanh", 1.0)
    args = {"actor_lr": 1e-2, "critic_lr": 1e-2, "gamma": 0.99, "epochs": 2, "minibatches": 4}
    return OnPolicyAgent(policy, value, 3, **{**args, **kwargs})


def tiny_rollout(agent, T=8, N=2):
    obs = torch.randn(T, N, 3)
    _, samples, log_probs = agent.explore(obs.reshape(-1, 3))
    return {"obs": obs, "samples": samples.reshape(T, N, 2), "log_probs": log_probs.reshape(T, N),
            "rewards": torch.randn(T, N), "terminated": torch.zeros(T, N), "ended": torch.zeros(T, N),
            "next_obs": torch.randn(T, N, 3)}


def test_gaussian_entropy_and_total_loss_terms():
    agent = tiny_agent(ent_coef=0.1, vf_coef=0.5)
    obs, sample = torch.randn(5, 3), torch.randn(5, 2)
    log_prob, entropy = agent.policy.log_prob(obs, sample)
    std = math.exp(-0.5)
    assert torch.allclose(entropy, torch.full((5,), 2 * (0.5 + 0.5 * math.log(2 * math.pi) + math.log(std))))
    mean = agent.policy.mean(obs)
    by_hand = (-0.5 * ((sample - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
    assert torch.allclose(log_prob, by_hand, atol=1e-6)
    mb = {"obs": obs, "samples": sample, "log_probs": log_prob.detach() - 0.05, "values": torch.zeros(5),
          "advantages": torch.randn(5), "returns": torch.randn(5)}
    loss, info = agent._minibatch_loss(mb, warmup=False)
    expected = info["losses/policy"] + 0.5 * info["losses/value"] - 0.1 * entropy.mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_target_kl_stops_the_update_before_the_offending_minibatch():
    agent = tiny_agent(target_kl=None)
    free = agent.update(tiny_rollout(agent), iteration=0)
    assert free["ppo/minibatch_updates"] == 8 and free["ppo/kl_stop"] == 0.0
    agent = tiny_agent(target_kl=1e-12)
    stopped = agent.update(tiny_rollout(agent), iteration=0)
    # the first minibatch has ratio 1 (KL exactly 0 <= target), the step moves the policy, the second exceeds it
    assert stopped["ppo/minibatch_updates"] == 1 and stopped["ppo/kl_stop"] == 1.0


def test_critic_warmup_moves_only_the_value_function():
    agent = tiny_agent(critic_warmup_iterations=1)
    policy_before = [p.detach().clone() for p in agent.policy.parameters()]
    value_before = [p.detach().clone() for p in agent.value.parameters()]
    info = agent.update(tiny_rollout(agent), iteration=0)
    assert info["ppo/critic_warmup"] == 1.0 and "losses/policy" not in info
    assert all(torch.equal(a, b) for a, b in zip(policy_before, agent.policy.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(value_before, agent.value.parameters()))
    info = agent.update(tiny_rollout(agent), iteration=1)
    assert "losses/policy" in info
    assert not all(torch.equal(a, b) for a, b in zip(policy_before, agent.policy.parameters()))


def test_lr_annealing_follows_the_used_budget():
    agent = tiny_agent(anneal_lr=True)
    agent.update(tiny_rollout(agent), iteration=0, progress=0.75)
    assert [g["lr"] for g in agent.optim.param_groups] == pytest.approx([2.5e-3, 2.5e-3])


def pooled(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the data pooled with gymnasium's prior (count 1e-4, mean 0, variance 1)."""
    count = 1e-4 + len(values)
    mean = values.sum(0) / count
    var = (1e-4 * (1.0 + mean**2) + ((values - mean) ** 2).sum(0)) / count
    return mean, var


def test_normalisers_match_pooled_statistics():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(4, 2)).astype(np.float32).astype(np.float64) for _ in range(3)]
    norm = ObservationNormalizer(2, enabled=True, clip=10.0)
    for b in batches:
        out = norm(torch.as_tensor(b, dtype=torch.float32), update=True)
    mean, var = pooled(np.concatenate(batches))
    np.testing.assert_allclose(norm.stats.mean.numpy(), mean, rtol=1e-9)
    np.testing.assert_allclose(norm.stats.var.numpy(), var, rtol=1e-9)
    np.testing.assert_allclose(out.numpy(), np.clip((batches[-1] - mean) / np.sqrt(var + 1e-8), -10, 10), rtol=1e-5)
    assert torch.equal(ObservationNormalizer(2, enabled=False)(torch.ones(1, 2) * 50), torch.ones(1, 2) * 50)

    scaler = RewardScaler(2, gamma=0.5, enabled=True)
    rewards = [np.array([1.0, 2.0]), np.array([1.0, 0.0]), np.array([3.0, 1.0])]
    ended = [np.array([0.0, 1.0]), np.array([0.0, 0.0]), np.array([0.0, 0.0])]
    returns, history = np.zeros(2), []
    for r, e in zip(rewards, ended):
        scaled = scaler(torch.as_tensor(r), torch.as_tensor(e))
        returns = returns * 0.5 + r  # env 1's return restarts after its episode ends at the first step
        history.append(returns.copy())
        returns = returns * (1 - e)
        _, var = pooled(np.concatenate(history))
        np.testing.assert_allclose(scaled.numpy(), r / np.sqrt(var + 1e-8), rtol=1e-9)


@pytest.mark.parametrize("env_id", ["InvertedPendulum-v4", "Hopper-v4"])
def test_snapshot_restores_a_mujoco_env_mid_episode(env_id, tmp_path):
    rng = np.random.default_rng(0)
    original = make_mujoco_env(env_id, 25)
    original.reset(seed=3)
    for _ in range(6):
        original.step(rng.uniform(-0.3, 0.3, original.action_space.shape))
    save_atomic(snapshot.capture(original), tmp_path / "snap.pt")
    copy = make_mujoco_env(env_id, 25)
    copy.reset(seed=99)
    snapshot.restore(copy, load(tmp_path / "snap.pt"))
    ends = 0
    for _ in range(60):  # through the 25-step time limit and the reset that follows
        action = rng.uniform(-0.3, 0.3, original.action_space.shape)
        a, b = original.step(action), copy.step(action)
        assert np.array_equal(a[0], b[0]) and a[1:4] == b[1:4]
        if a[2] or a[3]:
            ends += 1
            assert np.array_equal(original.reset()[0], copy.reset()[0])
    assert ends >= 2


PPO_TINY = ["experiment=ppo/mujoco", "env=inverted_pendulum", "env.max_episode_steps=50", "agent.num_envs=2",
            "agent.rollout_steps=64", "agent.minibatches=4", "agent.epochs=2", "eval.episodes=2", "eval.workers=2",
            "logger=csv", "device=cpu"]


def test_ppo_runs_through_the_entry_point(tmp_path, subprocess_env):
    out = tmp_path / "run"
    args = [*PPO_TINY, "total_steps=512", "eval.every=256", "checkpoint_every=256", f"out_dir={out}"]
    result = subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=subprocess_env, check=False, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    updates = pd.read_csv(out / "update.csv")
    assert updates["step"].tolist() == [128, 256, 384, 512]
    assert updates["losses/policy"].notna().all() and (updates["ppo/minibatch_updates"] == 8).all()
    evals = pd.read_csv(out / "eval.csv")
    assert evals["step"].tolist() == [256, 512] and evals["eval/return_det"].notna().all()
    train = pd.read_csv(out / "train.csv")
    assert len(train) > 0 and (train["train/episode_length"] <= 50).all()
    for name in ("learning_curve.png", "run_info.json", "checkpoints/latest.pt"):
        assert (out / name).exists(), name
    bad = subprocess.run([sys.executable, "launch.py", *PPO_TINY, "agent.rollout_steps=0", f"out_dir={tmp_path / 'bad'}"],
                         cwd=ROOT, env=subprocess_env, check=False, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("sacflow: config error: agent.rollout_steps=0:")

"""ReinFlow: the noisy chain's log-likelihood against torch.distributions step by step, sigma bounds,
the BC regulariser, flow-matching pretraining, chunked execution, and a run through launch.py."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT

from sacflow.agents.reinflow import ReinFlowAgent
from sacflow.envs.chunked import ChunkedActions
from sacflow.envs.mujoco import make_mujoco_env
from sacflow.networks.layers import sinusoidal_embedding
from sacflow.networks.velocity import MLPVelocity
from sacflow.policies.flow_matching import flow_matching_loss
from sacflow.policies.noisy_flow import NoiseNet, NoisyFlowPolicy

OBS, ACT, K = 5, 3, 4


def make_policy(**kwargs) -> NoisyFlowPolicy:
    torch.manual_seed(0)
    velocity = MLPVelocity(OBS, ACT, K, hidden=(16,), act="gelu", input_norm="none", learn_noise=False)
    noise = NoiseNet(OBS, ACT, hidden=(8,), time_dim=4, sigma_min=0.08, sigma_max=0.14)
    return NoisyFlowPolicy(velocity, noise, K, **kwargs)


def reference_log_prob(policy, obs, chain, initial: bool):
    """Step by step with torch.distributions.Normal, recomputing each mean from the velocity itself."""
    total = torch.zeros(obs.shape[0])
    for k in range(K):
        t = torch.full((1, 1), k / K)
        mean = (chain[:, k] + policy.velocity({"obs": obs}, chain[:, k], t, k)[0] / K).clamp(-1, 1)
        sigma = policy.noise(obs, k)
        total = total + torch.distributions.Normal(mean, sigma).log_prob(chain[:, k + 1]).sum(-1)
    if initial:
        total = total + torch.distributions.Normal(0.0, 1.0).log_prob(chain[:, 0]).sum(-1)
    return total


@pytest.mark.parametrize("initial", [False, True])
@pytest.mark.parametrize("normalize", [False, True])
def test_chain_log_likelihood_matches_stepwise_normals(initial, normalize):
    policy = make_policy(initial_log_prob=initial, normalize_log_prob=normalize)
    obs = torch.randn(6, OBS)
    action, chain, log_prob = policy.sample(obs)
    assert chain.shape == (6, K + 1, ACT)
    assert torch.equal(action, chain[:, -1].clamp(-1, 1))
    expected = reference_log_prob(policy, obs, chain, initial)
    if normalize:
        expected = expected / ((K + initial) * ACT)
    assert torch.allclose(log_prob, expected, atol=1e-5)
    # re-evaluating the stored chain gives the sampled log-prob bit for bit: PPO's first ratio is exactly 1
    again, entropy = policy.log_prob(obs, chain)
    assert torch.equal(again, log_prob)
    by_hand = sum(torch.distributions.Normal(0.0, policy.noise(obs, k)).entropy().sum(-1) for k in range(K))
    assert torch.allclose(entropy, by_hand / (K * ACT) if normalize else by_hand, atol=1e-5)


def test_chain_steps_are_the_euler_means_plus_bounded_noise():
    policy = make_policy()
    obs = torch.randn(200, OBS)
    _, chain, _ = policy.sample(obs)
    for k in range(K):
        t = torch.full((1, 1), k / K)
        mean = (chain[:, k] + policy.velocity({"obs": obs}, chain[:, k], t, k)[0] / K).clamp(-1, 1)
        eps = (chain[:, k + 1] - mean) / policy.noise(obs, k)
        assert eps.abs().max() <= 3.0 + 1e-4  # eps truncated to +-3
        assert eps.std().item() == pytest.approx(1.0, abs=0.1)


def test_sigma_stays_within_its_bounds_and_reaches_them():
    noise = NoiseNet(OBS, ACT, hidden=(8,), time_dim=4, sigma_min=0.08, sigma_max=0.14)
    obs = torch.randn(50, OBS)
    for k in range(K):
        sigma = noise(obs, k)
        assert (sigma >= 0.08 - 1e-7).all() and (sigma <= 0.14 + 1e-7).all()
    with torch.no_grad():
        noise.net[-1].bias.fill_(50.0)  # saturate tanh: sigma -> sigma_max
    assert torch.allclose(noise(obs, 0), torch.full((50, ACT), 0.14))
    with torch.no_grad():
        noise.net[-1].bias.fill_(-50.0)
    assert torch.allclose(noise(obs, 0), torch.full((50, ACT), 0.08))
    # midpoint: raw 0 gives the geometric mean of the bounds; the step index is embedded
    with torch.no_grad():
        noise.net[-1].weight.zero_()
        noise.net[-1].bias.zero_()
    assert torch.allclose(noise(obs, 2), torch.full((50, ACT), math.sqrt(0.08 * 0.14)))
    assert sinusoidal_embedding(torch.tensor([[2.0]]), 4).shape == (1, 4)
    with pytest.raises(ValueError, match="sigma_min"):
        NoiseNet(OBS, ACT, sigma_min=0.2, sigma_max=0.1)


def tiny_agent(bc_coef: float) -> ReinFlowAgent:
    policy = make_policy()
    value = torch.nn.Linear(OBS, 1)
    return ReinFlowAgent(policy, value, OBS, ACT, pretrain_lr=1e-2, bc_coef=bc_coef, actor_lr=1e-3, critic_lr=1e-3,
                         gamma=0.99, epochs=1, minibatches=1)


def test_bc_regulariser_is_the_squared_distance_of_the_two_odes_from_the_same_noise():
    agent = tiny_agent(bc_coef=2.0)
    agent.start_finetuning()
    obs = torch.randn(7, OBS)
    loss, info = agent.regularizer(obs)
    assert loss.item() == 0.0  # the fine-tuned flow still equals the frozen copy
    with torch.no_grad():
        for p in agent.policy.velocity.parameters():
            p.add_(0.05)
    torch.manual_seed(3)
    loss, info = agent.regularizer(obs)
    torch.manual_seed(3)
    z = torch.randn(7, ACT)
    frozen, tuned = z, z
    for k in range(K):  # an independent Euler loop over both velocities
        t = torch.full((1, 1), k / K)
        frozen = (frozen + agent.pretrained({"obs": obs}, frozen, t, k)[0] / K).clamp(-1, 1)
        tuned = (tuned + agent.policy.velocity({"obs": obs}, tuned, t, k)[0] / K).clamp(-1, 1)
    distance = ((tuned - frozen) ** 2).mean()
    assert distance.item() > 0
    assert loss.item() == pytest.approx(2.0 * distance.item(), rel=1e-5)
    assert info["losses/bc_w2"].item() == pytest.approx(distance.item(), rel=1e-5)
    loss.backward()  # gradients reach the fine-tuned velocity only
    assert all(p.grad is None for p in agent.pretrained.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.policy.velocity.parameters())
    assert tiny_agent(bc_coef=0.0).regularizer(obs) is None


def test_pretrain_update_is_one_flow_matching_step():
    agent = tiny_agent(bc_coef=0.0)
    batch = {"observations": torch.randn(16, OBS), "actions": torch.rand(16, ACT) * 2 - 1, "valid": torch.ones(16, 1)}
    torch.manual_seed(5)
    expected = flow_matching_loss(agent.policy.velocity, batch["observations"], batch["actions"], batch["valid"], ACT)
    torch.manual_seed(5)
    info = agent.pretrain_update(batch)
    assert info["losses/bc_flow"].item() == pytest.approx(expected.item(), rel=1e-6)
    torch.manual_seed(5)
    after = flow_matching_loss(agent.policy.velocity, batch["observations"], batch["actions"], batch["valid"], ACT)
    assert after.item() < expected.item()


def test_chunked_actions_sum_rewards_and_stop_at_the_episode_end():
    env = ChunkedActions(make_mujoco_env("InvertedPendulum-v4", 5), horizon=3)
    assert env.action_space.shape == (3,)
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(np.zeros(3))
    assert reward == 3.0 and info["env_steps"] == 3 and not (terminated or truncated)
    _, reward, terminated, truncated, info = env.step(np.zeros(3))  # the time limit cuts the chunk after 2 steps
    assert reward == 2.0 and info["env_steps"] == 2 and truncated


REINFLOW_TINY = ["experiment=reinflow/lift", "agent.num_envs=2", "agent.rollout_steps=3", "agent.horizon=4",
                 "agent.velocity.hidden=[32]", "agent.noise.hidden=[16]", "agent.value_hidden=[16]",
                 "agent.minibatches=2", "agent.critic_warmup_iterations=1", "agent.bc_coef=0.1",
                 "agent.target_kl=null", "env.max_episode_steps=12", "eval.episodes=2", "eval.workers=1",
                 "eval.asynchronous=false", "logger=csv", "device=cpu"]


def reinflow_command(out_dir, data, pretrain=20, total=60, every=24):
    return [sys.executable, "launch.py", *REINFLOW_TINY, f"dataset.path={data}", f"pretrain_steps={pretrain}",
            f"total_steps={total}", f"eval.every={every}", "log_every=10", "checkpoint_every=10", f"out_dir={out_dir}"]


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_reinflow_runs_through_the_entry_point(tmp_path, tiny_lift_file, subprocess_env):
    out = tmp_path / "run"
    result = subprocess.run(reinflow_command(out, tiny_lift_file), cwd=ROOT, env=subprocess_env, check=False, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    updates = pd.read_csv(out / "update.csv")
    pretrain, finetune = updates[updates["phase"] == 0], updates[updates["phase"] == 1]
    assert pretrain["step"].tolist() == [10, 20] and pretrain["losses/bc_flow"].notna().all()
    # 2 envs x 3 chunks x 4 steps = 24 env steps per iteration (episodes of 12 steps end exactly on chunk ends)
    assert finetune["step"].tolist() == [44, 68, 92]
    assert finetune["ppo/critic_warmup"].tolist() == [1.0, 0.0, 0.0]
    assert finetune["losses/bc_w2"].iloc[1:].notna().all()
    evals = pd.read_csv(out / "eval.csv")
    assert evals["step"].tolist() == [20, 44, 68, 92] and evals["phase"].tolist() == [0, 1, 1, 1]
    assert evals["eval/success"].between(0, 1).all()
    train = pd.read_csv(out / "train.csv")
    assert len(train) == 6 and (train["train/episode_length"] == 12).all() and train["train/success"].notna().all()
    for name in ("learning_curve.png", "run_info.json", "checkpoints/latest.pt"):
        assert (out / name).exists(), name

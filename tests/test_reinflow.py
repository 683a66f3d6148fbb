"""ReinFlow: the noisy chain's log-likelihood against torch.distributions step by step, the (K+1)*dim
normaliser, sigma bounds, the BC regulariser, flow-matching pretraining, the official update volume,
log-prob clamp, per-module gradient clipping and reward scaling, chunked execution, and a run
through launch.py."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, compose_config

from sacflow.agents.ppo_loss import policy_loss
from sacflow.agents.reinflow import ReinFlowAgent
from sacflow.agents.running_norm import RewardScaler
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
    if initial:
        by_hand = by_hand + torch.distributions.Normal(0.0, 1.0).entropy() * ACT
    assert torch.allclose(entropy, by_hand / ((K + initial) * ACT) if normalize else by_hand, atol=1e-5)


def constant_sigma_zero_velocity_policy(sigma_raw: float, **kwargs) -> NoisyFlowPolicy:
    """v = 0 and sigma saturated at a bound: the chain's density has a closed form."""
    policy = make_policy(**kwargs)
    with torch.no_grad():
        for layer in (policy.velocity.velocity_head, policy.noise.net[-1]):
            layer.weight.zero_()
        policy.velocity.velocity_head.bias.zero_()
        policy.noise.net[-1].bias.fill_(sigma_raw)
    return policy


def test_initial_term_and_k_plus_one_normaliser_against_a_closed_form():
    """ReinFlow's account_for_initial_stochasticity: [log N(x_0; 0, I) + sum_k log N(x_{k+1}; clip(x_k), s^2)]
    / ((K + 1) dim), entropy [H(x_0) + sum_k H_k] / ((K + 1) dim), computed here with plain floats."""
    obs = torch.zeros(1, OBS)
    chain = torch.tensor([[[0.3, -1.4, 0.8], [0.25, -1.0, 0.9], [0.2, -0.9, 1.0], [0.3, -0.95, 0.85],
                           [0.35, -1.0, 0.9]]])
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    for sigma, raw in ((0.14, 50.0), (0.08, -50.0)):
        policy = constant_sigma_zero_velocity_policy(raw, initial_log_prob=True)
        rows = chain[0].tolist()
        total = sum(-0.5 * x * x - half_log_2pi for x in rows[0])
        for k in range(K):
            for prev, nxt in zip(rows[k], rows[k + 1]):
                z = (nxt - min(max(prev, -1.0), 1.0)) / sigma
                total += -0.5 * z * z - math.log(sigma) - half_log_2pi
        log_prob, entropy = policy.log_prob(obs, chain)
        assert log_prob.item() == pytest.approx(total / ((K + 1) * ACT), rel=1e-5)
        expected_entropy = ((0.5 + half_log_2pi) * ACT + K * ACT * (0.5 + half_log_2pi + math.log(sigma))) / (
            (K + 1) * ACT)
        assert entropy.item() == pytest.approx(expected_entropy, rel=1e-5)
    # the x_0 term cancels in the ratio, so a parameter change moves the log-ratio K/(K+1) as much as with K * dim
    def log_ratio(initial):
        low, high = (constant_sigma_zero_velocity_policy(raw, initial_log_prob=initial).log_prob(obs, chain)[0]
                     for raw in (-50.0, 50.0))
        return (high - low).item()
    assert log_ratio(True) == pytest.approx(K / (K + 1) * log_ratio(False), rel=1e-5)


def test_logprob_clamp_in_the_ppo_ratio_by_hand():
    new = torch.tensor([1.5, 0.2, -2.0], requires_grad=True)
    old, adv = torch.tensor([0.5, 0.4, -0.5]), torch.tensor([1.0, -1.0, 2.0])
    loss, info = policy_loss(new, old, adv, clip=0.2, logprob_clip=(-1.0, 1.0))
    # clamped: new (1, 0.2, -1), old (0.5, 0.4, -0.5) -> log r = (0.5, -0.2, -0.5)
    r = [math.exp(0.5), math.exp(-0.2), math.exp(-0.5)]  # 1.649, 0.819 (inside 1 +- 0.2), 0.607
    # max(-A r, -A clip(r, 0.8, 1.2)) per entry: max(-1.649, -1.2), max(0.819, 0.819), max(-1.213, -1.6)
    terms = [-1.2, r[1], -2.0 * r[2]]
    assert loss.item() == pytest.approx(sum(terms) / 3, rel=1e-6)
    kl = sum((x - 1.0) - math.log(x) for x in r) / 3
    assert info["losses/approx_kl"].item() == pytest.approx(kl, rel=1e-5)
    loss.backward()  # clamped new log-probs (entries 0 and 2) pass no gradient
    assert new.grad[0] == 0.0 and new.grad[2] == 0.0 and new.grad[1].item() == pytest.approx(r[1] / 3, rel=1e-5)
    unclamped, _ = policy_loss(new.detach(), old, adv, clip=0.2)
    assert unclamped.item() != pytest.approx(loss.item())


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


def volume_agent(**kwargs) -> ReinFlowAgent:
    policy = make_policy()
    return ReinFlowAgent(policy, torch.nn.Linear(OBS, 1), OBS, ACT, pretrain_lr=1e-2, actor_lr=1e-3, critic_lr=1e-3,
                         gamma=0.99, **kwargs)


@pytest.mark.parametrize("size, batch_size, steps", [(19, 100, 2), (7, 10, 7), (3, 30, 1)])
def test_update_volume_repeats_every_sample_ten_times_in_batches_of_batch_size(size, batch_size, steps):
    """Official repeat_samples: a permutation of 10 N slots, slot // 10, cut every batch_size:
    ceil(10 N / batch_size) minibatch steps per epoch, each sample exactly 10 times per epoch."""
    agent = volume_agent(epochs=3, minibatches=None, batch_size=batch_size, sample_repeats=10)
    batches = agent.minibatch_indices(size)
    assert len(batches) == math.ceil(10 * size / batch_size) == steps
    assert [len(b) for b in batches[:-1]] == [batch_size] * (steps - 1)
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(size).repeat_interleave(10))
    T, N = 1, size  # a rollout of `size` samples: the update takes epochs x steps minibatch steps
    obs = torch.randn(T, N, OBS)
    _, chain, log_prob = agent.policy.sample(obs[0])
    rollout = {"obs": obs, "samples": chain[None], "log_probs": log_prob[None], "rewards": torch.randn(T, N),
               "terminated": torch.zeros(T, N), "ended": torch.ones(T, N), "next_obs": torch.randn(T, N, OBS)}
    assert agent.update(rollout, iteration=0)["ppo/minibatch_updates"] == 3 * steps


def test_minibatch_split_without_repeats_is_cleanrls():
    agent = volume_agent(epochs=1, minibatches=4)
    torch.manual_seed(7)
    batches = agent.minibatch_indices(10)
    torch.manual_seed(7)
    expected = torch.randperm(10).tensor_split(4)  # the split Gaussian PPO has always used
    assert all(torch.equal(a, b) for a, b in zip(batches, expected)) and len(batches) == 4
    with pytest.raises(ValueError, match="exactly one"):
        volume_agent(epochs=1, minibatches=4, batch_size=10)
    with pytest.raises(ValueError, match="exactly one"):
        volume_agent(epochs=1, minibatches=None)


@pytest.mark.parametrize("per_module", [False, True])
def test_gradient_clipping_per_module_keeps_a_small_actor_gradient(per_module):
    agent = volume_agent(epochs=1, minibatches=1, max_grad_norm=1.0, grad_clip_per_module=per_module)
    for module, scale in ((agent.policy, 1e-3), (agent.value, 1e3)):
        for p in module.parameters():
            p.grad = torch.full_like(p, scale)
    actor_before = torch.cat([p.grad.flatten() for p in agent.policy.parameters()]).clone()
    agent._clip_gradients()
    actor = torch.cat([p.grad.flatten() for p in agent.policy.parameters()])
    critic = torch.cat([p.grad.flatten() for p in agent.value.parameters()])
    assert critic.norm().item() == pytest.approx(1.0, rel=1e-4)
    assert torch.equal(actor, actor_before) == per_module  # a global clip shrinks the actor's step too
    unclipped = volume_agent(epochs=1, minibatches=1, max_grad_norm=None)
    for p in unclipped.value.parameters():
        p.grad = torch.full_like(p, 1e3)
    unclipped._clip_gradients()
    assert all((p.grad == 1e3).all() for p in unclipped.value.parameters())


def test_reward_scaling_on_a_tiny_sequence_by_hand():
    """NormalizeReward (gym <= 0.26, CleanRL; the same reset rule as ReinFlow's RunningRewardScaler):
    G <- gamma G + r, update the running variance with G, r / sqrt(var + 1e-8) clipped to +-10, and
    G restarts after a step that ended the episode. The prior (count 1e-4) is negligible here."""
    scaler = RewardScaler(num_envs=1, gamma=0.5, enabled=True)
    out = [scaler(torch.tensor([r]), torch.tensor([e])).item() for r, e in ((2.0, 0.0), (4.0, 1.0), (6.0, 0.0))]
    # returns 2, 0.5 * 2 + 4 = 5, then 6 (restarted); population variances of {2}, {2, 5}, {2, 5, 6}
    var3 = ((2 - 13 / 3) ** 2 + (5 - 13 / 3) ** 2 + (6 - 13 / 3) ** 2) / 3
    assert out == pytest.approx([10.0, 4.0 / math.sqrt(2.25), 6.0 / math.sqrt(var3)], rel=1e-3)
    assert RewardScaler(1, 0.5, enabled=False)(torch.tensor([2.0]), torch.tensor([0.0])).item() == 2.0


def test_reinflow_defaults_follow_the_official_robomimic_config():
    a = compose_config(["experiment=reinflow/lift"]).agent
    assert (a.reward_norm, a.ent_coef, list(a.logprob_clip), a.initial_log_prob) == (True, 0.01, [-1.0, 1.0], True)
    assert (a.epochs, a.minibatches, a.batch_size, a.sample_repeats) == (5, None, 10000, 10)
    assert (a.max_grad_norm, a.grad_clip_per_module, a.rollout_steps) == (None, True, 152)
    agent = ReinFlowAgent.build(compose_config(["experiment=reinflow/lift", "agent.velocity.hidden=[8]"]), OBS, ACT)
    assert agent.minibatch_indices(1900)[0].numel() == 10000 and len(agent.minibatch_indices(1900)) == 2


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
                 "agent.batch_size=30", "agent.critic_warmup_iterations=1", "agent.bc_coef=0.1",
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

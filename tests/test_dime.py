"""DIME's sampler and its log-density bound on a tiny case, recomputed here with plain Python loops."""

import math

import pytest
import torch
from baseline_stubs import BATCH, LinearCritics, factory

from sacflow.agents.sac import SACAgent
from sacflow.policies.diffusion_sampler import DiffusionSamplerPolicy

P, Q, R = 0.3, -0.4, 0.2  # score f(s, x, t) = P s + Q x + R t
STEPS, ETA, SCALE = 3, 0.2, 2.0


def make_policy():
    return DiffusionSamplerPolicy(factory(P, Q, R), obs_dim=1, act_dim=1, action_low=[-SCALE], action_high=[SCALE],
                                  steps=STEPS, step_size=ETA)


def log_normal(x, mean, var):
    return -0.5 * (x - mean) ** 2 / var - 0.5 * math.log(2 * math.pi * var)


def path_by_hand(s, x0, noises):
    """(action, bound) of one sample: prior + sum_n (log F_n - log B_n) - log|da/dx_N|."""
    x, log_ratio = x0, 0.0
    for n, eps in enumerate(noises):
        forward_mean = x + ETA * (-x + P * s + Q * x + R * n / STEPS)
        if eps is None:
            x = forward_mean
            continue
        x_next = forward_mean + math.sqrt(2 * ETA) * eps
        backward_mean = x_next - ETA * x_next
        log_ratio += log_normal(x_next, forward_mean, 2 * ETA) - log_normal(x, backward_mean, 2 * ETA)
        x = x_next
    log_det = math.log(SCALE * (1 - math.tanh(x) ** 2) + 1e-6)
    return SCALE * math.tanh(x), log_normal(x0, 0.0, 1.0) + log_ratio - log_det


def test_path_bound_by_hand():
    obs = BATCH["obs"]
    policy = make_policy()
    torch.manual_seed(0)
    x0 = torch.randn(2, 1)
    noises = [torch.randn(2, 1) for _ in range(STEPS)]
    torch.manual_seed(0)
    out = policy(obs)
    for b in range(2):
        action, bound = path_by_hand(obs[b, 0].item(), x0[b, 0].item(), [e[b, 0].item() for e in noises])
        assert out.action[b, 0].item() == pytest.approx(action, rel=1e-5)
        assert out.log_prob[b].item() == pytest.approx(bound, rel=1e-5)


def test_deterministic_path_is_the_noiseless_mean_from_zero():
    out = make_policy()(BATCH["obs"], deterministic=True)
    assert out.log_prob is None
    for b in range(2):
        action, _ = path_by_hand(BATCH["obs"][b, 0].item(), 0.0, [None] * STEPS)
        assert out.action[b, 0].item() == pytest.approx(action, rel=1e-5)


def test_the_bound_trains_the_step_size_and_the_score():
    policy = make_policy()
    policy(BATCH["obs"]).log_prob.sum().backward()
    assert policy.raw_step_size.grad.abs().sum() > 0 and policy.score.p.grad.abs() > 0


def test_sac_uses_the_bound_as_log_p():
    # DIME is SAC with the bound in place of log p: its entropy estimate is -mean(bound).
    agent = SACAgent(make_policy(), LinearCritics([[1.0, 1.0], [2.0, -1.0]]), act_dim=1, critic_style="crossq",
                     alpha_init=0.5, policy_delay=1)
    torch.manual_seed(1)
    expected = -agent.actor(BATCH["obs"]).log_prob.mean().item()
    torch.manual_seed(1)
    info = agent.actor_update(BATCH)
    assert info["losses/entropy"].item() == pytest.approx(expected, rel=1e-5)

"""QSM's score-matching loss, its DDPM schedule and sampler on tiny cases, recomputed with plain Python."""

import math

import pytest
import torch
from baseline_stubs import BATCH, LinearCritics, factory

from sacflow.agents.qsm import QSMAgent, q_score_matching_loss
from sacflow.policies.ddpm import DDPMPolicy, vp_beta_schedule

STEPS, SCALE, COEFF = 5, 2.0, 3.0
CRITIC = [[1.0, 1.0], [2.0, 3.0]]  # dQ_i/da = 1 and 3: mean 2, so dQ/dx = 2 * SCALE on [-1, 1]-scaled actions


def betas_by_hand(steps, beta_min=0.1, beta_max=10.0):
    return [1 - math.exp(-beta_min / steps - 0.5 * (beta_max - beta_min) * (2 * t - 1) / steps**2)
            for t in range(1, steps + 1)]


def alpha_bars_by_hand(steps):
    out, prod = [], 1.0
    for beta in betas_by_hand(steps):
        prod *= 1 - beta
        out.append(prod)
    return out


def test_vp_schedule_by_hand():
    assert vp_beta_schedule(STEPS).tolist() == pytest.approx(betas_by_hand(STEPS))
    assert make_policy().alpha_bars.tolist() == pytest.approx(alpha_bars_by_hand(STEPS), rel=1e-6)


def test_q_score_matching_loss_by_hand():
    # eps = [[0.5, -1], [2, 0]], dQ/da = [[1, 0], [-0.5, 0.25]], c = 3:
    # residuals eps + 3 g = [[3.5, -1], [0.5, 0.75]] -> mean of squares = (12.25 + 1 + 0.25 + 0.5625) / 4
    eps = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
    grad = torch.tensor([[1.0, 0.0], [-0.5, 0.25]])
    assert q_score_matching_loss(eps, grad, COEFF).item() == pytest.approx((12.25 + 1 + 0.25 + 0.5625) / 4)


def make_policy(k=0.0, q=0.0):
    """eps(s, x, t) = q x + k t: enough to check the sampler and the loss by hand."""
    return DDPMPolicy(factory(0.0, q, k), obs_dim=1, act_dim=1, action_low=[-SCALE], action_high=[SCALE],
                      steps=STEPS, ema_tau=0.5)


def test_deterministic_sampler_by_hand():
    k = 0.4  # eps = k * t / T on the EMA network (a copy of the online one before any update)
    betas, alpha_bars = betas_by_hand(STEPS), alpha_bars_by_hand(STEPS)
    x = 0.0
    for t in reversed(range(STEPS)):
        eps = k * t / STEPS
        x = (x - betas[t] / math.sqrt(1 - alpha_bars[t]) * eps) / math.sqrt(1 - betas[t])
        x = min(max(x, -1.0), 1.0)
    out = make_policy(k=k)(BATCH["obs"], deterministic=True)
    assert out.action[:, 0].tolist() == pytest.approx([SCALE * x] * 2, rel=1e-5)


def test_actor_loss_by_hand():
    q = 0.7  # eps = q * x_t
    agent = QSMAgent(make_policy(q=q), LinearCritics(CRITIC), act_dim=1, q_grad_coeff=COEFF, critic_style="polyak",
                     gamma=0.9, tau=0.005, actor_lr=1e-3, critic_lr=1e-3, betas=(0.9, 0.999), policy_delay=1)
    torch.manual_seed(0)
    t = torch.randint(0, STEPS, (2,)).tolist()
    z = torch.randn(2, 1)[:, 0].tolist()
    alpha_bars = alpha_bars_by_hand(STEPS)
    terms = []
    for b in range(2):
        x0 = BATCH["action"][b, 0].item() / SCALE
        x_t = math.sqrt(alpha_bars[t[b]]) * x0 + math.sqrt(1 - alpha_bars[t[b]]) * z[b]
        grad = (CRITIC[0][1] + CRITIC[1][1]) / 2 * SCALE  # d/dx mean_i Q_i(s, SCALE x)
        terms.append((q * x_t + COEFF * grad) ** 2)
    torch.manual_seed(0)
    online_before = agent.actor.denoiser.q.item()
    info = agent.actor_update(BATCH)
    assert info["losses/actor"].item() == pytest.approx(sum(terms) / 2, rel=1e-5)
    # The EMA network moved half-way (ema_tau 0.5) to the updated online one; the critic is untouched.
    online_after = agent.actor.denoiser.q.item()
    assert online_after != online_before
    assert agent.actor.ema_denoiser.q.item() == pytest.approx(online_before + 0.5 * (online_after - online_before))
    assert agent.critic.weights.tolist() == CRITIC


def test_acting_adds_clipped_exploration_noise():
    agent = QSMAgent(make_policy(), LinearCritics(CRITIC), act_dim=1, exploration_noise=5.0, critic_style="polyak",
                     gamma=0.9, tau=0.005, actor_lr=1e-3, critic_lr=1e-3, betas=(0.9, 0.999), policy_delay=1)
    obs = torch.zeros(200, 1)
    noisy = agent.act(obs)
    assert noisy.abs().max().item() == SCALE and noisy.std().item() > 0.5  # huge noise, clipped to the box
    assert torch.equal(agent.act(obs, deterministic=True), agent.act(obs, deterministic=True))

"""QSM's score-matching loss, its DDPM schedule, sampler and critic target on tiny cases, recomputed with
plain Python; and that method=qsm composes to the official HEAD settings."""

import math

import pytest
import torch
from baseline_stubs import BATCH, LinearCritics, factory, q_values
from conftest import compose_config

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


def make_policy(k=0.0, q=0.0, p=0.0, ema_tau=0.5):
    """eps(s, x, t) = p s + q x + k t: enough to check the sampler and the loss by hand."""
    return DDPMPolicy(factory(p, q, k), obs_dim=1, act_dim=1, action_low=[-SCALE], action_high=[SCALE],
                      steps=STEPS, ema_tau=ema_tau)


def make_agent(policy, **kwargs):
    return QSMAgent(policy, LinearCritics(CRITIC), act_dim=1, critic_style="polyak", gamma=0.9, tau=0.005,
                    actor_lr=1e-3, critic_lr=1e-3, betas=(0.9, 0.999), policy_delay=1, **kwargs)


def deterministic_chain_by_hand(p, q, k, s):
    """The noise-free chain from x_T = 0 for eps = p s + q x + k t / T, in [-1, 1] units."""
    betas, alpha_bars = betas_by_hand(STEPS), alpha_bars_by_hand(STEPS)
    x = 0.0
    for t in reversed(range(STEPS)):
        eps = p * s + q * x + k * t / STEPS
        x = (x - betas[t] / math.sqrt(1 - alpha_bars[t]) * eps) / math.sqrt(1 - betas[t])
        x = min(max(x, -1.0), 1.0)
    return x


def test_deterministic_sampler_by_hand():
    k = 0.4  # eps = k * t / T on the EMA network (a copy of the online one before any update)
    x = deterministic_chain_by_hand(0.0, 0.0, k, 0.0)
    out = make_policy(k=k)(BATCH["obs"], deterministic=True)
    assert out.action[:, 0].tolist() == pytest.approx([SCALE * x] * 2, rel=1e-5)


def test_without_ema_the_sampler_is_the_online_network():
    # ema_tau = 1 (official HEAD): after an actor step, acting and the critic target's sampler use the
    # updated online parameters; with an EMA (0.5) the same chain would use the half-way ones.
    agent = make_agent(make_policy(k=0.4, q=0.7, p=0.3, ema_tau=1.0), q_grad_coeff=COEFF)
    torch.manual_seed(0)
    agent.actor_update(BATCH)
    online = agent.actor.denoiser
    p, q, k = online.p.item(), online.q.item(), online.r.item()
    assert (p, q, k) != pytest.approx((0.3, 0.7, 0.4))  # the step moved the online network
    expected = [SCALE * deterministic_chain_by_hand(p, q, k, s) for s in BATCH["obs"][:, 0].tolist()]
    assert agent.act(BATCH["obs"], deterministic=True)[:, 0].tolist() == pytest.approx(expected, rel=1e-5)
    ema_agent = make_agent(make_policy(k=0.4, q=0.7, p=0.3, ema_tau=0.5), q_grad_coeff=COEFF)
    torch.manual_seed(0)
    ema_agent.actor_update(BATCH)
    assert ema_agent.act(BATCH["obs"], deterministic=True)[:, 0].tolist() != pytest.approx(expected, rel=1e-5)


# eps = -100 s drives every step of the chain to the box edge, so the sampler's action is SCALE * sign(s')
# whatever its noise draws; the next-state signs pick both edges.
TARGET_BATCH = {
    "obs": torch.tensor([[1.0], [-1.0], [0.5], [2.0], [-0.5], [0.25]]),
    "action": torch.tensor([[0.5], [0.25], [-1.0], [1.5], [0.0], [-0.5]]),
    "reward": torch.tensor([1.0, 0.0, -1.0, 0.5, 2.0, 0.0]),
    "next_obs": torch.tensor([[0.5], [2.0], [-1.0], [1.0], [-0.5], [-2.0]]),
    "terminated": torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0]),
}


def critic_loss_by_hand(next_actions, gamma=0.9):
    """0.5 sum_i mean_b (Q_i(s, a) - y)^2 with y = r + gamma (1 - d) min_i Q_i(s', a'), in plain Python."""
    b = TARGET_BATCH
    rows = zip(b["obs"][:, 0].tolist(), b["action"][:, 0].tolist(), b["reward"].tolist(),
               b["next_obs"][:, 0].tolist(), b["terminated"].tolist(), next_actions)
    errors = []
    for s, a, r, s2, d, a2 in rows:
        y = r + gamma * (1 - d) * min(q_values(CRITIC, s2, a2))
        errors.append([(qi - y) ** 2 for qi in q_values(CRITIC, s, a)])
    return 0.5 * sum(sum(e[i] for e in errors) / len(errors) for i in range(2))


@pytest.mark.parametrize("target_noise", [0.1, 0.0])
def test_critic_target_noise_by_hand(target_noise):
    agent = make_agent(make_policy(p=-100.0, ema_tau=1.0), target_noise=target_noise)
    sampled = [SCALE * math.copysign(1.0, s) for s in TARGET_BATCH["next_obs"][:, 0].tolist()]
    # The noise is the draw right after the sampler's own draws.
    torch.manual_seed(0)
    assert agent.actor(TARGET_BATCH["next_obs"]).action[:, 0].tolist() == sampled
    z = torch.randn(len(sampled)).tolist()
    noisy = [min(max(a + target_noise * SCALE * zi, -SCALE), SCALE) for a, zi in zip(sampled, z)]
    if target_noise:
        assert any(abs(a) == SCALE for a in noisy) and any(abs(a) < SCALE for a in noisy)  # both clip branches
    else:
        assert noisy == sampled  # noise 0: exactly the sampler's action, the old target
    torch.manual_seed(0)
    next_action, _ = agent._next_action(TARGET_BATCH["next_obs"])
    assert next_action[:, 0].tolist() == pytest.approx(noisy, rel=1e-6)
    torch.manual_seed(0)
    info = agent.critic_update(TARGET_BATCH)
    assert info["losses/critic"].item() == pytest.approx(critic_loss_by_hand(noisy), rel=1e-5)


def test_method_qsm_defaults_are_the_official_head():
    cfg = compose_config(["method=qsm"])
    a, c = cfg.agent, cfg.critic
    assert (a.q_grad_coeff, a.actor.ema_tau, a.target_noise, a.exploration_noise) == (50.0, 1.0, 0.1, 0.1)
    assert list(a.actor.denoiser.hidden) == [512, 512] and list(c.network.hidden) == [512, 512]
    assert (a.actor.steps, a.actor_lr, c.lr, c.tau, c.policy_delay, c.actor_updates) == (5, 3e-4, 3e-4, 0.005, 1, 1)
    bench = compose_config(["experiment=bench/pendulum_qsm"])
    assert list(bench.agent.actor.denoiser.hidden) == [128, 128] and list(bench.critic.network.hidden) == [128, 128]
    assert (bench.agent.q_grad_coeff, bench.agent.actor.ema_tau, bench.agent.target_noise) == (50.0, 1.0, 0.1)
    assert bench.eval.stochastic


def test_actor_loss_by_hand():
    q = 0.7  # eps = q * x_t
    agent = make_agent(make_policy(q=q), q_grad_coeff=COEFF)
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
    agent = make_agent(make_policy(), exploration_noise=5.0)
    obs = torch.zeros(200, 1)
    noisy = agent.act(obs)
    assert noisy.abs().max().item() == SCALE and noisy.std().item() > 0.5  # huge noise, clipped to the box
    assert torch.equal(agent.act(obs, deterministic=True), agent.act(obs, deterministic=True))


def test_evaluation_drops_the_exploration_noise_but_keeps_the_chain():
    """explore=False (what evaluation passes) is the stochastic chain alone: the same draws as the
    plain policy sample, without the extra N(0, 0.1^2)."""
    agent = make_agent(make_policy(), exploration_noise=5.0)
    obs = torch.zeros(50, 1)
    torch.manual_seed(4)
    evaluated = agent.act(obs, explore=False)
    torch.manual_seed(4)
    chain = agent.actor(obs).action
    assert torch.equal(evaluated, chain)
    torch.manual_seed(4)
    assert not torch.equal(agent.act(obs), chain)

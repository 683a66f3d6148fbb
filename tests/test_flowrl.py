"""FlowRL's losses on tiny cases, recomputed here with plain Python loops."""

import math

import pytest
import torch
from baseline_stubs import BATCH, LinearCritics, factory, q_values
from torch import nn

from sacflow.agents.flowrl import FlowRLAgent, expectile_loss, w2_weight
from sacflow.policies.midpoint_flow import MidpointFlowPolicy

CRITIC = [[1.0, 1.0], [2.0, -1.0]]
BUFFER_CRITIC = [[0.5, 2.0], [1.0, 1.0]]
GAMMA, LAM, EXPECTILE, SCALE = 0.9, 0.1, 0.9, 2.0


def test_expectile_loss_by_hand():
    # diffs 2, -1, 0.5 with tau 0.9: (0.9 * 4 + 0.1 * 1 + 0.9 * 0.25) / 3 = 1.308333...
    loss = expectile_loss(torch.tensor([2.0, -1.0, 0.5]), EXPECTILE)
    assert loss.item() == pytest.approx((0.9 * 4 + 0.1 * 1 + 0.9 * 0.25) / 3)


@pytest.mark.parametrize("lam", [0.1, 1.0])
def test_w2_weight_by_hand(lam):
    q_buffer, q_policy = [5.0, 1.0, 3.0], [2.0, 2.0, 3.0]
    delta = [max(b - p, 0.0) for b, p in zip(q_buffer, q_policy)]  # [3, 0, 0]: only where the buffer wins
    expected = [min(max(lam * math.exp(d - sum(delta) / 3), 1e-3), 1.0) for d in delta]
    weight = w2_weight(torch.tensor(q_buffer), torch.tensor(q_policy), lam)
    assert weight.tolist() == pytest.approx(expected)
    if lam == 1.0:
        assert weight[0].item() == 1.0  # exp(2) clamped


def make_agent(policy_delay=1, tau=0.95):
    actor = MidpointFlowPolicy(factory(0.3, 0.5, 0.2), obs_dim=1, act_dim=1, action_low=[-SCALE], action_high=[SCALE])
    value = nn.Linear(1, 1)
    with torch.no_grad():
        value.weight.fill_(0.5)
        value.bias.zero_()
    return FlowRLAgent(actor, LinearCritics(CRITIC), LinearCritics(BUFFER_CRITIC), value, act_dim=1, lam=LAM,
                       expectile=EXPECTILE, critic_style="polyak", gamma=GAMMA, tau=tau, actor_lr=1e-3,
                       critic_lr=1e-3, betas=(0.9, 0.999), policy_delay=policy_delay)


def rows():
    return [(BATCH["obs"][i, 0].item(), BATCH["action"][i, 0].item(), BATCH["reward"][i].item(),
             BATCH["next_obs"][i, 0].item(), BATCH["terminated"][i].item()) for i in range(2)]


def test_buffer_value_losses_by_hand():
    # V(s) = 0.5 s; the target buffer critic equals the online one before any step.
    value_terms, q_terms = [], [[], []]
    for s, a, r, s2, d in rows():
        u = min(q_values(BUFFER_CRITIC, s, a)) - 0.5 * s
        value_terms.append((EXPECTILE if u >= 0 else 1 - EXPECTILE) * u * u)
        y = r + GAMMA * (1 - d) * 0.5 * s2
        for i, q in enumerate(q_values(BUFFER_CRITIC, s, a)):
            q_terms[i].append((q - y) ** 2)
    info = make_agent().buffer_value_update(BATCH)
    assert info["losses/buffer_value"].item() == pytest.approx(sum(value_terms) / 2)  # 0.603125
    assert info["losses/buffer_critic"].item() == pytest.approx(0.5 * sum(sum(t) / 2 for t in q_terms))  # 1.4440625


def test_actor_loss_by_hand():
    p, q, r = 0.3, 0.5, 0.2
    torch.manual_seed(3)
    policy_noise = torch.randn(2, 1).clamp(-1, 1)[:, 0].tolist()
    fm_noise = torch.randn(2, 1).clamp(-1, 1)[:, 0].tolist()
    fm_time = torch.rand(2, 1)[:, 0].tolist()

    q_pi, q_buf, fm_errors = [], [], []
    for (s, a, *_), x0, z, t in zip(rows(), policy_noise, fm_noise, fm_time):
        half = x0 + 0.5 * (p * s + q * x0)  # one midpoint step: t = 0, then t = 1/2
        x1 = x0 + (p * s + q * half + r * 0.5)
        q_pi.append(min(q_values(CRITIC, s, SCALE * math.tanh(x1))))
        q_buf.append(min(q_values(BUFFER_CRITIC, s, a)))
        target = a / SCALE  # the buffer action in [-1, 1]
        x_t = t * target + (1 - t) * z
        fm_errors.append((p * s + q * x_t + r * t - (target - z)) ** 2)
    delta = [max(b - pi, 0.0) for b, pi in zip(q_buf, q_pi)]
    weights = [min(max(LAM * math.exp(d - sum(delta) / 2), 1e-3), 1.0) for d in delta]
    flow_matching = sum(fm_errors) / 2
    expected = -sum(q_pi) / 2 + sum(weights) / 2 * flow_matching

    agent = make_agent()  # built first: its initialisation draws random numbers too
    torch.manual_seed(3)
    info = agent.actor_update(BATCH)
    assert info["losses/flow_matching"].item() == pytest.approx(flow_matching, rel=1e-5)
    assert info["losses/w2_weight"].item() == pytest.approx(sum(weights) / 2, rel=1e-5)
    assert info["losses/actor"].item() == pytest.approx(expected, rel=1e-5)


def test_actor_and_targets_move_every_policy_delay_updates():
    agent = make_agent(policy_delay=2, tau=0.95)
    initial = agent.target_critic.weights.detach().clone()
    info = agent.update(BATCH)
    assert "losses/actor" not in info and torch.equal(agent.target_critic.weights, initial)
    info = agent.update(BATCH)
    assert "losses/actor" in info
    expected = initial + 0.95 * (agent.critic.weights.detach() - initial)  # lerp towards the online critic
    assert torch.allclose(agent.target_critic.weights, expected)
    assert torch.allclose(agent.target_buffer_critic.weights,
                          torch.tensor(BUFFER_CRITIC) + 0.95 * (agent.buffer_critic.weights.detach() - torch.tensor(BUFFER_CRITIC)))

"""Offline-to-online losses on tiny cases worked out by hand or recomputed independently."""

import math

import pytest
import torch
from torch import nn

from sacflow.agents.chunked_critic import ChunkedCritic
from sacflow.agents.fql import FQLAgent
from sacflow.agents.sac_flow_o2o import SACFlowO2OAgent
from sacflow.networks.critic import QEnsemble
from sacflow.networks.velocity import FlowTVelocity, MLPVelocity
from sacflow.networks.velocity.base import VelocityField
from sacflow.policies.flow import FlowPolicy
from sacflow.policies.flow_matching import euler_sample, flow_matching_loss


def linear_critic(obs_dim, chunk_dim, weights):
    """Q_i(s, a) = w_i . [s, a] (no hidden layer, no bias)."""
    critic = QEnsemble(obs_dim, chunk_dim, n=len(weights), hidden=[], norm="none", stacked=False)
    with torch.no_grad():
        for member, w in zip(critic.members, weights):
            member.net[0].weight.copy_(torch.tensor([w], dtype=torch.float32))
            member.net[0].bias.zero_()
    return critic


class ConstantVelocity(VelocityField):
    """u = c (a learnable vector): the flow-matching loss has a closed form."""

    learns_noise = False

    def __init__(self, dim):
        super().__init__()
        self.c = nn.Parameter(torch.full((dim,), 0.5))

    def forward(self, ctx, x, t, k):
        return self.c.expand_as(x), None


# Chunks of h = 2 steps of a 1-D action; obs is 1-D.
BATCH = {
    "observations": torch.tensor([[1.0], [2.0]]),
    "actions": torch.tensor([[0.5, -0.5], [0.25, 0.75]]),
    "next_observations": torch.tensor([[[0.0], [3.0]], [[1.0], [-1.0]]]),
    "rewards": torch.tensor([[-1.0, -1.9], [0.0, 0.0]]),  # cumulative discounted
    "masks": torch.tensor([[1.0, 1.0], [1.0, 0.0]]),
    "terminals": torch.tensor([[0.0, 0.0], [0.0, 1.0]]),
    "valid": torch.tensor([[1.0, 1.0], [1.0, 0.0]]),
}


def chunk_critic():
    # Q1 = s + a1 + a2, Q2 = 2s - a1
    return ChunkedCritic(linear_critic(1, 2, [[1.0, 1.0, 1.0], [2.0, -1.0, 0.0]]), gamma=0.9, horizon=2, tau=0.1)


def test_chunked_td_target_and_masked_loss_by_hand():
    critic = chunk_critic()
    next_chunk = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    next_log_prob = torch.tensor([2.0, -1.0])
    # s_{t+h} = [3, -1]; Q1' = [4, 1], Q2' = [5, -2]; mean = [4.5, -0.5]
    # V' = mean - 0.5 * logp' = [3.5, 0.0]; y = R_1 + 0.81 * mask_1 * V' = [-1.9 + 2.835, 0] = [0.935, 0]
    target = critic.target_value(BATCH, next_chunk, next_log_prob, alpha=0.5)
    torch.testing.assert_close(target, torch.tensor([0.935, 0.0]))
    # Q1(s, a) = [1, 3], Q2 = [1.5, 3.75]; valid_1 = [1, 0] drops the second chunk
    # L = mean over 2 critics x 2 samples = ((1 - 0.935)^2 + 0 + (1.5 - 0.935)^2 + 0) / 4
    loss, info = critic.loss(BATCH, target)
    assert loss.item() == pytest.approx((0.065**2 + 0.565**2) / 4, abs=1e-6)
    assert info["losses/q_mean"].item() == pytest.approx((1 + 3 + 1.5 + 3.75) / 4)


def test_fql_target_has_no_entropy_term():
    target = chunk_critic().target_value(BATCH, torch.tensor([[1.0, 0.0], [0.0, 2.0]]), None)
    torch.testing.assert_close(target, torch.tensor([-1.9 + 0.81 * 4.5, 0.0]))


def test_polyak_moves_the_target_towards_the_online_critic():
    critic = chunk_critic()
    with torch.no_grad():
        critic.target.members[0].net[0].weight.zero_()
    critic.polyak_update()
    torch.testing.assert_close(critic.target.members[0].net[0].weight, torch.tensor([[0.1, 0.1, 0.1]]))
    torch.testing.assert_close(critic.target.members[1].net[0].weight, torch.tensor([[2.0, -1.0, 0.0]]))


def test_flow_matching_loss_closed_form():
    """u = c: loss = mean_{b,j} valid * (c - (a - x_0))^2 with the same x_0 draws."""
    velocity = ConstantVelocity(4)
    actions, valid = torch.rand(3, 4), torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    torch.manual_seed(5)
    loss = flow_matching_loss(velocity, torch.zeros(3, 1), actions, valid, act_dim=2)
    torch.manual_seed(5)
    x0 = torch.randn(3, 4)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.float32)
    expected = (mask * (0.5 - (actions - x0)) ** 2).sum() / 12
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_flow_matching_loss_is_zero_for_the_exact_straight_line_velocity():
    """For a single target action a, u(x_t, t) = (a - x_t) / (1 - t) is exactly x_1 - x_0."""

    class Exact(VelocityField):
        learns_noise = False

        def forward(self, ctx, x, t, k):
            return (ctx["obs"] - x) / (1 - t), None

    a = torch.tensor([[0.3, -0.2]])
    loss = flow_matching_loss(Exact(), a, a, torch.ones(1, 1), act_dim=2)
    assert loss.item() < 1e-10


def test_euler_sample_integrates_a_linear_field_exactly_per_step():
    class Decay(VelocityField):  # u = -x  ->  x_{k+1} = (1 - dt) x_k
        learns_noise = False

        def forward(self, ctx, x, t, k):
            return -x, None

    x0 = torch.tensor([[2.0, -1.0]])
    torch.testing.assert_close(euler_sample(Decay(), torch.zeros(1, 1), x0, steps=4), x0 * 0.75**4)


def sac_flow_agent(**kwargs):
    torch.manual_seed(0)
    velocity = lambda **dims: MLPVelocity(**dims, hidden=[8], input_norm="none", learn_noise=False)
    actor = FlowPolicy(velocity, 1, 2, [-1.0] * 2, [1.0] * 2, steps=2, noise_std=0.02)
    return SACFlowO2OAgent(actor, chunk_critic(), act_dim=1, horizon=2, **kwargs)


def test_regularised_actor_loss_matches_an_independent_computation():
    agent = sac_flow_agent(alpha_init=0.3)
    torch.manual_seed(7)
    loss, info, _ = agent.rl_actor_loss(BATCH, beta=10.0)
    torch.manual_seed(7)
    out = agent.actor(BATCH["observations"], noise_std=0.05)
    a, s = out.action, BATCH["observations"][:, 0]
    q = ((s + a[:, 0] + a[:, 1]) + (2 * s - a[:, 0])) / 2
    expected = 10.0 * ((a - BATCH["actions"]) ** 2).mean() - (q - 0.3 * out.log_prob).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # the noise in the actor loss is 0.05: log p carries -log(0.05) per dim and step
    assert info["losses/proximity"].item() == pytest.approx(((a - BATCH["actions"]) ** 2).mean().item(), rel=1e-5)


def test_actor_loss_does_not_train_the_critic():
    agent = sac_flow_agent()
    loss, _, _ = agent.rl_actor_loss(BATCH, beta=1.0)
    loss.backward()
    assert all(p.grad is None for p in agent.critic.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.actor.parameters())


@pytest.mark.parametrize("kind,direction", [("official", -1), ("standard", +1)])
def test_alpha_loss_sign(kind, direction):
    """log p > 0 with a small fixed sigma: the official sign shrinks alpha, SAC's grows it."""
    agent = sac_flow_agent(alpha_loss=kind)
    before = agent.alpha.item()
    agent._alpha_step(torch.tensor(100.0))
    assert math.copysign(1, agent.alpha.item() - before) == direction


@pytest.mark.parametrize("schedule,steps", [("paper", 1), ("official", 2)])
def test_offline_schedules_take_one_or_two_gradient_steps(schedule, steps):
    agent = sac_flow_agent(offline_schedule=schedule)
    info = agent.offline_update(BATCH)
    assert agent.optim.state_dict()["state"][0]["step"].item() == steps
    assert ("losses/proximity" in info) == (schedule == "official") and "losses/bc_flow" in info


def test_target_critic_follows_the_pre_step_online_critic():
    agent = sac_flow_agent()
    online_before = [p.detach().clone() for p in agent.critic.online.parameters()]
    target_before = [p.detach().clone() for p in agent.critic.target.parameters()]
    agent.online_update(BATCH)
    for old, tgt_old, tgt in zip(online_before, target_before, agent.critic.target.parameters()):
        torch.testing.assert_close(tgt, 0.1 * old + 0.9 * tgt_old)


def fql_agent(acting="onestep", horizon=2):
    torch.manual_seed(0)
    bc_flow = MLPVelocity(obs_dim=1, act_dim=horizon, steps=3, hidden=[8], input_norm="none", learn_noise=False)
    return FQLAgent(bc_flow, chunk_critic(), obs_dim=1, act_dim=1, horizon=horizon, onestep_hidden=[8], alpha=3.0,
                    flow_steps=3, acting=acting, num_samples=6)


def test_fql_actor_loss_matches_an_independent_computation():
    agent = fql_agent()
    torch.manual_seed(11)
    loss, info = agent.actor_loss(BATCH)
    torch.manual_seed(11)
    bc = flow_matching_loss(agent.bc_flow, BATCH["observations"], BATCH["actions"], BATCH["valid"], 1)
    z = torch.randn(2, 2)
    target = euler_sample(agent.bc_flow, BATCH["observations"], z, 3).clamp(-1, 1)
    mu = agent.onestep(torch.cat([BATCH["observations"], z], dim=-1))
    a, s = mu.clamp(-1, 1), BATCH["observations"][:, 0]
    q = ((s + a[:, 0] + a[:, 1]) + (2 * s - a[:, 0])) / 2
    expected = bc + 3.0 * ((mu - target) ** 2).mean() - q.mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert info["losses/bc_flow"].item() == pytest.approx(bc.item(), rel=1e-6)


def test_best_of_n_picks_the_critics_favourite_candidate():
    agent = fql_agent(acting="best_of_n")
    obs = torch.tensor([[0.5], [-2.0]])
    torch.manual_seed(3)
    chosen = agent.act(obs)
    torch.manual_seed(3)
    repeated = obs.repeat_interleave(6, dim=0)
    candidates = agent.bc_action(repeated, torch.randn(12, 2)).view(2, 6, 2)
    values = candidates[..., 0] + candidates[..., 1] - candidates[..., 0]  # mean of Q1, Q2 up to state terms
    for b in range(2):
        torch.testing.assert_close(chosen[b], candidates[b, values[b].argmax()])
    assert agent.onestep is None


def test_fql_update_trains_bc_flow_onestep_and_critic_in_one_step():
    agent = fql_agent()
    before = {n: p.detach().clone() for n, p in agent.named_parameters()}
    agent.update(BATCH)
    moved = {n.split(".")[0] for n, p in agent.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {"bc_flow", "critic", "onestep"}


def test_o2o_flow_t_runs_with_continuous_t_for_flow_matching():
    net = FlowTVelocity(obs_dim=5, act_dim=10, steps=4, d_model=16, n_heads=2, norm="layernorm",
                        norm_position="post", input_norm="none", per_step_input_norm=False,
                        closed_form_attention=True, learn_noise=False)
    loss = flow_matching_loss(net, torch.randn(7, 5), torch.rand(7, 10) * 2 - 1, torch.ones(7, 2), act_dim=5)
    loss.backward()
    assert torch.isfinite(loss) and net.velocity_head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", ["pre_tanh", "raw"])
def test_bc_target_space(kind):
    """pre_tanh regresses artanh(a) (what tanh(x_K) must hit), raw regresses a itself."""
    agent = sac_flow_agent(bc_target=kind)
    torch.manual_seed(4)
    loss, _ = agent.bc_loss(BATCH)
    target = torch.atanh(BATCH["actions"]) if kind == "pre_tanh" else BATCH["actions"]
    torch.manual_seed(4)
    expected = flow_matching_loss(agent.actor.velocity, BATCH["observations"], target, BATCH["valid"], 1)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)

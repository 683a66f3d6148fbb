"""SAC losses on a tiny case worked out by hand (numbers in the comments)."""

import math

import pytest
import torch
from baseline_stubs import BATCH  # the shared hand-checked batch
from torch import nn

from sacflow.agents.sac import SACAgent
from sacflow.networks.critic import QEnsemble
from sacflow.policies.flow import PolicyOutput


class StubActor(nn.Module):
    """a = w * s, log p = b: simple enough to differentiate by hand."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.1))
        self.b = nn.Parameter(torch.tensor(-1.0))

    def forward(self, obs, deterministic=False, keep_path=False):
        return PolicyOutput(self.w * obs, self.b.expand(obs.shape[0]))


def linear_critics():
    """Q1(s, a) = s + a, Q2(s, a) = 2s - a."""
    critic = QEnsemble(1, 1, n=2, hidden=[], norm="none", stacked=False)
    with torch.no_grad():
        critic.members[0].net[0].weight.copy_(torch.tensor([[1.0, 1.0]]))
        critic.members[1].net[0].weight.copy_(torch.tensor([[2.0, -1.0]]))
        for member in critic.members:
            member.net[0].bias.zero_()
    return critic




def make_agent(style):
    return SACAgent(StubActor(), linear_critics(), act_dim=1, critic_style=style, gamma=0.9, alpha_init=0.2, policy_delay=1)


@pytest.mark.parametrize("style", ["crossq", "polyak"])
def test_critic_loss_by_hand(style):
    # a' = 0.1 s' = [0.05, 0.2]; Q1' = [0.55, 2.2], Q2' = [0.95, 3.8]; min = [0.55, 2.2]
    # V' = min - 0.2 * (-1) = [0.75, 2.4]; y = r + 0.9 (1 - term) V' = [1.675, 0]
    # Q1 = [1.5, -0.75], Q2 = [1.5, -2.25]
    # L = 0.5 * ((0.175^2 + 0.75^2) / 2 + (0.175^2 + 2.25^2) / 2) = 1.4215625
    info = make_agent(style).critic_update(BATCH)
    assert info["losses/critic"].item() == pytest.approx(1.4215625, abs=1e-6)
    assert info["losses/target_mean"].item() == pytest.approx(1.675 / 2, abs=1e-6)


def test_actor_and_alpha_losses_by_hand():
    agent = make_agent("crossq")
    critic_before = [p.clone() for p in agent.critic.parameters()]
    info = agent.actor_update(BATCH)
    # a = 0.1 s = [0.1, -0.1]; Q1 = [1.1, -1.1], Q2 = [1.9, -1.9]; min = [1.1, -1.9]
    # L_pi = mean(0.2 * (-1) - min) = mean(-1.3, 1.7) = 0.2
    assert info["losses/actor"].item() == pytest.approx(0.2, abs=1e-6)
    # L_alpha = -alpha (log p + H_target) = -0.2 * (-1 + 0) = 0.2
    assert info["losses/alpha_loss"].item() == pytest.approx(0.2, abs=1e-6)
    # dL/dw = mean(-dmin/da * s) = mean(-1 * 1, +1 * -1) = -1 -> Adam's first step moves w up by lr.
    assert agent.actor.w.item() == pytest.approx(0.1 + 3e-4, abs=1e-7)
    # dL/dlog_alpha = 0.2 > 0 -> log alpha moves down by lr_alpha (1e-3).
    assert agent.alpha.item() == pytest.approx(0.2 * math.exp(-1e-3), rel=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(critic_before, agent.critic.parameters()))


def test_policy_delay_and_actor_updates_schedule():
    agent = SACAgent(StubActor(), linear_critics(), act_dim=1, policy_delay=3, actor_updates=2)
    counts = []
    for _ in range(6):
        agent.update(BATCH)
        counts.append(agent.num_actor_updates)
    assert counts == [0, 0, 2, 2, 2, 4]


def test_polyak_target_moves_by_tau():
    agent = SACAgent(StubActor(), linear_critics(), act_dim=1, critic_style="polyak", tau=0.25, policy_delay=10)
    before = [p.clone() for p in agent.target_critic.parameters()]
    agent.update(BATCH)
    for old, target, online in zip(before, agent.target_critic.parameters(), agent.critic.parameters()):
        torch.testing.assert_close(target, 0.75 * old + 0.25 * online)


def test_crossq_joint_pass_uses_batch_statistics_of_both_halves():
    """With BatchRenorm the joint pass differs from two separate passes: the statistics see [s; s']."""
    torch.manual_seed(0)
    agent = SACAgent(StubActor(), QEnsemble(1, 1, n=2, hidden=[8]), act_dim=1, policy_delay=10)
    agent.critic_update(BATCH)
    steps = [m.steps.item() for m in agent.critic.modules() if hasattr(m, "steps")]
    assert steps and all(s == 1 for s in steps)  # one training-mode call per BRN for the whole 2B batch

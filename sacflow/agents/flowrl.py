"""FlowRL (Lv et al. 2025, "Flow-Based Policy for Online Reinforcement Learning"), from scratch.

A flow policy (``MidpointFlowPolicy``) maximises Q under a Wasserstein-2-style constraint towards
the best actions in the replay buffer, in Lagrangian form. Per update, on a batch (s, a, r, s', d):

    critic      y = r + gamma (1 - d) min_i Qbar_i(s', pi(s')),  L_Q = 0.5 sum_i mean_b (Q_i(s, a) - y)^2
    buffer V    L_V  = mean_b |tau - 1(u < 0)| u^2,  u = min_i Qbar_buf_i(s, a) - V(s)   (expectile tau)
    buffer Q    L_Qb = 0.5 sum_i mean_b (Q_buf_i(s, a) - (r + gamma (1 - d) V(s')))^2
    actor (every ``policy_delay``-th update)
                delta = relu(min_i Q_buf_i(s, a) - min_i Q_i(s, pi(s)))             (no gradient)
                w     = clamp(lambda exp(delta - mean_b delta), 1e-3, 1)
                L_pi  = -mean_b min_i Q_i(s, pi(s)) + mean_b(w) * L_CFM(s, a)

L_CFM is flow matching towards the buffer action: x_0 = clip(N(0, I), -1, 1), t ~ U[0, 1),
x_t = t x_1 + (1 - t) x_0 with x_1 the action rescaled to [-1, 1], error |u(s, x_t, t) - (x_1 - x_0)|^2
averaged over batch and action dimensions. The weight multiplies the batch-mean flow-matching
loss, as the official code does. Both target critics follow their online nets every
``policy_delay``-th update by ``lerp(target, online, tau)``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from sacflow.agents.q_guided import QGuidedAgent
from sacflow.networks.critic import value_trunk
from sacflow.policies.midpoint_flow import clipped_noise
from sacflow.utils.instantiate import instantiate


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    """mean |tau - 1(diff < 0)| diff^2: an asymmetric square that regresses to the tau-expectile."""
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return (weight * diff * diff).mean()


def w2_weight(q_buffer_action: torch.Tensor, q_policy_action: torch.Tensor, lam: float) -> torch.Tensor:
    """Per-sample constraint weight: large where the buffer's action beats the policy's, never above 1."""
    delta = F.relu(q_buffer_action - q_policy_action)
    return (lam * torch.exp(delta - delta.mean())).clamp(1e-3, 1.0)


def flow_matching_to_actions(velocity, obs: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """FlowRL's conditional flow matching towards ``x1`` from clipped Gaussian noise (mean over B and A)."""
    x0 = clipped_noise(x1.shape[0], x1.shape[1], x1)
    t = torch.rand(x1.shape[0], 1, device=x1.device, dtype=x1.dtype)
    u, _ = velocity(velocity.context(obs), t * x1 + (1.0 - t) * x0, t, 0)
    return ((u - (x1 - x0)) ** 2).mean()


class FlowRLAgent(QGuidedAgent):
    def __init__(self, actor, critic, buffer_critic, buffer_value, act_dim: int, *, lam: float = 0.1,
                 expectile: float = 0.9, **common):
        super().__init__(actor, critic, act_dim, **common)
        self.lam, self.expectile = lam, expectile
        self.buffer_critic, self.buffer_value = buffer_critic, buffer_value
        self.target_buffer_critic = copy.deepcopy(buffer_critic).requires_grad_(False)
        lr, betas = common["critic_lr"], common["betas"]
        self.value_optim = self.fast.adam([*buffer_critic.parameters(), *buffer_value.parameters()], lr, betas)

    @classmethod
    def build(cls, cfg, obs_dim: int, act_dim: int, action_low, action_high) -> FlowRLAgent:
        actor = instantiate(cfg.agent.actor, obs_dim=obs_dim, act_dim=act_dim, action_low=action_low,
                            action_high=action_high)
        critic = instantiate(cfg.critic.network, obs_dim=obs_dim, act_dim=act_dim)
        buffer_critic = copy.deepcopy(critic)  # the official Q_buf starts as a copy of Q (model/algo.py)
        net = cfg.critic.network
        buffer_value = value_trunk(obs_dim, net.hidden, net.act, net.norm, dict(cfg.batch_renorm),
                                   net.get("layout", "mlp"))
        return cls(actor, critic, buffer_critic, buffer_value, act_dim, lam=cfg.agent.lam,
                   expectile=cfg.agent.expectile, **cls.common_args(cfg))

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        info = self.critic_update(batch)
        info.update(self.buffer_value_update(batch))
        self.num_updates += 1
        if self.num_updates % self.policy_delay == 0:
            info.update(self.actor_update(batch))
            self._polyak_update()
            self._polyak_update_buffer_critic()
        return info

    @torch.no_grad()
    def _polyak_update_buffer_critic(self):
        torch._foreach_lerp_(list(self.target_buffer_critic.parameters()), list(self.buffer_critic.parameters()),
                             self.tau)

    def buffer_value_update(self, batch) -> dict[str, torch.Tensor]:
        """IQL-style estimate of the best behaviour value in the buffer: V by expectile, Q_buf by TD on V."""
        obs, action = batch["obs"], batch["action"]
        with torch.no_grad():
            q_target = self.target_buffer_critic(obs, action).min(0).values
            next_v = self.buffer_value(batch["next_obs"]).squeeze(-1)
            y = batch["reward"] + self.gamma * (1.0 - batch["terminated"]) * next_v
        value_loss = expectile_loss(q_target - self.buffer_value(obs).squeeze(-1), self.expectile)
        q_buffer = self.buffer_critic(obs, action)
        q_loss = 0.5 * ((q_buffer - y) ** 2).mean(1).sum()
        self.value_optim.zero_grad(set_to_none=True)
        (value_loss + q_loss).backward()
        self.value_optim.step()
        return {"losses/buffer_value": value_loss.detach(), "losses/buffer_critic": q_loss.detach()}

    def actor_loss(self, batch, keep_path: bool = False):
        """Called by SAC's actor step, which freezes the critic (eval mode, no weight gradients)."""
        obs = batch["obs"]
        q_pi = self.critic(obs, self.actor(obs).action).min(0).values
        with torch.no_grad():
            weight = w2_weight(self.buffer_critic(obs, batch["action"]).min(0).values, q_pi, self.lam)
        squash = self.actor.squash
        x1 = ((batch["action"] - squash.bias) / squash.scale).clamp(-1.0, 1.0)
        cfm = flow_matching_to_actions(self.actor.velocity, obs, x1)
        loss = -q_pi.mean() + weight.mean() * cfm
        info = {"losses/actor": loss.detach(), "losses/flow_matching": cfm.detach(), "losses/w2_weight": weight.mean()}
        return loss, self.no_density(), info

    def checkpoint_state(self) -> dict:
        state = super().checkpoint_state()
        state["optimizers"]["value"] = self.value_optim.state_dict()
        return state

    def load_checkpoint_state(self, state: dict) -> None:
        super().load_checkpoint_state(state)
        self.value_optim.load_state_dict(state["optimizers"]["value"])

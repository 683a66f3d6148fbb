"""SAC Flow offline-to-online (paper Sec. 4, Algo. 2; official ``acfql_*_online_sac.py``).

One velocity network (Flow-T, Flow-G or the naive MLP) serves both regimes:

* flow-matching pretraining on dataset chunks (``flow_matching_loss``). The sampler's action
  is tanh(x_K), so by default the flow learns x_1 = artanh(a) and its squashed samples match
  the data; ``bc_target='raw'`` regresses x_1 = a as the official code does (which leaves
  tanh(x_K) shrunk towards 0 unless the beta * MSE term pulls it back), and
* regularised SAC: L_pi = beta * mean (a_pi - a_buffer)^2 - mean_b [ mean_i Q_i(s, a_pi) - alpha log p(a_pi) ]
  (Equ. 12 as coded: a per-element MSE to the buffer chunk of the same batch, not masked),

with the chunk critic of ``chunked_critic`` and a fixed rollout noise: ``noise_std_actor`` (0.05)
in the actor loss, ``noise_std_act`` (0.02) to act, evaluate and form the critic target.

Offline schedules (``offline_schedule``):

* ``paper``: each offline iteration is one step on critic + flow-matching loss (pretraining,
  Equ. 3), then online SAC with the regulariser;
* ``official``: each offline iteration runs that step *and* a regularised-SAC step with
  ``beta_offline`` on the same batch (two gradient steps), as the released code does.

The temperature: ``alpha_loss='official'`` reproduces the released code's sign,
L = alpha * (mean log p - target), under which alpha decays towards 0 (with a fixed sigma the
path "entropy" can never reach the target, so the standard sign would make alpha grow without
bound); ``'standard'`` is SAC's -alpha * (mean log p + target). See docs/deviations.md.

One Adam over actor and critic (their gradients are disjoint: the actor loss sees a frozen
critic, the critic target a no-grad actor), a separate Adam for log alpha, Polyak target
towards the pre-step critic after every gradient step.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sacflow.agents.chunked_critic import ChunkedCritic
from sacflow.policies.flow_matching import flow_matching_loss
from sacflow.utils.instantiate import instantiate

SCHEDULES = ("paper", "official")
BC_TARGETS = ("pre_tanh", "raw")
# artanh of a dataset action clipped to +-(1 - 1e-5) (the loaders' clip) is at most ~6.1.
ACTION_LIMIT = 1.0 - 1e-5
ALPHA_LOSSES = ("official", "standard")


class SACFlowO2OAgent(nn.Module):
    def __init__(self, actor: nn.Module, critic: ChunkedCritic, act_dim: int, horizon: int, lr: float = 3e-4,
                 alpha_lr: float = 3e-4, alpha_init: float = 0.2, alpha_loss: str = "official",
                 target_entropy: float = 0.0, beta_offline: float = 100.0, beta_online: float = 100.0,
                 noise_std_actor: float = 0.05, noise_std_act: float = 0.02, offline_schedule: str = "paper",
                 bc_target: str = "pre_tanh"):
        super().__init__()
        if bc_target not in BC_TARGETS:
            raise ValueError(f"bc_target must be one of {BC_TARGETS}, got {bc_target!r}")
        if offline_schedule not in SCHEDULES:
            raise ValueError(f"offline_schedule must be one of {SCHEDULES}, got {offline_schedule!r}")
        if alpha_loss not in ALPHA_LOSSES:
            raise ValueError(f"alpha_loss must be one of {ALPHA_LOSSES}, got {alpha_loss!r}")
        self.actor, self.critic = actor, critic
        self.act_dim, self.horizon = act_dim, horizon
        self.alpha_loss_kind, self.target_entropy = alpha_loss, target_entropy
        self.beta_offline, self.beta_online = beta_offline, beta_online
        self.noise_std_actor, self.noise_std_act = noise_std_actor, noise_std_act
        self.offline_schedule, self.bc_target = offline_schedule, bc_target
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha_init)))
        self.optim = torch.optim.Adam([*actor.parameters(), *critic.online.parameters()], lr=lr, foreach=True)
        self.alpha_optim = torch.optim.Adam([self.log_alpha], lr=alpha_lr, foreach=True)

    @classmethod
    def build(cls, cfg, obs_dim: int, act_dim: int) -> SACFlowO2OAgent:
        a, h = cfg.agent, cfg.agent.horizon
        chunk_dim = act_dim * h
        # Env actions live in [-1, 1]: the policy's tanh needs no rescaling (scale 1, as the reference).
        actor = instantiate(a.actor, obs_dim=obs_dim, act_dim=chunk_dim, action_low=[-1.0] * chunk_dim,
                            action_high=[1.0] * chunk_dim, noise_std=a.noise_std_act)
        network = instantiate(cfg.critic.network, obs_dim=obs_dim, act_dim=chunk_dim)
        critic = ChunkedCritic(network, cfg.gamma, h, cfg.critic.tau)
        return cls(actor, critic, act_dim, h, lr=a.lr, alpha_lr=a.alpha_lr, alpha_init=a.alpha_init,
                   alpha_loss=a.alpha_loss, target_entropy=a.target_entropy, beta_offline=a.beta_offline,
                   beta_online=a.beta_online, noise_std_actor=a.noise_std_actor, noise_std_act=a.noise_std_act,
                   offline_schedule=a.offline_schedule, bc_target=a.bc_target)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp().detach()

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, h * A] action chunks from the noisy rollout (sigma = noise_std_act), as the reference acts."""
        return self.actor(obs, noise_std=self.noise_std_act).action

    # ------------------------------------------------------------------ losses
    def critic_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        with torch.no_grad():
            nxt = self.actor(batch["next_observations"][:, -1], noise_std=self.noise_std_act)
        target = self.critic.target_value(batch, nxt.action, nxt.log_prob, self.alpha)
        return self.critic.loss(batch, target)

    def bc_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        target = batch["actions"]
        if self.bc_target == "pre_tanh":
            target = torch.atanh(target.clamp(-ACTION_LIMIT, ACTION_LIMIT))
        loss = flow_matching_loss(self.actor.velocity, batch["observations"], target, batch["valid"], self.act_dim)
        return loss, {"losses/bc_flow": loss.detach()}

    def rl_actor_loss(self, batch: dict, beta: float) -> tuple[torch.Tensor, dict, torch.Tensor]:
        out = self.actor(batch["observations"], noise_std=self.noise_std_actor)
        proximity = ((out.action - batch["actions"]) ** 2).mean()
        q = self.critic.frozen_value(batch["observations"], out.action)
        q_loss = -(q - self.alpha * out.log_prob).mean()
        loss = beta * proximity + q_loss
        info = {"losses/actor": loss.detach(), "losses/proximity": proximity.detach(),
                "losses/actor_q": q.mean().detach(), "losses/entropy": -out.log_prob.mean().detach()}
        return loss, info, out.log_prob.detach().mean()

    def _alpha_step(self, mean_log_prob: torch.Tensor) -> dict:
        if self.alpha_loss_kind == "official":
            loss = self.log_alpha.exp() * (mean_log_prob - self.target_entropy)
        else:
            loss = -self.log_alpha.exp() * (mean_log_prob + self.target_entropy)
        self.alpha_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.alpha_optim.step()
        return {"losses/alpha": self.alpha, "losses/alpha_loss": loss.detach()}

    def _step(self, loss: torch.Tensor) -> None:
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.critic.polyak_update()  # towards the pre-step critic, as the reference
        self.optim.step()

    # ------------------------------------------------------------------ updates
    def pretrain_step(self, batch: dict) -> dict:
        """Critic + flow matching. The official code also steps alpha here with zero entropy
        (gradient 0, so only Adam's momentum moves it); kept for parity."""
        critic_loss, info = self.critic_loss(batch)
        bc, bc_info = self.bc_loss(batch)
        self._step(critic_loss + bc)
        info.update(bc_info)
        info.update(self._alpha_step(torch.zeros((), device=self.log_alpha.device)))
        return info

    def regularised_step(self, batch: dict, beta: float) -> dict:
        critic_loss, info = self.critic_loss(batch)
        actor_loss, actor_info, mean_log_prob = self.rl_actor_loss(batch, beta)
        self._step(critic_loss + actor_loss)
        info.update(actor_info)
        info.update(self._alpha_step(mean_log_prob))
        return info

    def offline_update(self, batch: dict) -> dict:
        info = self.pretrain_step(batch)
        if self.offline_schedule == "official":
            info.update(self.regularised_step(batch, self.beta_offline))
        return info

    def online_update(self, batch: dict) -> dict:
        return self.regularised_step(batch, self.beta_online)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> dict:
        return {"modules": self.state_dict(),
                "optimizers": {"main": self.optim.state_dict(), "alpha": self.alpha_optim.state_dict()}}

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        self.optim.load_state_dict(state["optimizers"]["main"])
        self.alpha_optim.load_state_dict(state["optimizers"]["alpha"])

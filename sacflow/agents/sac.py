"""SAC from scratch for any actor with the PolicyOutput contract (flow or tanh-Gaussian).

Two critic styles:

* ``crossq`` (what the official SAC Flow code runs): BatchRenorm critics, one
  training-mode pass over the joint batch [s; s'] so the normalisation statistics see
  both halves, no target network.
* ``polyak``: standard SAC with a Polyak-averaged target critic.

Losses (per batch of B transitions):
    y      = r + gamma (1 - terminated) (min_i Q_i(s', a') - alpha log p(a'|s')),  a' ~ pi(.|s')
    L_Q    = 0.5 sum_i mean_b (Q_i(s, a) - sg(y))^2
    L_pi   = mean_b (alpha log p(a|s) - min_i Q_i(s, a)),  a ~ pi(.|s) reparameterised
    L_alpha = mean_b (-alpha (log p(a|s) + H_target))   (gradient w.r.t. log alpha)
The actor and alpha are updated ``actor_updates`` times every ``policy_delay`` critic updates.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from sacflow.agents.fast_path import FastPath
from sacflow.utils.device import resolve_device
from sacflow.utils.instantiate import instantiate


def noise_kwargs(noise: torch.Tensor | None) -> dict:
    """``noise=`` only when given: subclasses and non-SAC actors draw their own and take no such argument."""
    return {} if noise is None else {"noise": noise}


class SACAgent(nn.Module):
    def __init__(
        self,
        actor: nn.Module,
        critic: nn.Module,
        act_dim: int,
        critic_style: str = "crossq",
        gamma: float = 0.99,
        tau: float = 0.005,
        actor_lr: float = 3e-4,
        critic_lr: float = 1e-3,
        alpha_lr: float = 1e-3,
        betas=(0.5, 0.999),
        policy_delay: int = 3,
        actor_updates: int = 1,
        alpha_init: float = 0.2,
        autotune_alpha: bool = True,
        target_entropy_per_dim: float = 0.0,
        grad_diagnostic_every: int = 0,
        fast: FastPath | None = None,
        detach_next_half: bool = False,
    ):
        super().__init__()
        if critic_style not in ("crossq", "polyak"):
            raise ValueError(f"critic.style must be crossq or polyak, got {critic_style!r}")
        self.actor, self.critic = actor, critic
        self.critic_style, self.gamma, self.tau = critic_style, gamma, tau
        self.policy_delay, self.actor_updates = policy_delay, actor_updates
        self.target_critic = copy.deepcopy(critic).requires_grad_(False) if critic_style == "polyak" else None
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha_init)), requires_grad=autotune_alpha)
        self.autotune_alpha = autotune_alpha
        self.target_entropy = target_entropy_per_dim * act_dim
        self.grad_diagnostic_every = grad_diagnostic_every
        self.fast = fast or FastPath()
        if detach_next_half and (critic_style != "crossq" or not getattr(critic, "stacked", False)):
            raise ValueError("critic.detach_next_half needs critic.style crossq and critic.network.stacked true")
        self.detach_next_half = detach_next_half
        # The actor rests in eval mode (acting, next actions) and trains only inside actor_update.
        self.actor.eval()
        self.actor_optim = self.fast.adam(actor.parameters(), actor_lr, betas)
        self.critic_optim = self.fast.adam(critic.parameters(), critic_lr, betas)
        self.alpha_optim = self.fast.adam([self.log_alpha], alpha_lr, betas)
        # The hot functions, compiled when fast.compile is on (sacflow/agents/fast_path.py).
        self._sample = self.fast.wrap(self._sample_impl, overhead_bound=True)
        self._next_action = self.fast.wrap(self._next_action_impl)
        self._critic_loss = self.fast.wrap(self.critic_loss)
        self._actor_loss = self.fast.wrap(self.actor_loss)
        # Host-side counters: they schedule the delayed updates without a device sync.
        self.num_updates = 0
        self.num_actor_updates = 0

    @classmethod
    def build(cls, cfg, obs_dim: int, act_dim: int, action_low, action_high) -> SACAgent:
        """Assemble from the composed config: ``agent`` (actor, entropy) and ``critic`` (style, optimiser)."""
        actor = instantiate(
            cfg.agent.actor, obs_dim=obs_dim, act_dim=act_dim, action_low=action_low, action_high=action_high
        )
        critic = instantiate(cfg.critic.network, obs_dim=obs_dim, act_dim=act_dim)
        return cls(
            actor,
            critic,
            act_dim,
            critic_style=cfg.critic.style,
            gamma=cfg.gamma,
            tau=cfg.critic.tau,
            actor_lr=cfg.agent.actor_lr,
            critic_lr=cfg.critic.lr,
            alpha_lr=cfg.agent.alpha_lr,
            betas=cfg.critic.betas,
            policy_delay=cfg.critic.policy_delay,
            actor_updates=cfg.critic.actor_updates,
            alpha_init=cfg.agent.alpha_init,
            autotune_alpha=cfg.agent.autotune_alpha,
            target_entropy_per_dim=cfg.agent.target_entropy_per_dim,
            grad_diagnostic_every=cfg.agent.grad_diagnostic_every,
            fast=FastPath.from_config(cfg.get("fast"), resolve_device(cfg.device)),
            detach_next_half=bool(cfg.critic.get("detach_next_half", False)),
        )

    def _full(self, x: torch.Tensor) -> torch.Tensor:
        """Back to the parameters' precision after a bf16-autocast region (a no-op without one)."""
        return x.to(self.log_alpha.dtype)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp().detach()

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False, explore: bool = True) -> torch.Tensor:
        """Actions for environment interaction: normalisation layers use running statistics.

        ``explore=False`` (evaluation) drops exploration noise added on top of the policy; only
        agents that add such noise (QSM) read it.
        """
        with self.fast.in_mode(self.actor, training=False):
            return self.fast.clone(self._sample(obs, deterministic))

    def _sample_impl(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        with self.fast.autocast():
            return self._full(self.actor(obs, deterministic=deterministic).action)

    def update(self, batch: dict[str, torch.Tensor], noise: dict | None = None) -> dict[str, torch.Tensor]:
        """One critic update, plus the delayed actor/alpha updates. Returns detached tensors.

        ``noise`` ({"next": ..., "actor": [one per actor update]}, each from ``actor.draw_noise``)
        replaces the policy's draws from the global generator (the vectorised-seeds exactness tests).
        """
        noise = noise or {}
        info = self.critic_update(batch, noise.get("next"))
        self.num_updates += 1
        if self.target_critic is not None:
            self._polyak_update()
        if self.num_updates % self.policy_delay == 0:
            for j in range(self.actor_updates):
                info.update(self.actor_update(batch, **noise_kwargs(noise["actor"][j] if noise else None)))
        return info

    def critic_update(self, batch, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        # The next actions come from the policy with running statistics (eval mode); the mode
        # switch stays outside the compiled functions so each one sees a single mode.
        with self.fast.in_mode(self.actor, training=False):
            next_action, next_log_prob = self._next_action(batch["next_obs"], **noise_kwargs(noise))
        loss, info = self._critic_loss(batch, next_action, next_log_prob)
        self.critic_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_optim.step()
        return self.fast.clone(info)

    @torch.no_grad()
    def _next_action_impl(self, next_obs, noise=None):
        with self.fast.autocast():
            out = self.actor(next_obs, **noise_kwargs(noise))
        return self._full(out.action), self._full(out.log_prob)

    def critic_loss(self, batch, next_action, next_log_prob):
        obs, action, next_obs = batch["obs"], batch["action"], batch["next_obs"]
        with self.fast.autocast():
            if self.critic_style == "crossq" and self.detach_next_half:
                q, next_q = (self._full(v) for v in self.critic.forward_pair(obs, action, next_obs, next_action))
            elif self.critic_style == "crossq":
                # One pass over [s; s'] so BatchRenorm normalises both halves with the same statistics.
                q_joint = self._full(self.critic(torch.cat([obs, next_obs]), torch.cat([action, next_action])))
                q, next_q = q_joint[:, : obs.shape[0]], q_joint[:, obs.shape[0] :].detach()
            else:
                q = self._full(self.critic(obs, action))
                with torch.no_grad():
                    next_q = self._full(self.target_critic(next_obs, next_action))
        next_v = next_q.min(0).values - self.alpha * next_log_prob
        target = (batch["reward"] + self.gamma * (1.0 - batch["terminated"]) * next_v).detach()
        loss = 0.5 * ((q - target) ** 2).mean(1).sum()
        return loss, {
            "losses/critic": loss.detach(),
            "losses/q_mean": q.mean().detach(),
            "losses/target_mean": target.mean(),
        }

    def actor_update(self, batch, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        self.num_actor_updates += 1
        diagnose = self.grad_diagnostic_every > 0 and self.num_actor_updates % self.grad_diagnostic_every == 0
        # The critic scores the actions with running statistics and frozen weights.
        with (self.fast.in_mode(self.actor, training=True), self.fast.in_mode(self.critic, training=False),
              self.fast.frozen(self.critic)):
            if diagnose:  # the rare diagnostic needs the rollout's path tensors: plain (eager) code
                loss, mean_log_prob, info = self.actor_loss(batch, keep_path=True, noise=noise)
                grads = torch.autograd.grad(loss, info.pop("path"), retain_graph=True)
                info.update({f"grad/x{k}_norm": g.norm().detach() for k, g in enumerate(grads)})
            else:
                loss, mean_log_prob, info = self._actor_loss(batch, **noise_kwargs(noise))
            self.actor_optim.zero_grad(set_to_none=True)
            loss.backward()
            self.actor_optim.step()
        info = self.fast.clone(info)
        if self.autotune_alpha:
            # The pre-step log-density, as the reference. A two-op scalar loss: kept out of the
            # compiled code (torch 2.13's compiled Adam steps a 0-dim parameter the wrong way).
            alpha_loss = -self.log_alpha.exp() * (mean_log_prob.detach() + self.target_entropy)
            self.alpha_optim.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_optim.step()
            info["losses/alpha_loss"] = alpha_loss.detach()
        info["losses/alpha"] = self.alpha
        return info

    def actor_loss(self, batch, keep_path: bool = False, noise=None):
        """L_pi = mean(alpha log p(a|s) - min_i Q_i(s, a)); also the batch's mean log-density."""
        with self.fast.autocast():
            out = self.actor(batch["obs"], keep_path=keep_path, **noise_kwargs(noise))
            q = self._full(self.critic(batch["obs"], out.action).min(0).values)
        log_prob = self._full(out.log_prob)
        loss = (self.alpha * log_prob - q).mean()
        mean_log_prob = log_prob.detach().mean()
        info = {"losses/actor": loss.detach(), "losses/entropy": -mean_log_prob}
        if keep_path:
            info["path"] = out.path
        return loss, mean_log_prob, info

    @torch.no_grad()
    def _polyak_update(self):
        # One fused call per list instead of a Python loop of small kernels.
        torch._foreach_lerp_(list(self.target_critic.parameters()), list(self.critic.parameters()), self.tau)
        for target, online in zip(self.target_critic.buffers(), self.critic.buffers()):
            target.copy_(online)

    def checkpoint_state(self) -> dict:
        return {
            "modules": self.state_dict(),
            "optimizers": {
                "actor": self.actor_optim.state_dict(),
                "critic": self.critic_optim.state_dict(),
                "alpha": self.alpha_optim.state_dict(),
            },
            "counters": {"num_updates": self.num_updates, "num_actor_updates": self.num_actor_updates},
        }

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        self.actor_optim.load_state_dict(state["optimizers"]["actor"])
        self.critic_optim.load_state_dict(state["optimizers"]["critic"])
        self.alpha_optim.load_state_dict(state["optimizers"]["alpha"])
        self.num_updates = state["counters"]["num_updates"]
        self.num_actor_updates = state["counters"]["num_actor_updates"]

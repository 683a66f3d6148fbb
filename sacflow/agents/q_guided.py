"""What FlowRL and QSM share with SAC: the critic update and the bookkeeping, minus the entropy.

Both train a twin critic by plain TD, y = r + gamma (1 - terminated) min_i Q_i(s', a'), a' ~ pi,
and replace SAC's actor loss with their own. This reuses ``SACAgent`` (its critic update, Polyak
target, actor step with the critic frozen in eval mode, optimisers, acting and checkpoints) with
the temperature pinned to zero, so that ``alpha * log p`` vanishes; subclasses override
``actor_loss(batch, keep_path) -> (loss, mean log-density, info)``.
"""

from __future__ import annotations

import torch

from sacflow.agents.fast_path import FastPath
from sacflow.agents.sac import SACAgent
from sacflow.utils.device import resolve_device


class QGuidedAgent(SACAgent):
    """SAC's critic, actor step and bookkeeping with alpha = 0; a subclass supplies ``actor_loss``."""

    def __init__(self, actor, critic, act_dim: int, *, critic_style: str, gamma: float, tau: float,
                 actor_lr: float, critic_lr: float, betas, policy_delay: int, fast: FastPath | None = None):
        super().__init__(actor, critic, act_dim, critic_style=critic_style, gamma=gamma, tau=tau,
                         actor_lr=actor_lr, critic_lr=critic_lr, betas=betas, policy_delay=policy_delay,
                         actor_updates=1, autotune_alpha=False, grad_diagnostic_every=0, fast=fast)

    @staticmethod
    def common_args(cfg) -> dict:
        """Keyword arguments every subclass takes from the composed config."""
        return {"critic_style": cfg.critic.style, "gamma": cfg.gamma, "tau": cfg.critic.tau,
                "actor_lr": cfg.agent.actor_lr, "critic_lr": cfg.critic.lr, "betas": cfg.critic.betas,
                "policy_delay": cfg.critic.policy_delay,
                "fast": FastPath.from_config(cfg.get("fast"), resolve_device(cfg.device))}

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.new_zeros(())

    def no_density(self) -> torch.Tensor:
        """The mean log-density ``actor_loss`` reports: these policies have none (alpha is not tuned)."""
        return self.log_alpha.new_zeros(())

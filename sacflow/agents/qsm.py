"""QSM (Psenka et al. 2024, "Learning a Diffusion Model Policy from Rewards via Q-Score Matching").

The score of a diffusion policy (``DDPMPolicy``) is matched to the action gradient of the critic,
as the official code at HEAD (Alescontrela/score_matching_rl@2e77893, docs/baselines.md#qsm).
Per update, on a batch (s, a, r, s', d), with x_0 = a rescaled to [-1, 1]:

    critic  a' = clip(sampler(s') + sigma' z),  z ~ N(0, I)                    (target smoothing)
            y = r + gamma (1 - d) min_i Qbar_i(s', a'),
            L_Q = 0.5 sum_i mean_b (Q_i(s, a) - y)^2                          (SAC's, alpha = 0)
    actor   t ~ U{0..T-1}, x_t = sqrt(alphabar_t) x_0 + sqrt(1 - alphabar_t) z,
            g = d/dx_t mean_i Q_i(s, x_t)                                      (no gradient to the critic)
            L_QSM = mean_{b, j} (eps(s, x_t, t) + c g)^2

so -eps, which points along the score, is regressed onto c * grad_a Q at the noised action (the
official code evaluates the gradient there, not at the final action). The critic is updated
first, then the actor, as the official ``update``. Acting adds N(0, (0.1 scale)^2) exploration
noise, clipped to the box; sigma' (``target_noise``) is in the same [-1, 1] units.
"""

from __future__ import annotations

import torch

from sacflow.agents.q_guided import QGuidedAgent
from sacflow.utils.instantiate import instantiate


def q_score_matching_loss(eps_pred: torch.Tensor, q_grad: torch.Tensor, coeff: float) -> torch.Tensor:
    """mean over batch and action dimensions of (eps + c dQ/da)^2: the score -eps matches c dQ/da."""
    return ((eps_pred + coeff * q_grad) ** 2).mean()


class QSMAgent(QGuidedAgent):
    def __init__(self, actor, critic, act_dim: int, *, q_grad_coeff: float = 50.0, exploration_noise: float = 0.1,
                 target_noise: float = 0.1, **common):
        super().__init__(actor, critic, act_dim, **common)
        self.q_grad_coeff, self.exploration_noise, self.target_noise = q_grad_coeff, exploration_noise, target_noise

    @classmethod
    def build(cls, cfg, obs_dim: int, act_dim: int, action_low, action_high) -> QSMAgent:
        actor = instantiate(cfg.agent.actor, obs_dim=obs_dim, act_dim=act_dim, action_low=action_low,
                            action_high=action_high)
        critic = instantiate(cfg.critic.network, obs_dim=obs_dim, act_dim=act_dim)
        a = cfg.agent
        return cls(actor, critic, act_dim, q_grad_coeff=a.q_grad_coeff, exploration_noise=a.exploration_noise,
                   target_noise=a.target_noise, **cls.common_args(cfg))

    def perturbed(self, action: torch.Tensor, std: float) -> torch.Tensor:
        """action + N(0, (std scale)^2), clipped to the box: ``std`` is in [-1, 1] units, as the official code."""
        policy = self.actor
        noisy = action + std * policy.scale * torch.randn_like(action)
        return torch.maximum(torch.minimum(noisy, policy.bias + policy.scale), policy.bias - policy.scale)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False, explore: bool = True) -> torch.Tensor:
        """Training actions get the exploration noise; evaluation (``explore=False``) runs the plain
        stochastic chain, as the official ``eval_actions``."""
        action = super().act(obs, deterministic)
        if deterministic or not explore or self.exploration_noise == 0:
            return action
        return self.perturbed(action, self.exploration_noise)

    @torch.no_grad()
    def _next_action_impl(self, next_obs):
        """The critic target's a': the sampler's action plus clipped ``target_noise`` (0: the sampler's action)."""
        action, log_prob = super()._next_action_impl(next_obs)
        if self.target_noise == 0:
            return action, log_prob
        return self.perturbed(action, self.target_noise), log_prob

    def critic_action_gradient(self, obs: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        """d/dx mean_i Q_i(s, action(x)) at x = x_t, per sample (SAC's actor step has frozen the critic)."""
        x = x_t.detach().requires_grad_(True)
        q = self.critic(obs, self.actor.to_action(x)).mean(0).sum()
        return torch.autograd.grad(q, x)[0]

    def actor_loss(self, batch, keep_path: bool = False):
        policy, obs = self.actor, batch["obs"]
        x0 = policy.to_unit(batch["action"])
        t = torch.randint(0, policy.steps, (x0.shape[0],), device=x0.device)
        x_t = policy.noised(x0, t, torch.randn_like(x0))
        q_grad = self.critic_action_gradient(obs, x_t)
        eps = policy.predict_noise(policy.denoiser, obs, x_t, t)
        loss = q_score_matching_loss(eps, q_grad, self.q_grad_coeff)
        info = {"losses/actor": loss.detach(), "losses/q_grad_norm": q_grad.norm(dim=-1).mean()}
        return loss, self.no_density(), info

    def actor_update(self, batch) -> dict[str, torch.Tensor]:
        info = super().actor_update(batch)
        self.actor.update_ema()
        return info

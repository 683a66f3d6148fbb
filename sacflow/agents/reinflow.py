"""ReinFlow (Zhang et al., 2025): PPO fine-tuning of a flow-matching policy with learned noise injection.

1. Pretraining (``pretrain_update``): flow matching (paper Equ. 3, ``flow_matching_loss``) of the
   velocity on dataset action chunks of length h, raw actions as targets (ReinFlow clips the
   chain's means to [-1, 1] instead of squashing).
2. ``start_finetuning``: a frozen copy of the pretrained velocity is kept for the BC regulariser.
3. Fine-tuning: ``OnPolicyAgent``'s PPO update on chunk-level rollouts, with the policy
   ``NoisyFlowPolicy`` (velocity + noise network trained together, the chain's exact density),
   ReinFlow's update volume (samples repeated x10, batches of 10000), log-prob clamp and
   per-module gradient clipping, a critic warm-up, target-KL early stop and, with ``bc_coef`` > 0,
   ReinFlow's W2 regulariser

       bc_coef * mean (ODE_theta(s, z) - ODE_pretrained(s, z))^2,   the same z ~ N(0, I) for both.

One PPO "action" is an h-step chunk executed open loop; its reward is the chunk's summed reward.
"""

from __future__ import annotations

import copy

import torch

from sacflow.agents.on_policy import OnPolicyAgent
from sacflow.networks.layers import mlp
from sacflow.policies.flow_matching import flow_matching_loss
from sacflow.policies.noisy_flow import NoiseNet, NoisyFlowPolicy
from sacflow.utils.instantiate import instantiate


class ReinFlowAgent(OnPolicyAgent):
    def __init__(self, policy: NoisyFlowPolicy, value, obs_dim: int, act_dim: int, *, pretrain_lr: float,
                 bc_coef: float = 0.0, **ppo):
        super().__init__(policy, value, obs_dim, **ppo)
        self.act_dim = act_dim
        self.bc_coef = bc_coef
        self.pretrain_optim = torch.optim.Adam(policy.velocity.parameters(), lr=pretrain_lr)
        # Filled by start_finetuning; a module attribute so it is part of the checkpoint.
        self.pretrained = copy.deepcopy(policy.velocity).requires_grad_(False)

    @classmethod
    def build(cls, cfg, obs_dim: int, act_dim: int, action_low=None, action_high=None) -> ReinFlowAgent:
        a, h = cfg.agent, cfg.agent.horizon
        chunk_dim = act_dim * h
        velocity = instantiate(a.velocity, obs_dim=obs_dim, act_dim=chunk_dim, steps=a.flow_steps)
        noise = NoiseNet(obs_dim, chunk_dim, hidden=a.noise.hidden, act=a.noise.act, time_dim=a.noise.time_dim,
                         sigma_min=a.noise.sigma_min, sigma_max=a.noise.sigma_max)
        policy = NoisyFlowPolicy(velocity, noise, a.flow_steps, clip_mean=a.clip_mean, noise_clip=a.noise_clip,
                                 initial_log_prob=a.initial_log_prob, normalize_log_prob=a.normalize_log_prob)
        value = mlp(obs_dim, a.value_hidden, 1, a.value_act)
        return cls(policy, value, obs_dim, act_dim, pretrain_lr=a.pretrain_lr, bc_coef=a.bc_coef,
                   actor_lr=a.actor_lr, critic_lr=a.critic_lr, gamma=cfg.gamma, gae_lambda=a.gae_lambda,
                   epochs=a.epochs, minibatches=a.minibatches, batch_size=a.batch_size,
                   sample_repeats=a.sample_repeats, clip=a.clip, clip_value=a.clip_value, vf_coef=a.vf_coef,
                   ent_coef=a.ent_coef, logprob_clip=a.logprob_clip, max_grad_norm=a.max_grad_norm,
                   grad_clip_per_module=a.grad_clip_per_module, target_kl=a.target_kl, norm_adv=a.norm_adv,
                   anneal_lr=a.anneal_lr, critic_warmup_iterations=a.critic_warmup_iterations)

    # ------------------------------------------------------------------ pretraining
    def pretrain_update(self, batch: dict) -> dict:
        loss = flow_matching_loss(self.policy.velocity, batch["observations"], batch["actions"], batch["valid"],
                                  self.act_dim)
        self.pretrain_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.pretrain_optim.step()
        return {"losses/bc_flow": loss.detach()}

    def start_finetuning(self) -> None:
        """Freeze a copy of the pretrained velocity (the BC regulariser's reference)."""
        self.pretrained.load_state_dict(self.policy.velocity.state_dict())

    # ------------------------------------------------------------------ fine-tuning
    def regularizer(self, obs: torch.Tensor):
        if self.bc_coef <= 0.0:
            return None
        z = torch.randn(obs.shape[0], self.policy.noise.act_dim, device=obs.device, dtype=obs.dtype)
        with torch.no_grad():
            reference = self.policy.ode(obs, z, velocity=self.pretrained)
        distance = ((self.policy.ode(obs, z) - reference) ** 2).mean()
        return self.bc_coef * distance, {"losses/bc_w2": distance.detach()}

    def checkpoint_state(self) -> dict:
        state = super().checkpoint_state()
        state["optimizers"]["pretrain"] = self.pretrain_optim.state_dict()
        return state

    def load_checkpoint_state(self, state: dict) -> None:
        super().load_checkpoint_state(state)
        self.pretrain_optim.load_state_dict(state["optimizers"]["pretrain"])

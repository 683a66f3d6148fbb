"""Gaussian PPO from scratch, as CleanRL's ``ppo_continuous_action.py`` (the paper's PPO baseline).

Policy: a = mean(s) + exp(log_std) eps with a state-independent log-std (initialised to 0); the
env receives a clipped to the action box (CleanRL's ClipAction) and PPO's density is that of the
unclipped sample. Actor and critic: 2 x 64 tanh MLPs, orthogonal init with gain sqrt(2), output
gains 0.01 (mean) and 1 (value). The update is ``OnPolicyAgent``'s.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sacflow.agents.on_policy import OnPolicyAgent
from sacflow.networks.layers import mlp


def orthogonal_mlp(in_dim: int, hidden, out_dim: int, act: str, out_gain: float) -> nn.Sequential:
    """CleanRL's layer_init: orthogonal weights (gain sqrt(2), last layer ``out_gain``), zero biases."""
    net = mlp(in_dim, hidden, out_dim, act)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, out_gain if i == len(linears) - 1 else math.sqrt(2))
        nn.init.zeros_(layer.bias)
    return net


class GaussianPPOPolicy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, action_low, action_high, hidden=(64, 64), act: str = "tanh",
                 init_log_std: float = 0.0):
        super().__init__()
        self.mean = orthogonal_mlp(obs_dim, hidden, act_dim, act, out_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))
        self.register_buffer("low", torch.as_tensor(np.asarray(action_low, dtype=np.float32)))
        self.register_buffer("high", torch.as_tensor(np.asarray(action_high, dtype=np.float32)))

    def _dist(self, obs: torch.Tensor) -> torch.distributions.Normal:
        mean = self.mean(obs)
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean))

    @torch.no_grad()
    def sample(self, obs: torch.Tensor):
        dist = self._dist(obs)
        sample = dist.sample()
        return self._clip(sample), sample, dist.log_prob(sample).sum(-1)

    def log_prob(self, obs: torch.Tensor, sample: torch.Tensor):
        dist = self._dist(obs)
        return dist.log_prob(sample).sum(-1), dist.entropy().sum(-1)

    @torch.no_grad()
    def deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return self._clip(self.mean(obs))

    def _clip(self, action: torch.Tensor) -> torch.Tensor:
        return torch.max(torch.min(action, self.high), self.low)


class PPOAgent(OnPolicyAgent):
    @classmethod
    def build(cls, cfg, obs_dim: int, act_dim: int, action_low, action_high) -> PPOAgent:
        a = cfg.agent
        policy = GaussianPPOPolicy(obs_dim, act_dim, action_low, action_high, hidden=a.hidden, act=a.act,
                                   init_log_std=a.init_log_std)
        value = orthogonal_mlp(obs_dim, a.hidden, 1, a.act, out_gain=1.0)
        return cls(policy, value, obs_dim, actor_lr=a.lr, critic_lr=a.lr, gamma=cfg.gamma, gae_lambda=a.gae_lambda,
                   epochs=a.epochs, minibatches=a.minibatches, clip=a.clip, clip_value=a.clip_value,
                   vf_coef=a.vf_coef, ent_coef=a.ent_coef, max_grad_norm=a.max_grad_norm, target_kl=a.target_kl,
                   norm_adv=a.norm_adv, anneal_lr=a.anneal_lr, obs_norm=a.obs_norm)

"""What Gaussian PPO and ReinFlow share: the value network, the PPO update loop and checkpoints.

A policy module provides

    sample(obs)            -> (env action, stored sample, log pi(sample | obs))    no grad
    log_prob(obs, sample)  -> (log pi, entropy), both [B]                          differentiable
    deterministic(obs)     -> env action                                           evaluation

One update (per rollout): V on every observation and true next observation, GAE
(``ppo_loss.gae``), then ``epochs`` passes over shuffled minibatches of

    L = L_clip + vf_coef * L_V - ent_coef * mean entropy [+ the agent's regulariser],

either ``minibatches`` near-equal parts of the rollout (CleanRL) or batches of ``batch_size``
over the rollout with every sample repeated ``sample_repeats`` times (ReinFlow's repeat_samples:
a permutation of the repeated index set, cut into ceil(repeats * N / batch_size) batches; a
sample may occur several times in one batch). Gradients are clipped to ``max_grad_norm`` (none
when null), over all parameters together (CleanRL) or, with ``grad_clip_per_module``, over the
policy and the value function separately (ReinFlow). During the first ``critic_warmup_iterations``
iterations only vf_coef * L_V is minimised (ReinFlow's critic warm-up). With ``target_kl`` the
update stops at the first minibatch whose approximate KL to the rollout policy exceeds it,
before stepping on it (ReinFlow steps on that minibatch, then stops; CleanRL checks once per
epoch, after stepping). One Adam (eps 1e-5, CleanRL) with the policy and the value function as two
parameter groups, each with its own learning rate, annealed linearly to 0 over the env-step budget
with ``anneal_lr`` (ReinFlow: two AdamW, cosine schedules; not reproduced).
"""

from __future__ import annotations

import torch
from torch import nn

from sacflow.agents.ppo_loss import gae, normalize_advantages, policy_loss, value_loss
from sacflow.agents.running_norm import ObservationNormalizer


class OnPolicyAgent(nn.Module):
    def __init__(self, policy: nn.Module, value: nn.Module, obs_dim: int, *, actor_lr: float, critic_lr: float,
                 gamma: float, gae_lambda: float = 0.95, epochs: int = 10, minibatches: int | None = 32,
                 batch_size: int | None = None, sample_repeats: int = 1, clip: float = 0.2,
                 clip_value: float | None = 0.2, vf_coef: float = 0.5, ent_coef: float = 0.0,
                 logprob_clip: tuple[float, float] | None = None, max_grad_norm: float | None = 0.5,
                 grad_clip_per_module: bool = False, target_kl: float | None = None, norm_adv: bool = True,
                 anneal_lr: bool = True, critic_warmup_iterations: int = 0, obs_norm: bool = False):
        super().__init__()
        if (minibatches is None) == (batch_size is None):
            raise ValueError(f"set exactly one of minibatches and batch_size, got {minibatches} and {batch_size}")
        for key, value_ in (("epochs", epochs), ("minibatches", minibatches), ("batch_size", batch_size),
                            ("sample_repeats", sample_repeats)):
            if value_ is not None and value_ < 1:
                raise ValueError(f"{key} must be >= 1, got {value_}")
        self.policy, self.value = policy, value
        self.obs_norm = ObservationNormalizer(obs_dim, obs_norm)
        self.gamma, self.gae_lambda = gamma, gae_lambda
        self.epochs, self.minibatches = epochs, minibatches
        self.batch_size, self.sample_repeats = batch_size, sample_repeats
        self.clip, self.clip_value, self.vf_coef, self.ent_coef = clip, clip_value, vf_coef, ent_coef
        self.logprob_clip = None if logprob_clip is None else tuple(logprob_clip)
        self.max_grad_norm, self.grad_clip_per_module = max_grad_norm, grad_clip_per_module
        self.target_kl, self.norm_adv = target_kl, norm_adv
        self.anneal_lr, self.critic_warmup_iterations = anneal_lr, critic_warmup_iterations
        self.base_lrs = (actor_lr, critic_lr)
        self.optim = torch.optim.Adam([{"params": list(policy.parameters()), "lr": actor_lr},
                                       {"params": list(value.parameters()), "lr": critic_lr}], eps=1e-5)

    # ------------------------------------------------------------------ acting
    def normalize(self, obs: torch.Tensor, update: bool = False) -> torch.Tensor:
        return self.obs_norm(obs, update=update)

    @torch.no_grad()
    def explore(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(env action, stored sample, log prob) for already-normalised observations."""
        return self.policy.sample(obs)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False, explore: bool = False) -> torch.Tensor:
        """Evaluation: raw observations in, env actions out (``explore``: no extra noise to drop here)."""
        obs = self.normalize(obs)
        return self.policy.deterministic(obs) if deterministic else self.policy.sample(obs)[0]

    # ------------------------------------------------------------------ update
    def regularizer(self, obs: torch.Tensor) -> tuple[torch.Tensor, dict] | None:
        """An extra actor loss on a minibatch (ReinFlow's BC term); none for plain PPO."""
        return None

    def _set_learning_rates(self, progress: float) -> None:
        frac = 1.0 - progress if self.anneal_lr else 1.0
        for group, base in zip(self.optim.param_groups, self.base_lrs):
            group["lr"] = base * max(frac, 0.0)

    def minibatch_indices(self, size: int, device=None) -> tuple[torch.Tensor, ...]:
        """One epoch's minibatches of indices into a rollout of ``size`` samples: a permutation of
        ``sample_repeats`` slots per sample (slot // repeats is the sample, as ReinFlow's
        unravel_index), cut into batches of ``batch_size`` or into ``minibatches`` parts."""
        order = torch.randperm(size * self.sample_repeats, device=device) // self.sample_repeats
        return order.split(self.batch_size) if self.batch_size else order.tensor_split(self.minibatches)

    def _clip_gradients(self) -> None:
        if self.max_grad_norm is None:
            return
        # ReinFlow clips per module, so a large value-loss gradient cannot shrink the actor's step.
        modules = (self.policy, self.value) if self.grad_clip_per_module else (self,)
        for module in modules:
            nn.utils.clip_grad_norm_(module.parameters(), self.max_grad_norm)

    def update(self, rollout: dict, iteration: int, progress: float = 0.0) -> dict:
        """One PPO update on a rollout of [T, N] tensors: obs, samples, log_probs, rewards,
        terminated, ended, next_obs (observations already normalised). ``iteration`` counts the
        updates before this one (critic warm-up); ``progress`` in [0, 1] is the fraction of the
        env-step budget already used (learning-rate annealing, CleanRL's frac)."""
        self._set_learning_rates(progress)
        obs, next_obs = rollout["obs"], rollout["next_obs"]
        with torch.no_grad():
            values = self.value(obs).squeeze(-1)
            next_values = self.value(next_obs).squeeze(-1)
        advantages, returns = gae(rollout["rewards"], values, next_values, rollout["terminated"], rollout["ended"],
                                  self.gamma, self.gae_lambda)
        flat = {"obs": obs, "samples": rollout["samples"], "log_probs": rollout["log_probs"], "values": values,
                "advantages": advantages, "returns": returns}
        flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in flat.items()}
        size = flat["obs"].shape[0]
        warmup = iteration < self.critic_warmup_iterations
        sums: dict[str, float] = {}
        updates, stopped = 0, False
        for _ in range(self.epochs):
            for idx in self.minibatch_indices(size, flat["obs"].device):
                mb = {k: v[idx] for k, v in flat.items()}
                loss, info = self._minibatch_loss(mb, warmup)
                if not warmup and self.target_kl is not None and info["losses/approx_kl"] > self.target_kl:
                    stopped = True
                    break
                self.optim.zero_grad(set_to_none=True)
                loss.backward()
                self._clip_gradients()
                self.optim.step()
                updates += 1
                for key, value in info.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
            if stopped:
                break
        metrics = {key: total / max(updates, 1) for key, total in sums.items()}
        explained = 1.0 - torch.var(returns - values) / torch.var(returns).clamp_min(1e-8)
        metrics.update({"ppo/minibatch_updates": updates, "ppo/kl_stop": float(stopped), "ppo/critic_warmup": float(warmup),
                        "ppo/explained_variance": float(explained), "ppo/actor_lr": self.optim.param_groups[0]["lr"],
                        "ppo/advantage_mean": float(advantages.mean()), "ppo/return_mean": float(returns.mean())})
        return metrics

    def _minibatch_loss(self, mb: dict, warmup: bool) -> tuple[torch.Tensor, dict]:
        new_values = self.value(mb["obs"]).squeeze(-1)
        v_loss, info = value_loss(new_values, mb["values"], mb["returns"], self.clip_value)
        if warmup:
            return self.vf_coef * v_loss, info
        log_prob, entropy = self.policy.log_prob(mb["obs"], mb["samples"])
        advantages = normalize_advantages(mb["advantages"]) if self.norm_adv else mb["advantages"]
        pg_loss, pg_info = policy_loss(log_prob, mb["log_probs"], advantages, self.clip, self.logprob_clip)
        loss = pg_loss + self.vf_coef * v_loss - self.ent_coef * entropy.mean()
        info.update(pg_info)
        info["losses/entropy"] = entropy.mean().detach()
        extra = self.regularizer(mb["obs"])
        if extra is not None:
            loss = loss + extra[0]
            info.update(extra[1])
        info["losses/total"] = loss.detach()
        return loss, info

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_state(self) -> dict:
        return {"modules": self.state_dict(), "optimizers": {"main": self.optim.state_dict()}}

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        self.optim.load_state_dict(state["optimizers"]["main"])

"""FQL (Park et al., 2025), QC-FQL and QC best-of-N (Li et al., 2025) on action chunks.

Modules: a BC flow v(s, x, t) (a velocity field, integrated with ``flow_steps`` Euler steps),
a one-step policy mu(s, z) and the chunk critic of ``chunked_critic`` (no entropy term).
With chunk horizon h = 1 this is FQL; h = 5 gives QC-FQL. One update, used offline and online:

    L_critic = chunked TD with a' = clip(mu(s', z'))               (best-of-N: a' = its own pick)
    L_actor  = L_flow-matching(v)
               + alpha * mean (mu(s, z) - clip(ODE_v(s, z)))^2     distillation, target without grad
               - mean_b mean_i Q_i(s, clip(mu(s, z)))              frozen critic

``acting='best_of_n'`` is QC: no one-step policy is trained (its loss is the flow matching
alone); an action is the critic's argmax over ``num_samples`` chunks from the BC flow.
One Adam over all trained modules, Polyak target towards the pre-step critic.
"""

from __future__ import annotations

import torch
from torch import nn

from sacflow.agents.chunked_critic import ChunkedCritic
from sacflow.networks.layers import mlp
from sacflow.policies.flow_matching import euler_sample, flow_matching_loss
from sacflow.utils.instantiate import instantiate

ACTING = ("onestep", "best_of_n")


class FQLAgent(nn.Module):
    def __init__(self, bc_flow: nn.Module, critic: ChunkedCritic, obs_dim: int, act_dim: int, horizon: int,
                 onestep_hidden=(512, 512, 512, 512), act: str = "gelu", lr: float = 3e-4, alpha: float = 100.0,
                 flow_steps: int = 10, acting: str = "onestep", num_samples: int = 32):
        super().__init__()
        if acting not in ACTING:
            raise ValueError(f"acting must be one of {ACTING}, got {acting!r}")
        if flow_steps < 1:
            raise ValueError(f"flow_steps must be >= 1, got {flow_steps}")
        self.bc_flow, self.critic = bc_flow, critic
        self.act_dim, self.horizon, self.chunk_dim = act_dim, horizon, act_dim * horizon
        self.alpha, self.flow_steps = alpha, flow_steps
        self.acting, self.num_samples = acting, num_samples
        self.onestep = mlp(obs_dim + self.chunk_dim, onestep_hidden, self.chunk_dim, act) if acting == "onestep" else None
        trained = [*bc_flow.parameters(), *critic.online.parameters()]
        if self.onestep is not None:
            trained += list(self.onestep.parameters())
        self.optim = torch.optim.Adam(trained, lr=lr, foreach=True)

    @classmethod
    def build(cls, cfg, obs_dim: int, act_dim: int) -> FQLAgent:
        a, h = cfg.agent, cfg.agent.horizon
        bc_flow = instantiate(a.bc_flow, obs_dim=obs_dim, act_dim=act_dim * h, steps=a.flow_steps)
        network = instantiate(cfg.critic.network, obs_dim=obs_dim, act_dim=act_dim * h)
        critic = ChunkedCritic(network, cfg.gamma, h, cfg.critic.tau)
        return cls(bc_flow, critic, obs_dim, act_dim, h, onestep_hidden=a.onestep_hidden, act=a.onestep_act,
                   lr=a.lr, alpha=a.alpha, flow_steps=a.flow_steps, acting=a.acting, num_samples=a.num_samples)

    # ------------------------------------------------------------------ policies
    def onestep_action(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """mu(s, z), unclipped."""
        return self.onestep(torch.cat([obs, z], dim=-1))

    def bc_action(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return euler_sample(self.bc_flow, obs, z, self.flow_steps).clamp(-1.0, 1.0)

    def _noise(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.randn(obs.shape[0], self.chunk_dim, device=obs.device, dtype=obs.dtype)

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, h * A] chunks: clip(mu(s, z)), or QC's best of ``num_samples`` BC-flow chunks."""
        if self.acting == "onestep":
            return self.onestep_action(obs, self._noise(obs)).clamp(-1.0, 1.0)
        batch, n = obs.shape[0], self.num_samples
        repeated = obs.repeat_interleave(n, dim=0)
        candidates = self.bc_action(repeated, self._noise(repeated))
        scores = self.critic(repeated, candidates).mean(0).view(batch, n)
        best = scores.argmax(dim=1)
        return candidates.view(batch, n, -1)[torch.arange(batch, device=obs.device), best]

    # ------------------------------------------------------------------ losses
    def critic_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        next_chunk = self.act(batch["next_observations"][:, -1])
        return self.critic.loss(batch, self.critic.target_value(batch, next_chunk, None))

    def actor_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        obs = batch["observations"]
        bc = flow_matching_loss(self.bc_flow, obs, batch["actions"], batch["valid"], self.act_dim)
        info = {"losses/bc_flow": bc.detach()}
        if self.onestep is None:
            return bc, info
        z = self._noise(obs)
        with torch.no_grad():
            target = self.bc_action(obs, z)
        action = self.onestep_action(obs, z)
        distill = ((action - target) ** 2).mean()
        q = self.critic.frozen_value(obs, action.clamp(-1.0, 1.0))
        loss = bc + self.alpha * distill - q.mean()
        info.update({"losses/actor": loss.detach(), "losses/distill": distill.detach(), "losses/actor_q": q.mean().detach()})
        return loss, info

    def update(self, batch: dict) -> dict:
        critic_loss, info = self.critic_loss(batch)
        actor_loss, actor_info = self.actor_loss(batch)
        self.optim.zero_grad(set_to_none=True)
        (critic_loss + actor_loss).backward()
        self.critic.polyak_update()  # towards the pre-step critic, as the reference
        self.optim.step()
        info.update(actor_info)
        return info

    # FQL uses the same update in both phases.
    offline_update = online_update = update

    def checkpoint_state(self) -> dict:
        return {"modules": self.state_dict(), "optimizers": {"main": self.optim.state_dict()}}

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        self.optim.load_state_dict(state["optimizers"]["main"])

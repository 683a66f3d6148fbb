"""N independent SAC agents trained as one: every tensor stacked along a leading seed axis.

``VectorisedSAC`` takes N ``SACAgent`` built as N single-seed runs would build them and stacks
each parameter and buffer (BatchRenorm statistics and step counters, log alpha, the target
critic) into one [N, ...] tensor. The agents' own tensors become views of their slice, so each
agent still acts, evaluates, saves and loads exactly as a single-seed agent: this class only
replaces the update and the training-time action sampler.

One update is ``SACAgent``'s own losses (``critic_loss``, ``actor_loss``, ``_next_action_impl``)
run through ``torch.func.functional_call`` under ``torch.func.vmap`` over the seed axis: one
batched forward and backward for all seeds. The per-seed losses are summed before ``backward``;
seeds share no parameter, so each seed's gradient is its own loss's. Adam is elementwise, so one
Adam over the stacked tensors is N Adams. Random draws (minibatch rows, policy noise) happen
outside vmap, from one ``torch.Generator`` per seed: no seed's numbers depend on the others.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, vmap

from sacflow.agents.sac import SACAgent

OPTIMIZERS = ("actor", "critic", "alpha")


class _Call(nn.Module):
    """Runs ``fn`` with ``agent`` as a submodule, so ``functional_call`` can swap its tensors."""

    def __init__(self, agent: SACAgent, fn):
        super().__init__()
        self.agent, self.fn = agent, fn

    def forward(self, *args):
        return self.fn(*args)


class VectorisedSAC:
    def __init__(self, agents: list[SACAgent], generators: list[torch.Generator]):
        if any(type(agent) is not SACAgent for agent in agents):
            names = sorted({type(agent).__name__ for agent in agents})
            raise TypeError(f"vectorised seeds train SACAgent only, got {names}")
        if not hasattr(agents[0].actor, "draw_noise"):
            raise TypeError(f"vectorised seeds need an actor with draw_noise, got {type(agents[0].actor).__name__}")
        self.agents, self.generators, self.n = agents, generators, len(agents)
        self.template = agents[0]
        t = self.template
        self.device = t.log_alpha.device
        self.params: dict[str, torch.Tensor] = {}
        self.buffers: dict[str, torch.Tensor] = {}
        for name, p in t.named_parameters():
            self.params[name] = torch.stack([dict(a.named_parameters())[name].detach() for a in agents]) \
                .requires_grad_(p.requires_grad)
        for name, _ in t.named_buffers():
            self.buffers[name] = torch.stack([dict(a.named_buffers())[name] for a in agents])
        # Each agent's tensors become views of its slice: acting, evaluation and checkpoints see the
        # stacked values, and an agent's load_state_dict writes into them.
        with torch.no_grad():
            for i, agent in enumerate(agents):
                for name, p in agent.named_parameters():
                    p.data = self.params[name].detach()[i]
                for name, b in agent.named_buffers():
                    b.data = self.buffers[name][i]
        groups = {"actor": "actor.", "critic": "critic.", "alpha": "log_alpha"}
        self.optimizers = {}
        for key, prefix in groups.items():
            own = getattr(t, f"{key}_optim").param_groups[0]
            names = [n for n in self.params if n.startswith(prefix)]
            self.optimizers[key] = t.fast.adam([self.params[n] for n in names], own["lr"], own["betas"])
        # The agent's own functions, run with the stacked tensors swapped in and vmapped over seeds;
        # compiled when fast.compile is on (each always runs in one train/eval mode, so compiles once).
        calls = {
            "next_action": t._next_action_impl,
            "critic_loss": t.critic_loss,
            "actor_loss": lambda batch, noise: t.actor_loss(batch, noise=noise),
            "sample": lambda obs, noise: t._full(t.actor(obs, noise=noise).action),
        }
        self.calls = {name: t.fast.wrap(self._vmapped(_Call(t, fn)), overhead_bound=name == "sample")
                      for name, fn in calls.items()}
        self.import_optimizer_states()

    # ------------------------------------------------------------ stacked tensors
    def _state(self, detach_critic: bool = False) -> dict[str, torch.Tensor]:
        state = {}
        for name, p in self.params.items():
            frozen = detach_critic and name.startswith("critic.")
            state["agent." + name] = p.detach() if frozen else p
        state.update({"agent." + name: b for name, b in self.buffers.items()})
        return state

    @staticmethod
    def _vmapped(module: _Call):
        return vmap(lambda state, *args: functional_call(module, state, args))

    def _vmap(self, call: str, *args, detach_critic: bool = False):
        return self.template.fast.clone(self.calls[call](self._state(detach_critic), *args))

    def draw_noise(self, batch: int) -> torch.Tensor:
        """[N, ...] policy noise for a batch of ``batch`` rows per seed, each from its seed's generator."""
        actor = self.template.actor
        noise = torch.stack([actor.draw_noise(batch, g, self.device) for g in self.generators])
        return noise.to(self.template.log_alpha.dtype)

    # ------------------------------------------------------------ acting and updating
    @torch.no_grad()
    def act(self, obs: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Training-time actions of every seed: ``obs`` [N, E, obs_dim] -> [N, E, act_dim]."""
        noise = self.draw_noise(obs.shape[1]) if noise is None else noise
        t = self.template
        with t.fast.in_mode(t.actor, training=False), t.fast.autocast():
            return self._vmap("sample", obs, noise)

    def update(self, batch: dict[str, torch.Tensor], noise: dict | None = None) -> dict[str, torch.Tensor]:
        """One update of every seed from ``batch`` ([N, B, ...] per field); returns [N] metrics.

        ``noise`` ({"next": [N, ...], "actor": [actor_updates, N, ...]}) defaults to fresh draws.
        """
        t, size = self.template, batch["obs"].shape[1]
        if noise is None:
            noise = {"next": self.draw_noise(size), "actor": [self.draw_noise(size) for _ in range(t.actor_updates)]}
        with torch.no_grad(), t.fast.in_mode(t.actor, training=False):
            next_action, next_log_prob = self._vmap("next_action", batch["next_obs"], noise["next"])
        loss, info = self._vmap("critic_loss", batch, next_action, next_log_prob)
        self._step("critic", loss)
        t.num_updates += 1
        if t.target_critic is not None:
            self._polyak_update()
        if t.num_updates % t.policy_delay == 0:
            for j in range(t.actor_updates):
                info.update(self._actor_update(batch, noise["actor"][j]))
        return info

    def _step(self, key: str, per_seed_loss: torch.Tensor) -> None:
        optim = self.optimizers[key]
        optim.zero_grad(set_to_none=True)
        per_seed_loss.sum().backward()  # seeds share no tensor: each gets its own loss's gradient
        optim.step()

    def _actor_update(self, batch, noise) -> dict[str, torch.Tensor]:
        t = self.template
        t.num_actor_updates += 1
        with t.fast.in_mode(t.actor, training=True), t.fast.in_mode(t.critic, training=False):
            loss, mean_log_prob, info = self._vmap("actor_loss", batch, noise, detach_critic=True)
            self._step("actor", loss)
        log_alpha = self.params["log_alpha"]
        if t.autotune_alpha:
            alpha_loss = -log_alpha.exp() * (mean_log_prob.detach() + t.target_entropy)
            self._step("alpha", alpha_loss)
            info["losses/alpha_loss"] = alpha_loss.detach()
        info["losses/alpha"] = log_alpha.detach().exp()
        return info

    @torch.no_grad()
    def _polyak_update(self):
        target = [n for n in self.params if n.startswith("target_critic.")]
        online = [self.params["critic." + n.removeprefix("target_critic.")] for n in target]
        torch._foreach_lerp_([self.params[n] for n in target], online, self.template.tau)
        for name, b in self.buffers.items():
            if name.startswith("target_critic."):
                b.copy_(self.buffers["critic." + name.removeprefix("target_critic.")])

    # ------------------------------------------------------------ per-seed checkpoints
    def export_optimizer_states(self) -> None:
        """Write seed i's slice of the stacked Adam states and the update counters into agent i,
        so its ``checkpoint_state`` is what a single-seed run would save."""
        for key in OPTIMIZERS:
            stacked = self.optimizers[key].state_dict()
            for i, agent in enumerate(self.agents):
                own = getattr(agent, f"{key}_optim")
                state = {k: {name: v if name == "step" else v[i].clone() for name, v in s.items()}
                         for k, s in stacked["state"].items()}
                own.load_state_dict({"state": state, "param_groups": own.state_dict()["param_groups"]})
        for agent in self.agents:
            agent.num_updates, agent.num_actor_updates = self.template.num_updates, self.template.num_actor_updates

    def import_optimizer_states(self) -> None:
        """The stacked Adam states from the agents' own (after they loaded a checkpoint)."""
        for key in OPTIMIZERS:
            per_seed = [getattr(agent, f"{key}_optim").state_dict() for agent in self.agents]
            if not per_seed[0]["state"]:
                continue  # fresh optimisers
            state = {k: {name: v if name == "step" else torch.stack([s["state"][k][name] for s in per_seed])
                         for name, v in first.items()} for k, first in per_seed[0]["state"].items()}
            target = self.optimizers[key]
            target.load_state_dict({"state": state, "param_groups": target.state_dict()["param_groups"]})

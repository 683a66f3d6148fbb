"""Schema of the whole composed config: the run's own keys, and the groups handed to their schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from sacflow.schema.agents import agent_schema
from sacflow.schema.envs import dataset_schema, env_schema
from sacflow.schema.fields import at_least, between, one_of, opt, positive, req, sub
from sacflow.schema.networks import BatchRenormSchema, targets

TRAINERS = ("online", "offline_to_online", "on_policy")  # sacflow.trainers.TRAINERS
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")  # sacflow.agents.fast_path.COMPILE_MODES
WANDB_MODES = ("online", "offline", "disabled")
CRITIC_STYLES = ("crossq", "polyak")
PRETRAINING_AGENTS = ("sacflow.agents.reinflow.ReinFlowAgent",)  # the agents with a pretrain_update
TARGET_CRITIC_AGENTS = ("sacflow.agents.flowrl.FlowRLAgent", "sacflow.agents.qsm.QSMAgent")  # agents.q_guided


def _device(v) -> str | None:
    return None if re.fullmatch(r"auto|cpu|cuda(:\d+)?", v) else "unknown device; use auto, cpu, cuda or cuda:N"


def _threads(v) -> str | None:
    ok = v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
    return None if ok else "must be a positive integer or auto"


def _checkpoint_every(v) -> str | None:
    ok = v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
    return None if ok else "must be a positive integer or auto (every 10% of the run, at most 10k steps apart)"


def _seeds(v) -> str | None:
    ok = len(v) >= 1 and all(s >= 0 for s in v) and len(set(v)) == len(v)
    return None if ok else "must be a non-empty list of distinct non-negative integers (or null for one seed)"


def _betas(v) -> str | None:
    return None if len(v) == 2 and all(0.0 <= b < 1.0 for b in v) else "must be [beta1, beta2], each in [0, 1)"


@dataclass
class EvalSchema:
    """eval (evaluation cadence and policies)."""

    every: int = req(at_least(0))
    episodes: int = req(at_least(0))
    deterministic: bool = req()
    stochastic: bool = req()
    workers: int = req(positive)
    asynchronous: bool = req()


@dataclass
class FastSchema:
    """fast (speed levers)."""

    compile: bool = req()
    compile_mode: str = req(one_of(*COMPILE_MODES))
    bf16: bool = req()


@dataclass
class WandbSchema:
    """logger.wandb."""

    mode: str = req(one_of(*WANDB_MODES))
    project: str = req()
    entity: str | None = req(null=True)
    group: str = req()
    name: str = req()


@dataclass
class LoggerSchema:
    """logger."""

    tensorboard: bool = req()
    progress: bool = req()
    wandb: Any = sub(WandbSchema)


def _detach_needs_crossq(node: dict, root: dict):
    if node.get("detach_next_half") and (node["style"] != "crossq" or not node["network"].get("stacked", True)):
        return "detach_next_half", ("needs critic.style=crossq and critic.network.stacked=true "
                                    "(the joint [s; s'] pass it cuts in half)")
    return None


@dataclass
class CriticSchema:
    """the critic group"""

    name: str = req()
    style: str = req(one_of(*CRITIC_STYLES))
    network: Any = targets()
    lr: float | None = opt(between(0.0, 1.0, low_open=True))
    betas: list[float] | None = opt(_betas)
    tau: float = req(between(0.0, 1.0, low_open=True))
    policy_delay: int | None = opt(positive)
    actor_updates: int | None = opt(positive)
    detach_next_half: bool | None = opt()

    relations: ClassVar[tuple] = (_detach_needs_crossq,)


def _updates_happen(node: dict, root: dict):
    """Relations between the run's own keys; each names the key to change."""
    trainer = node["trainer"]
    if trainer != "on_policy" and node["buffer_size"] < node["batch_size"]:
        return "buffer_size", f"must hold at least one batch (batch_size={node['batch_size']})"
    if trainer == "online":
        if node["learning_starts"] > node["total_steps"]:
            return "learning_starts", f"must not exceed total_steps={node['total_steps']}: no update would run"
        if node["total_steps"] % node["num_envs"]:
            return "total_steps", f"must be a multiple of num_envs={node['num_envs']}"
    if trainer == "offline_to_online":
        for key in ("offline_steps", "online_steps", "start_training"):
            if key not in node:
                return key, "missing: an offline-to-online run must set it"
        if node["online_steps"] and node["start_training"] >= node["online_steps"]:
            return "start_training", f"must be below online_steps={node['online_steps']}: no online update would run"
    if trainer == "on_policy":
        return _on_policy(node)
    return None


def _on_policy(node: dict):
    agent, manipulation = node["agent"], "suite" in node["env"]
    rollout = agent.get("num_envs", 1) * agent.get("rollout_steps", 1) * agent.get("horizon", 1)
    if node["total_steps"] < rollout:
        return "total_steps", f"is shorter than one rollout ({rollout} env steps: agent.num_envs x rollout_steps x horizon)"
    if node.get("pretrain_steps") and not manipulation:
        return "pretrain_steps", "pretraining needs a dataset: only the offline-to-online suites have one"
    if node.get("pretrain_steps") and agent["cls"] not in PRETRAINING_AGENTS:
        return "pretrain_steps", f"{agent['cls']} has no pretraining; set pretrain_steps=0"
    if manipulation and not agent["reset_every_iteration"]:
        return "agent.reset_every_iteration", ("must be true on Robomimic/OGBench "
                                               "(their simulator state is not checkpointed mid-episode)")
    return None


def _critic_fits_agent(node: dict, root: dict):
    if node["agent"]["cls"] in TARGET_CRITIC_AGENTS and node["critic"]["style"] != "polyak":
        return "critic.style", f"{node['agent']['name']} needs a target critic: use critic=sac (polyak)"
    return None


@dataclass
class RunSchema:
    """the run config"""

    trainer: str = req(one_of(*TRAINERS))
    seed: int = req(at_least(0))
    seeds: list[int] | None = req(_seeds, null=True)
    device: str = req(_device)
    threads: Any = req(_threads)
    total_steps: int = req(positive)
    learning_starts: int = req(at_least(0))
    num_envs: int = req(positive)
    utd: int = req(positive)
    batch_size: int = req(positive)
    buffer_size: int = req(positive)
    gamma: float = req(between(0.0, 1.0))
    eval: Any = sub(EvalSchema)
    log_every: int = req(positive)
    checkpoint_every: Any = req(_checkpoint_every)
    fast: Any = sub(FastSchema)
    batch_renorm: Any = sub(BatchRenormSchema)
    run_name: str = req()
    out_dir: str = req()
    env: Any = sub(env_schema)
    dataset: Any = sub(dataset_schema, required=False)
    velocity: Any = targets()
    critic: Any = sub(CriticSchema)
    agent: Any = sub(agent_schema)
    logger: Any = sub(LoggerSchema)
    offline_steps: int | None = opt(at_least(0))
    online_steps: int | None = opt(at_least(0))
    start_training: int | None = opt(at_least(0))
    pretrain_steps: int | None = opt(at_least(0))

    relations: ClassVar[tuple] = (_updates_happen, _critic_fits_agent)



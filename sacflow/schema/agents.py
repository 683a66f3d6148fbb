"""Schemas of the agents, chosen by ``agent.cls``; every agent also has ``name``, ``tag`` and ``cls``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sacflow.config_checks import ConfigError
from sacflow.schema.fields import (
    at_least,
    between,
    bounds,
    finite_positive,
    non_empty_widths,
    one_of,
    positive,
    req,
    sub,
    widths,
)
from sacflow.schema.networks import ACTIVATIONS, targets

FQL_ACTING = ("onestep", "best_of_n")  # sacflow.agents.fql.ACTING
O2O_SCHEDULES = ("paper", "official")  # sacflow.agents.sac_flow_o2o.SCHEDULES
O2O_BC_TARGETS = ("pre_tanh", "raw")  # sacflow.agents.sac_flow_o2o.BC_TARGETS
O2O_ALPHA_LOSSES = ("official", "standard")  # sacflow.agents.sac_flow_o2o.ALPHA_LOSSES
LEARNING_RATE = between(0.0, 1.0, low_open=True)
PROBABILITY = between(0.0, 1.0)


@dataclass
class AgentSchema:
    """Keys of every agent."""

    name: str = req()
    tag: str = req()
    cls: str = req()


@dataclass
class SACSchema(AgentSchema):
    """a SAC-family agent (sacflow.agents.sac.SACAgent: SAC Flow, Gaussian SAC, DIME)"""

    actor: Any = targets()
    actor_lr: float = req(LEARNING_RATE)
    alpha_lr: float = req(LEARNING_RATE)
    alpha_init: float = req(finite_positive)
    autotune_alpha: bool = req()
    target_entropy_per_dim: float = req()
    grad_diagnostic_every: int = req(at_least(0))


@dataclass
class FlowRLSchema(AgentSchema):
    """FlowRL (sacflow.agents.flowrl.FlowRLAgent)"""

    actor: Any = targets()
    actor_lr: float = req(LEARNING_RATE)
    lam: float = req(at_least(0.0))
    expectile: float = req(between(0.0, 1.0, low_open=True, high_open=True))
    replay_recent_fraction: float = req(between(0.0, 1.0, high_open=True))
    replay_recent_window: int = req(positive)


@dataclass
class QSMSchema(AgentSchema):
    """QSM (sacflow.agents.qsm.QSMAgent)"""

    actor: Any = targets()
    actor_lr: float = req(LEARNING_RATE)
    q_grad_coeff: float = req(finite_positive)
    exploration_noise: float = req(at_least(0.0))
    target_noise: float = req(at_least(0.0))


@dataclass
class O2OSchema(AgentSchema):
    """Keys of every offline-to-online agent."""

    horizon: int = req(positive)
    lr: float = req(LEARNING_RATE)


@dataclass
class SACFlowO2OSchema(O2OSchema):
    """offline-to-online SAC Flow (sacflow.agents.sac_flow_o2o.SACFlowO2OAgent)"""

    actor: Any = targets()
    noise_std_actor: float = req(finite_positive)
    noise_std_act: float = req(finite_positive)
    offline_schedule: str = req(one_of(*O2O_SCHEDULES))
    bc_target: str = req(one_of(*O2O_BC_TARGETS))
    beta_offline: float = req(at_least(0.0))
    beta_online: float = req(at_least(0.0))
    alpha_lr: float = req(LEARNING_RATE)
    alpha_init: float = req(finite_positive)
    alpha_loss: str = req(one_of(*O2O_ALPHA_LOSSES))
    target_entropy: float = req()


@dataclass
class FQLSchema(O2OSchema):
    """FQL, QC-FQL and QC (sacflow.agents.fql.FQLAgent)"""

    acting: str = req(one_of(*FQL_ACTING))
    alpha: float = req(at_least(0.0))
    flow_steps: int = req(positive)
    bc_flow: Any = targets()
    onestep_hidden: list[int] = req(non_empty_widths)
    onestep_act: str = req(one_of(*ACTIVATIONS))
    num_samples: int = req(positive)


@dataclass
class OnPolicySchema(AgentSchema):
    """Keys of every on-policy agent."""

    num_envs: int = req(positive)
    rollout_steps: int = req(positive)
    horizon: int = req(positive)
    reset_every_iteration: bool = req()
    reward_norm: bool = req()
    anneal_lr: bool = req()
    epochs: int = req(positive)
    minibatches: int | None = req(positive, null=True)
    clip: float = req(finite_positive)
    clip_value: float | None = req(finite_positive, null=True)
    gae_lambda: float = req(PROBABILITY)
    vf_coef: float = req(at_least(0.0))
    ent_coef: float = req(at_least(0.0))
    max_grad_norm: float | None = req(finite_positive, null=True)
    target_kl: float | None = req(finite_positive, null=True)
    norm_adv: bool = req()


@dataclass
class PPOSchema(OnPolicySchema):
    """PPO (sacflow.agents.ppo.PPOAgent)"""

    hidden: list[int] = req(widths)
    act: str = req(one_of(*ACTIVATIONS))
    init_log_std: float = req()
    lr: float = req(LEARNING_RATE)
    obs_norm: bool = req()


def _sigma_order(node: dict, root: dict):
    return ("sigma_max", f"must be >= sigma_min={node['sigma_min']}") if node["sigma_max"] < node["sigma_min"] else None


@dataclass
class ExploreNoiseSchema:
    """ReinFlow's exploration-noise network (agent.noise)."""

    hidden: list[int] = req(widths)
    act: str = req(one_of(*ACTIVATIONS))
    time_dim: int = req(positive)
    sigma_min: float = req(finite_positive)
    sigma_max: float = req(finite_positive)

    relations: ClassVar[tuple] = (_sigma_order,)


def _batch_or_minibatches(node: dict, root: dict):
    if (node["minibatches"] is None) == (node.get("batch_size") is None):
        return "minibatches", "set exactly one of agent.minibatches and agent.batch_size"
    return None


@dataclass
class ReinFlowSchema(OnPolicySchema):
    """ReinFlow (sacflow.agents.reinflow.ReinFlowAgent)"""

    flow_steps: int = req(positive)
    velocity: Any = targets()
    noise: Any = sub(ExploreNoiseSchema)
    clip_mean: bool = req()
    noise_clip: float = req(finite_positive)
    initial_log_prob: bool = req()
    normalize_log_prob: bool = req()
    value_hidden: list[int] = req(non_empty_widths)
    value_act: str = req(one_of(*ACTIVATIONS))
    pretrain_lr: float = req(LEARNING_RATE)
    pretrain_batch_size: int = req(positive)
    actor_lr: float = req(LEARNING_RATE)
    critic_lr: float = req(LEARNING_RATE)
    batch_size: int | None = req(positive, null=True)
    sample_repeats: int = req(positive)
    logprob_clip: list[float] | None = req(bounds, null=True)
    grad_clip_per_module: bool = req()
    critic_warmup_iterations: int = req(at_least(0))
    bc_coef: float = req(at_least(0.0))

    relations: ClassVar[tuple] = (_batch_or_minibatches,)


AGENTS = {
    "sacflow.agents.sac.SACAgent": SACSchema,
    "sacflow.agents.flowrl.FlowRLAgent": FlowRLSchema,
    "sacflow.agents.qsm.QSMAgent": QSMSchema,
    "sacflow.agents.sac_flow_o2o.SACFlowO2OAgent": SACFlowO2OSchema,
    "sacflow.agents.fql.FQLAgent": FQLSchema,
    "sacflow.agents.ppo.PPOAgent": PPOSchema,
    "sacflow.agents.reinflow.ReinFlowAgent": ReinFlowSchema,
}


def agent_schema(node, key: str) -> type:
    cls = node.get("cls") if isinstance(node, dict) else None
    if cls not in AGENTS:
        raise ConfigError("agent.cls", f"not an agent of this framework; one of {', '.join(sorted(AGENTS))}", cls)
    return AGENTS[cls]

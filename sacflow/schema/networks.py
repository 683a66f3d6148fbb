"""Schemas of the networks and policies a config builds by ``_target_`` (hydra.utils.instantiate).

Keys a constructor has a default for are optional here; ``tests/test_config_schema.py`` checks that
every field is a parameter of its target and that the value sets below are the code's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from sacflow.config_checks import ConfigError
from sacflow.schema.fields import (
    between,
    bounds,
    finite_positive,
    non_empty_widths,
    one_of,
    opt,
    positive,
    req,
    sub,
    widths,
)

ACTIVATIONS = ("relu", "silu", "gelu", "tanh", "identity")  # sacflow.networks.layers.ACTIVATIONS
NORMS = ("batchrenorm", "layernorm", "none")  # sacflow.networks.layers.norm_layer
CRITIC_LAYOUTS = ("mlp", "layernorm")  # sacflow.networks.critic.LAYOUTS
TIME_EMBEDDINGS = ("sinusoidal", "raw")
NOISE_ON = ("state", "velocity")


def targets(*, required: bool = True) -> Any:
    """A nested mapping checked by the schema registered for its ``_target_``."""
    return sub(target_schema, required=required)


def target_schema(node, key: str) -> type:
    target = node.get("_target_") if isinstance(node, dict) else None
    if target not in TARGETS:
        raise ConfigError(f"{key}._target_", f"not a network or policy this framework builds; one of "
                                              f"{', '.join(sorted(TARGETS))}", target)
    return TARGETS[target]


@dataclass
class BatchRenormSchema:
    """batch_renorm (BatchRenorm statistics)."""

    momentum: float = req(between(0.0, 1.0, high_open=True))
    eps: float = req(finite_positive)
    r_max: float = req(between(1.0, float("inf")))
    d_max: float = req(between(0.0, float("inf")))
    warmup_steps: int = req(between(0, float("inf")))

@dataclass
class NetworkSchema:
    """Keys every ``_target_`` mapping may carry."""

    _target_: str = req()
    _partial_: bool | None = opt()
    name: str | None = opt()  # the velocity group's label (run names), not a constructor argument

@dataclass
class MLPVelocitySchema(NetworkSchema):
    """an MLP velocity (sacflow.networks.velocity.MLPVelocity)"""

    hidden: list[int] | None = opt(non_empty_widths)
    act: str | None = opt(one_of(*ACTIVATIONS))
    input_norm: str | None = opt(one_of(*NORMS))
    learn_noise: bool | None = opt()
    log_std_bounds: list[float] | None = opt(bounds)
    batch_renorm: Any = sub(BatchRenormSchema, required=False)
    hoist_state_input: bool | None = opt()

@dataclass
class LayerNormMLPVelocitySchema(NetworkSchema):
    """FlowRL's LayerNorm + ELU velocity (sacflow.networks.velocity.LayerNormMLPVelocity)"""

    hidden: list[int] | None = opt(non_empty_widths)

@dataclass
class FlowGVelocitySchema(NetworkSchema):
    """a Flow-G velocity (sacflow.networks.velocity.FlowGVelocity)"""

    candidate_hidden: list[int] | None = opt(widths)
    gate_hidden: list[int] | None = opt(widths)
    act: str | None = opt(one_of(*ACTIVATIONS))
    gate_act: str | None = opt(one_of(*ACTIVATIONS), null=True)
    candidate_activation: str | None = opt(one_of(*ACTIVATIONS))
    gate_bias_init: float | None = opt()
    time_embedding: str | None = opt(one_of(*TIME_EMBEDDINGS))
    time_embedding_dim: int | None = opt(positive)
    input_norm: str | None = opt(one_of(*NORMS))
    learn_noise: bool | None = opt()
    log_std_hidden: list[int] | None = opt(widths)
    log_std_bounds: list[float] | None = opt(bounds)
    batch_renorm: Any = sub(BatchRenormSchema, required=False)
    hoist_state_input: bool | None = opt()

def _heads_divide_width(node: dict, root: dict):
    d_model, heads = node.get("d_model", 96), node.get("n_heads", 4)
    if d_model % heads:
        return "d_model", f"must be divisible by n_heads={heads} (each head gets d_model / n_heads features)"
    return None

@dataclass
class FlowTVelocitySchema(NetworkSchema):
    """a Flow-T velocity (sacflow.networks.velocity.FlowTVelocity)"""

    d_model: int | None = opt(positive)
    n_heads: int | None = opt(positive)
    n_layers: int | None = opt(positive)
    ffn_mult: int | None = opt(positive)
    norm: str | None = opt(one_of(*NORMS))
    norm_position: str | None = opt(one_of("pre", "post"))
    input_norm: str | None = opt(one_of(*NORMS))
    per_step_input_norm: bool | None = opt()
    closed_form_attention: bool | None = opt()
    learn_noise: bool | None = opt()
    log_std_bounds: list[float] | None = opt(bounds)
    batch_renorm: Any = sub(BatchRenormSchema, required=False)

    relations: ClassVar[tuple] = (_heads_divide_width,)

@dataclass
class QEnsembleSchema(NetworkSchema):
    """a critic ensemble (sacflow.networks.critic.QEnsemble)"""

    n: int | None = opt(positive)
    hidden: list[int] | None = opt(non_empty_widths)
    act: str | None = opt(one_of(*ACTIVATIONS))
    norm: str | None = opt(one_of(*NORMS))
    batch_renorm: Any = sub(BatchRenormSchema, required=False)
    input_norm: str | None = opt(one_of(*NORMS), null=True)
    stacked: bool | None = opt()
    layout: str | None = opt(one_of(*CRITIC_LAYOUTS))

@dataclass
class FlowPolicySchema(NetworkSchema):
    """the K-step flow policy (sacflow.policies.flow.FlowPolicy)"""

    velocity: Any = targets()
    steps: int | None = opt(positive)
    noise_on: str | None = opt(one_of(*NOISE_ON))
    logp_sigma_term: bool | None = opt()
    drift_correction: bool | None = opt()
    noise_std: float | None = opt(finite_positive, null=True)

@dataclass
class MidpointFlowPolicySchema(NetworkSchema):
    """FlowRL's midpoint flow policy (sacflow.policies.midpoint_flow.MidpointFlowPolicy)"""

    velocity: Any = targets()
    steps: int | None = opt(positive)

@dataclass
class GaussianPolicySchema(NetworkSchema):
    """the tanh-Gaussian policy (sacflow.policies.gaussian.GaussianPolicy)"""

    hidden: list[int] | None = opt(widths)
    act: str | None = opt(one_of(*ACTIVATIONS))
    log_std_bounds: list[float] | None = opt(bounds)
    logp_sigma_term: bool | None = opt()

@dataclass
class DiffusionSamplerPolicySchema(NetworkSchema):
    """DIME's diffusion sampler (sacflow.policies.diffusion_sampler.DiffusionSamplerPolicy)"""

    score: Any = targets()
    steps: int | None = opt(positive)
    step_size: float | None = opt(finite_positive)
    learn_step_size: bool | None = opt()

@dataclass
class DDPMPolicySchema(NetworkSchema):
    """QSM's DDPM policy (sacflow.policies.ddpm.DDPMPolicy)"""

    denoiser: Any = targets()
    steps: int | None = opt(positive)
    ema_tau: float | None = opt(between(0.0, 1.0, low_open=True))
    clip_sampler: bool | None = opt()

TARGETS = {
    "sacflow.networks.velocity.MLPVelocity": MLPVelocitySchema,
    "sacflow.networks.velocity.LayerNormMLPVelocity": LayerNormMLPVelocitySchema,
    "sacflow.networks.velocity.FlowGVelocity": FlowGVelocitySchema,
    "sacflow.networks.velocity.FlowTVelocity": FlowTVelocitySchema,
    "sacflow.networks.critic.QEnsemble": QEnsembleSchema,
    "sacflow.policies.flow.FlowPolicy": FlowPolicySchema,
    "sacflow.policies.midpoint_flow.MidpointFlowPolicy": MidpointFlowPolicySchema,
    "sacflow.policies.gaussian.GaussianPolicy": GaussianPolicySchema,
    "sacflow.policies.diffusion_sampler.DiffusionSamplerPolicy": DiffusionSamplerPolicySchema,
    "sacflow.policies.ddpm.DDPMPolicy": DDPMPolicySchema,
}

"""Velocity networks u(s, x_k, t_k): the drop-in cells of the K-step flow rollout."""

from sacflow.networks.velocity.base import VelocityField
from sacflow.networks.velocity.flow_g import FlowGVelocity
from sacflow.networks.velocity.flow_t import FlowTVelocity
from sacflow.networks.velocity.layernorm_mlp import LayerNormMLPVelocity
from sacflow.networks.velocity.mlp import MLPVelocity

__all__ = ["FlowGVelocity", "FlowTVelocity", "LayerNormMLPVelocity", "MLPVelocity", "VelocityField"]

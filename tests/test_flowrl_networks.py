"""FlowRL's own networks (bytedance/FlowRL model/model.py), recomputed here with plain tensor formulas."""

import math

import pytest
import torch
from conftest import compose_config
from torch import nn

from sacflow.agents.flowrl import FlowRLAgent
from sacflow.config_checks import ConfigError
from sacflow.networks.critic import QEnsemble
from sacflow.networks.layers import layernorm_value_net
from sacflow.networks.velocity import LayerNormMLPVelocity
from sacflow.schema import validate


def layer_norm(h, ln):
    mean = h.mean(-1, keepdim=True)
    var = ((h - mean) ** 2).mean(-1, keepdim=True)  # biased variance, as LayerNorm
    return (h - mean) / torch.sqrt(var + 1e-5) * ln.weight + ln.bias


def gelu(h):  # the exact (erf) GELU
    return 0.5 * h * (1.0 + torch.erf(h / math.sqrt(2.0)))


def elu(h):
    return torch.where(h > 0, h, torch.exp(h) - 1.0)


def linear(h, layer):
    return h @ layer.weight.t() + layer.bias


def perturb_(module, seed=0):
    """Non-trivial LayerNorm affines and biases, so a missing or misplaced term shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def test_value_net_has_the_official_layer_order():
    net = layernorm_value_net(7, [16, 16, 16, 16], 1)
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Linear", "LayerNorm", "Linear", "LayerNorm", "GELU", "Linear", "LayerNorm", "GELU",
                     "Linear", "LayerNorm", "Linear"]
    assert all(layer.eps == 1e-5 for layer in net if isinstance(layer, nn.LayerNorm))
    assert all(layer.approximate == "none" for layer in net if isinstance(layer, nn.GELU))


def test_value_net_forward_by_hand():
    torch.manual_seed(0)
    net = perturb_(layernorm_value_net(7, [16, 12, 10, 8], 1).double())
    x = torch.randn(5, 7, dtype=torch.float64)
    lin = [m for m in net if isinstance(m, nn.Linear)]
    ln = [m for m in net if isinstance(m, nn.LayerNorm)]
    h = layer_norm(linear(x, lin[0]), ln[0])
    h = gelu(layer_norm(linear(h, lin[1]), ln[1]))
    h = gelu(layer_norm(linear(h, lin[2]), ln[2]))
    h = layer_norm(linear(h, lin[3]), ln[3])
    torch.testing.assert_close(net(x), linear(h, lin[4]), rtol=1e-12, atol=1e-12)


def test_a_recent_fraction_of_one_is_refused_with_its_key():
    cfg = compose_config(["method=flowrl", "agent.replay_recent_fraction=1.0"])
    with pytest.raises(ConfigError, match=r"^agent.replay_recent_fraction=1.0: must lie in \[0, 1\)"):
        validate(cfg)


def test_value_net_needs_two_widths():
    with pytest.raises(ValueError, match="needs >= 2 hidden widths"):
        layernorm_value_net(3, [8], 1)


def test_xavier_init_and_zero_biases():
    torch.manual_seed(0)
    net = layernorm_value_net(300, [200, 200], 1)
    first = net[0]
    bound = math.sqrt(6.0 / (300 + 200))  # Xavier-uniform with gain 1
    assert first.weight.abs().max() <= bound and first.weight.abs().max() > 0.95 * bound
    assert first.weight.std().item() == pytest.approx(bound / math.sqrt(3.0), rel=0.02)
    assert all(torch.count_nonzero(m.bias) == 0 for m in net if isinstance(m, nn.Linear))


def test_flow_velocity_forward_by_hand():
    torch.manual_seed(0)
    velocity = perturb_(LayerNormMLPVelocity(obs_dim=4, act_dim=2, steps=1, hidden=[16, 8]).double())
    obs, x, t = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64), torch.full((1, 1), 0.5,
                                                                                                           dtype=torch.float64)
    lin = [m for m in velocity.net if isinstance(m, nn.Linear)]
    ln = [m for m in velocity.net if isinstance(m, nn.LayerNorm)]
    h = elu(layer_norm(linear(torch.cat([obs, x, t.expand(3, 1)], -1), lin[0]), ln[0]))
    h = elu(layer_norm(linear(h, lin[1]), ln[1]))
    u, log_std = velocity(velocity.context(obs), x, t, 0)
    torch.testing.assert_close(u, linear(h, lin[2]), rtol=1e-12, atol=1e-12)
    assert log_std is None and not velocity.learns_noise


def test_flowrl_builds_its_own_networks():
    cfg = compose_config(["method=flowrl", "env=inverted_pendulum"])
    agent = FlowRLAgent.build(cfg, 4, 1, [-3.0], [3.0])
    assert isinstance(agent.critic, QEnsemble) and cfg.critic.network.layout == "layernorm"
    assert list(cfg.critic.network.hidden) == [512] * 4 and list(cfg.agent.actor.velocity.hidden) == [512, 512]
    assert (cfg.critic.tau, cfg.critic.policy_delay, cfg.critic.lr) == (0.95, 2, 3e-4)
    assert (cfg.agent.replay_recent_fraction, cfg.agent.replay_recent_window) == (0.2, 2048)
    assert isinstance(agent.actor.velocity, LayerNormMLPVelocity)
    # Q_buf starts as a copy of Q (official hard_update), in its own tensors.
    for a, b in zip(agent.critic.parameters(), agent.buffer_critic.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    kinds = [type(layer).__name__ for layer in agent.buffer_value]
    assert kinds[:5] == ["Linear", "LayerNorm", "Linear", "LayerNorm", "GELU"] and agent.buffer_value[0].in_features == 4

"""Velocity networks: shapes, Flow-G's gate start, gradient reach, Flow-T attention, sizes."""

import functools

import pytest
import torch

from sacflow.networks.velocity import FlowGVelocity, FlowTVelocity, MLPVelocity
from sacflow.policies.flow import FlowPolicy

NETS = {"mlp": MLPVelocity, "flow_g": FlowGVelocity, "flow_t": FlowTVelocity}


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize("batch", [1, 7])
def test_shapes_in_train_and_eval(name, batch):
    torch.manual_seed(batch)
    net = NETS[name](obs_dim=11, act_dim=3, steps=4)
    for mode in (True, False):
        net.train(mode)
        ctx = net.context(torch.randn(batch, 11))
        u, log_std = net(ctx, torch.randn(batch, 3), torch.full((1, 1), 0.25), 1)
        assert u.shape == (batch, 3) and log_std.shape == (batch, 3)
        # The bounds are open in exact arithmetic; tanh saturates to +-1 in float32.
        assert (log_std >= -5).all() and (log_std <= 2).all()


def test_flow_g_gate_starts_at_sigmoid_of_five_everywhere():
    net = FlowGVelocity(obs_dim=11, act_dim=3, steps=4)
    last = net.gate[-1]
    assert torch.count_nonzero(last.weight) == 0 and torch.all(last.bias == 5.0)
    ctx = net.context(torch.randn(9, 11) * 10)
    z = net.gate_value(ctx, torch.randn(9, 3) * 10, torch.full((1, 1), 0.5))
    torch.testing.assert_close(z, torch.full((9, 3), torch.sigmoid(torch.tensor(5.0)).item()))


def test_flow_g_velocity_is_gate_times_candidate_minus_x():
    torch.manual_seed(0)
    net = FlowGVelocity(obs_dim=4, act_dim=2, steps=4, input_norm="none", candidate_activation="tanh")
    torch.nn.init.normal_(net.gate[-1].weight)
    obs, x, t = torch.randn(5, 4), torch.randn(5, 2), torch.full((1, 1), 0.75)
    ctx = net.context(obs)
    h = torch.cat([obs, x, net._time_features(t, 5)], dim=-1)
    expected = torch.sigmoid(net.gate(h)) * (torch.tanh(net.candidate(h)) - x)
    torch.testing.assert_close(net(ctx, x, t, 3)[0], expected)


@pytest.mark.parametrize("name", sorted(NETS))
def test_gradients_reach_every_flow_step_and_parameter(name):
    torch.manual_seed(0)
    policy = FlowPolicy(NETS[name], 11, 3, [-1.0] * 3, [1.0] * 3, steps=4)
    out = policy(torch.randn(32, 11), keep_path=True)
    loss = (out.action.pow(2).sum(-1) + 0.1 * out.log_prob).mean()
    grads = torch.autograd.grad(loss, out.path, retain_graph=True)
    assert len(grads) == 5 and all(g.abs().sum() > 0 for g in grads)
    loss.backward()
    dead = {n for n, _ in policy.named_parameters() if n.endswith((".q.weight", ".q.bias", ".k.weight", ".k.bias"))}
    # Flow-G's gate output layer starts at weight 0, so the layer feeding it gets no gradient yet.
    gated = {"velocity.gate.0.weight", "velocity.gate.0.bias"}
    for n, p in policy.named_parameters():
        if n in dead:  # softmax over one key is 1: q/k projections get (numerically) zero gradient
            assert p.grad is None or p.grad.abs().max() < 1e-6, n
        elif n in gated:
            assert torch.count_nonzero(p.grad) == 0, n
        else:
            assert p.grad is not None and torch.count_nonzero(p.grad) > 0, n


@pytest.mark.parametrize("position", ["pre", "post"])
def test_flow_t_closed_form_attention_is_exact(position):
    torch.manual_seed(1)
    full = FlowTVelocity(obs_dim=11, act_dim=3, steps=4, norm_position=position)
    fast = FlowTVelocity(obs_dim=11, act_dim=3, steps=4, norm_position=position, closed_form_attention=True)
    fast.load_state_dict(full.state_dict())
    obs, x = torch.randn(16, 11), torch.randn(16, 3)
    for k in range(4):
        t = torch.full((1, 1), k / 4)
        a, b = full(full.context(obs), x, t, k), fast(fast.context(obs), x, t, k)
        torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a[1], b[1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("position", ["pre", "post"])
def test_flow_t_hoisted_state_term_gives_the_same_rollout_and_gradients(position):
    """Closed form + cross-attention hoisted into ``context``: same actions, log-densities,
    gradients and (used) BatchRenorm statistics as the full per-step attention."""
    full_net = functools.partial(FlowTVelocity, norm_position=position, batch_renorm={"warmup_steps": 3})
    fast_net = functools.partial(full_net, closed_form_attention=True)
    torch.manual_seed(2)
    full = FlowPolicy(full_net, 11, 3, [-1.0] * 3, [1.0] * 3, steps=4)
    fast = FlowPolicy(fast_net, 11, 3, [-1.0] * 3, [1.0] * 3, steps=4)
    fast.load_state_dict(full.state_dict())
    full.double(), fast.double()  # float64: the two orders of operations agree to ~1e-12
    obs = torch.randn(32, 11, dtype=torch.float64)
    for mode in (True, True, False):  # two training calls pass BatchRenorm's warm-up of 3 calls
        full.train(mode), fast.train(mode)
        torch.manual_seed(3)
        a = full(obs)
        torch.manual_seed(3)
        b = fast(obs)
        torch.testing.assert_close(a.action, b.action, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(a.log_prob, b.log_prob, atol=1e-10, rtol=1e-10)
        full.zero_grad(), fast.zero_grad()
        (a.action.sum() + a.log_prob.mean()).backward()
        (b.action.sum() + b.log_prob.mean()).backward()
        fast_grads = dict(fast.named_parameters())
        for name, p in full.named_parameters():
            q = fast_grads[name].grad
            if p.grad is not None and q is not None:
                torch.testing.assert_close(p.grad, q, atol=1e-9, rtol=1e-9, msg=lambda m, name=name, mode=mode: f"{name} (train={mode}): {m}")
    skipped = ".norms.1." if position == "pre" else "never"
    fast_state = fast.state_dict()
    for name, value in full.state_dict().items():
        if "running" in name and skipped not in name:
            torch.testing.assert_close(value, fast_state[name], atol=1e-10, rtol=1e-10, msg=name)


# Actor parameter counts of the official Flax modules (sacflow-official.md Sec. 2.4), K = 4.
OFFICIAL_COUNTS = {
    (11, 3): {"flow_g": 325_765, "flow_t": 310_804, "mlp": 273_956},
    (376, 17): {"flow_g": 923_045, "flow_t": 333_226, "mlp": 483_126},
}


@pytest.mark.parametrize("dims", sorted(OFFICIAL_COUNTS))
@pytest.mark.parametrize("name", sorted(NETS))
def test_default_sizes_match_the_official_parameter_counts(dims, name):
    net = NETS[name]
    if name == "flow_t":  # the reference's post-norm stack has no final norm
        net = functools.partial(net, norm_position="post")
    policy = FlowPolicy(net, *dims, [-1.0] * dims[1], [1.0] * dims[1], steps=4)
    assert sum(p.numel() for p in policy.parameters()) == OFFICIAL_COUNTS[dims][name]


def test_batch_renorm_columns_equal_the_slice_of_the_full_eval_output():
    torch.manual_seed(0)
    from sacflow.networks.batch_renorm import BatchRenorm

    norm = BatchRenorm(7)
    norm(torch.randn(64, 7) * 3 + 1)  # move the running statistics off their start
    norm.eval()
    full = torch.randn(5, 7)
    assert torch.equal(norm.columns(full[:, 2:6], 2), norm(full)[:, 2:6])
    norm.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        norm.columns(full[:, 2:6], 2)


@pytest.mark.parametrize("name", ["mlp", "flow_g"])
@pytest.mark.parametrize("input_norm", ["batchrenorm", "none"])
def test_hoisted_state_input_gives_the_same_rollout(name, input_norm):
    """hoist_state_input splits the first layer into a once-per-rollout state share and a
    per-step rest whenever the input normaliser is a fixed per-feature map (BatchRenorm in eval
    mode, or none): same actions and log-densities (float64, to rounding). A training-mode
    BatchRenorm hoists nothing and stays bit-identical."""
    nets = {hoist: functools.partial(NETS[name], input_norm=input_norm, hoist_state_input=hoist) for hoist in (True, False)}
    torch.manual_seed(4)
    policies = {hoist: FlowPolicy(net, 11, 3, [-1.0] * 3, [1.0] * 3, steps=4).double() for hoist, net in nets.items()}
    policies[True].load_state_dict(policies[False].state_dict())
    obs = torch.randn(16, 11, dtype=torch.float64) * 2
    for training in (True, False):  # the training call also moves BatchRenorm's running statistics
        expect_hoisted = not training or input_norm == "none"
        outs = {}
        for hoist, policy in policies.items():
            policy.train(training)
            hoisted = any(key.startswith("state_share") for key in policy.velocity.context(obs))
            assert hoisted == (hoist and expect_hoisted)
            torch.manual_seed(5)
            outs[hoist] = policy(obs)
        a, b = outs[True], outs[False]
        if not expect_hoisted:
            assert torch.equal(a.action, b.action) and torch.equal(a.log_prob, b.log_prob)
        torch.testing.assert_close(a.action, b.action, atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(a.log_prob, b.log_prob, atol=1e-10, rtol=1e-12)
        if training:  # gradients too, where the rollout is differentiated
            for out in (a, b):
                (out.action.sum() + out.log_prob.mean()).backward()
            grads = dict(policies[False].named_parameters())
            for n, p in policies[True].named_parameters():
                torch.testing.assert_close(p.grad, grads[n].grad, atol=1e-10, rtol=1e-10, msg=n)


def test_hoisting_is_skipped_for_a_feature_mixing_input_norm():
    net = FlowGVelocity(obs_dim=11, act_dim=3, steps=4, input_norm="layernorm").eval()
    assert "state_shares" not in net.context(torch.randn(2, 11))

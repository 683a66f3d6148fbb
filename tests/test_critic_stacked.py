"""The stacked Q ensemble (one batched matmul per layer) computes what n separate networks compute."""

import copy

import pytest
import torch

from sacflow.networks.critic import QEnsemble

BRN = {"momentum": 0.9, "eps": 1e-3, "r_max": 3.0, "d_max": 5.0, "warmup_steps": 2}


def pair(norm, input_norm=None, act="relu", layout="mlp"):
    """The same seeded ensemble in both forms, in float64 for a tight comparison."""
    hidden = [16, 8] if layout == "mlp" else [16, 8, 8, 4]  # the layernorm layout's four-layer block
    kwargs = {"obs_dim": 5, "act_dim": 3, "n": 3, "hidden": hidden, "act": act, "norm": norm,
              "batch_renorm": BRN, "input_norm": input_norm, "layout": layout}
    torch.manual_seed(0)
    modules = QEnsemble(**kwargs, stacked=False).double()
    torch.manual_seed(0)
    stacked = QEnsemble(**kwargs, stacked=True).double()
    return modules, stacked


def perturb(modules, seed=1):
    """Different affine parameters per member, so a member mix-up cannot go unnoticed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in modules.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def rebuild_stacked(modules):
    """Stack the members of ``modules`` (weights and BatchRenorm state) into a stacked ensemble."""
    from sacflow.networks.critic import stack_layers

    stacked = copy.deepcopy(modules)
    per_member = [[m.input_norm, *m.net] for m in modules.members]
    stacked.layers = torch.nn.Sequential(*(stack_layers(same) for same in zip(*per_member)))
    del stacked.members
    stacked.stacked = True
    return stacked


@pytest.mark.parametrize("norm,input_norm,act,layout", [("batchrenorm", None, "relu", "mlp"),
                                                        ("layernorm", "none", "gelu", "mlp"),
                                                        ("none", None, "relu", "mlp"), ("none", None, "relu", "layernorm")])
def test_same_initial_networks_and_outputs(norm, input_norm, act, layout):
    modules, stacked = pair(norm, input_norm, act, layout)
    assert sum(p.numel() for p in modules.parameters()) == sum(p.numel() for p in stacked.parameters())
    obs, action = torch.randn(7, 5, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(stacked(obs, action), modules(obs, action), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("norm,input_norm,act,layout", [("batchrenorm", None, "relu", "mlp"),
                                                        ("layernorm", "none", "gelu", "mlp"), ("none", None, "relu", "layernorm")])
def test_training_steps_give_the_same_outputs_gradients_and_statistics(norm, input_norm, act, layout):
    modules, _ = pair(norm, input_norm, act, layout)
    perturb(modules)
    stacked = rebuild_stacked(modules)
    opt_m = torch.optim.Adam(modules.parameters(), lr=1e-2)
    opt_s = torch.optim.Adam(stacked.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(2)
    for step in range(4):  # past BatchRenorm's warm-up (2 calls): the renormalised branch is used too
        obs, action = torch.randn(9, 5, generator=g, dtype=torch.float64), torch.randn(9, 3, generator=g, dtype=torch.float64)
        target = torch.randn(3, 9, generator=g, dtype=torch.float64)
        losses = []
        for net, opt in ((modules, opt_m), (stacked, opt_s)):
            q = net(obs, action)
            loss = ((q - target) ** 2).mean(1).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(q.detach())
        torch.testing.assert_close(losses[1], losses[0], rtol=1e-10, atol=1e-10)
    # Every parameter and running statistic, member by member.
    restacked = rebuild_stacked(modules)
    for (name, a), (_, b) in zip(restacked.state_dict().items(), stacked.state_dict().items()):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10, msg=name)
    modules.eval(), stacked.eval()
    obs, action = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(stacked(obs, action), modules(obs, action), rtol=1e-10, atol=1e-10)


def test_members_are_independent():
    """Member i's output depends only on member i's weights."""
    _, stacked = pair("batchrenorm")
    stacked.eval()
    obs, action = torch.randn(4, 5, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    before = stacked(obs, action)
    with torch.no_grad():
        stacked.layers[-1].bias[1] += 1.0
    after = stacked(obs, action)
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]])
    torch.testing.assert_close(after[1], before[1] + 1.0)


def _reference_pair(modules, obs, action, next_obs, next_action):
    """Independent reference on the separate member networks: the joint [s; s'] pass where every
    BatchRenorm input's next-state half is a constant, and nothing else changes."""
    from sacflow.networks.batch_renorm import BatchRenorm

    b = obs.shape[0]
    qs, next_qs = [], []
    for member in modules.members:
        h = torch.cat([torch.cat([obs, action], -1), torch.cat([next_obs, next_action], -1)])
        for layer in [member.input_norm, *member.net]:
            if isinstance(layer, BatchRenorm):
                h = torch.cat([h[:b], h[b:].detach()])
            h = layer(h)
        qs.append(h[:b, 0])
        next_qs.append(h[b:, 0].detach())
    return torch.stack(qs), torch.stack(next_qs)


def test_detached_next_half_keeps_outputs_and_statistics_and_drops_only_that_gradient():
    modules, _ = pair("batchrenorm")
    perturb(modules)
    stacked, joint = rebuild_stacked(modules), rebuild_stacked(modules)
    g = torch.Generator().manual_seed(3)
    data = [torch.randn(6, d, generator=g, dtype=torch.float64) for d in (5, 3, 5, 3)]
    target = torch.randn(3, 6, generator=g, dtype=torch.float64)

    q, next_q = stacked.forward_pair(*data)
    q_joint = joint(torch.cat(data[0::2]), torch.cat(data[1::2]))
    ref_q, ref_next = _reference_pair(modules, *data)
    # Forward: the joint pass's outputs and running statistics, exactly.
    torch.testing.assert_close(q, q_joint[:, :6], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(next_q, q_joint[:, 6:], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ref_next, next_q, rtol=1e-12, atol=1e-12)
    assert not next_q.requires_grad
    for (name, a), b in zip(joint.state_dict().items(), stacked.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12, msg=name)
    # Backward: the reference's gradients (next half constant at every BatchRenorm input) ...
    ((q - target) ** 2).sum().backward()
    ((ref_q - target) ** 2).sum().backward()
    reference = rebuild_stacked_grads(modules)
    for (name, p), ref in zip(stacked.named_parameters(), reference):
        torch.testing.assert_close(p.grad, ref, rtol=1e-10, atol=1e-12, msg=name)
    # ... which differ from the joint pass's: the switch changes the gradient, as documented.
    ((q_joint[:, :6] - target) ** 2).sum().backward()
    assert not torch.allclose(joint.layers[1].weight.grad, stacked.layers[1].weight.grad)


def rebuild_stacked_grads(modules):
    """The members' gradients in the stacked layout (same order as the stacked parameters)."""
    grads = []
    per_member = list(zip(*[[m.input_norm, *m.net] for m in modules.members]))
    for same in per_member:
        if isinstance(same[0], torch.nn.Linear):
            grads += [torch.stack([layer.weight.grad.t() for layer in same]),
                      torch.stack([layer.bias.grad for layer in same]).unsqueeze(1)]
        elif any(True for _ in same[0].parameters()):
            grads += [torch.stack([layer.weight.grad for layer in same]).unsqueeze(1),
                      torch.stack([layer.bias.grad for layer in same]).unsqueeze(1)]
    return grads  # the stacked layout: Linear weight [n, in, out], every bias / affine [n, 1, F]


def test_detach_next_half_needs_the_stacked_ensemble():
    modules, _ = pair("batchrenorm")
    x = torch.zeros(2, 5, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="stacked"):
        modules.forward_pair(*x, *x)

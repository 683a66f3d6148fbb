"""Every speed lever computes what the plain path computes (sacflow/agents/fast_path.py)."""

import pytest
import torch
from conftest import TINY, TINY_VELOCITY, compose_config

from sacflow.agents.sac import SACAgent

OBS_DIM, ACT_DIM = 5, 2


def build(overrides, dtype=torch.float64, device="cpu"):
    cfg = compose_config(TINY + overrides + [f"device={device}"])
    torch.manual_seed(0)
    return SACAgent.build(cfg, OBS_DIM, ACT_DIM, [-1.0] * ACT_DIM, [1.0] * ACT_DIM).to(device, dtype)


def batches(n=6, size=32, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        b = {
            "obs": torch.randn(size, OBS_DIM, generator=g),
            "action": torch.rand(size, ACT_DIM, generator=g) * 2 - 1,
            "reward": torch.randn(size, generator=g),
            "next_obs": torch.randn(size, OBS_DIM, generator=g),
            "terminated": (torch.rand(size, generator=g) < 0.2).float(),
        }
        out.append({k: v.to(device, dtype) for k, v in b.items()})
    return out


def run(agent, data, device="cpu"):
    """Updates (two full policy-delay cycles) and both action modes, with a fixed noise stream."""
    infos = []
    for i, batch in enumerate(data):
        torch.manual_seed(100 + i)
        infos.append({k: v.clone() for k, v in agent.update(batch).items()})
    torch.manual_seed(7)
    acts = [agent.act(data[0]["obs"][:1]), agent.act(data[0]["obs"][:3], deterministic=True)]
    return infos, acts


def assert_same_run(plain, fast, rtol, atol):
    (infos_p, acts_p), (infos_f, acts_f) = plain, fast
    for step, (a, b) in enumerate(zip(infos_p, infos_f)):
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(b[key].double(), a[key].double(), rtol=rtol, atol=atol, msg=f"{key} @ {step}")
    for a, b in zip(acts_p, acts_f):
        torch.testing.assert_close(b.double(), a.double(), rtol=rtol, atol=atol)


def assert_same_state(plain_agent, fast_agent, rtol, atol):
    for (name, a), b in zip(plain_agent.state_dict().items(), fast_agent.state_dict().values()):
        torch.testing.assert_close(b.double(), a.double(), rtol=rtol, atol=atol, msg=name)


@pytest.mark.parametrize("velocity", ["flow_g", "flow_t"])
def test_compiled_update_and_sampler_match_eager(velocity):
    """torch.compile (float64): every loss, action, weight, Adam moment and BatchRenorm statistic."""
    overrides = [f"velocity={velocity}", *TINY_VELOCITY[velocity]]
    data = batches()
    plain = build(overrides)
    fast = build(overrides + ["fast.compile=true"])
    result_plain, result_fast = run(plain, data), run(fast, data)
    assert_same_run(result_plain, result_fast, rtol=1e-9, atol=1e-9)
    assert_same_state(plain, fast, rtol=1e-9, atol=1e-9)
    for name in ("actor_optim", "critic_optim"):
        for sp, sf in zip(getattr(plain, name).state.values(), getattr(fast, name).state.values()):
            torch.testing.assert_close(sf["exp_avg_sq"], sp["exp_avg_sq"], rtol=1e-9, atol=1e-12)


def test_compiled_polyak_critics_match_eager():
    """The standard-SAC critic style (target network, Gaussian actor) through the compiled path."""
    overrides = ["agent=sac_gaussian", "critic=sac", "agent.actor.hidden=[16,16]"]
    data = batches()
    plain, fast = build(overrides), build(overrides + ["fast.compile=true"])
    assert_same_run(run(plain, data), run(fast, data), rtol=1e-9, atol=1e-9)
    assert_same_state(plain, fast, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("velocity", ["flow_g", "flow_t"])
def test_bf16_autocast_stays_close_to_float32(velocity):
    """bf16 matmuls: losses within bf16 precision of float32; weights, statistics stay float32."""
    overrides = [f"velocity={velocity}", *TINY_VELOCITY[velocity]]
    data = batches(n=3, dtype=torch.float32)
    plain = build(overrides, dtype=torch.float32)
    fast = build(overrides + ["fast.bf16=true"], dtype=torch.float32)
    (infos_p, acts_p), (infos_f, acts_f) = run(plain, data), run(fast, data)
    for a, b in zip(infos_p, infos_f):
        for key in ("losses/critic", "losses/q_mean", "losses/actor", "losses/entropy"):
            if key in a:
                torch.testing.assert_close(b[key], a[key], rtol=5e-2, atol=5e-2, msg=key)
    torch.testing.assert_close(acts_f[1], acts_p[1], rtol=5e-2, atol=5e-2)
    assert all(t.dtype in (torch.float32, torch.long) for t in fast.state_dict().values())
    # Not a no-op: bf16 rounding shows in the losses.
    assert any(not torch.equal(a["losses/critic"], b["losses/critic"]) for a, b in zip(infos_p, infos_f))


def test_detached_next_half_agent_sees_the_joint_pass_forward():
    """critic.detach_next_half: the first critic loss equals the joint pass's (same forward)."""
    data = batches(n=1)
    infos = [run(build(["velocity=mlp", *TINY_VELOCITY["mlp"], f"critic.detach_next_half={d}"]), data)[0][0]
             for d in (False, True)]
    for key in ("losses/critic", "losses/q_mean", "losses/target_mean"):
        torch.testing.assert_close(infos[1][key], infos[0][key], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="critic.detach_next_half"):
        build(["critic=sac", "+critic.detach_next_half=true"])


def test_bad_compile_mode_is_refused_with_the_key():
    with pytest.raises(ValueError, match="fast.compile_mode"):
        build(["fast.compile=true", "fast.compile_mode=fastest"])


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("velocity", ["flow_g", "flow_t"])
def test_no_host_sync_inside_an_update_on_cuda(velocity):
    agent = build([f"velocity={velocity}", *TINY_VELOCITY[velocity]], dtype=torch.float32, device="cuda")
    data = batches(dtype=torch.float32, device="cuda")
    agent.update(data[0])  # lazy optimiser state, allocator
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for batch in data[1:]:
            agent.update(batch)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@cuda
@pytest.mark.parametrize("velocity", ["flow_g", "flow_t"])
def test_cuda_graphs_match_eager_on_cuda(velocity):
    overrides = [f"velocity={velocity}", *TINY_VELOCITY[velocity]]
    data = batches(dtype=torch.float32, device="cuda")
    plain = build(overrides, dtype=torch.float32, device="cuda")
    fast = build(overrides + ["fast.compile=true", "fast.compile_mode=reduce-overhead"], dtype=torch.float32,
                 device="cuda")
    assert_same_run(run(plain, data), run(fast, data), rtol=1e-4, atol=1e-5)

"""Vectorised seeds compute what N single-seed agents compute (sacflow/agents/vectorised_sac.py).

Each check runs N plain ``SACAgent`` updates, one agent at a time, with the same minibatches and
policy noise that the vectorised update gets, and compares every metric, parameter, buffer
(BatchRenorm statistics), Adam moment and action.
"""

import copy

import pytest
import torch
from conftest import TINY, TINY_VELOCITY, compose_config

from sacflow.agents.sac import SACAgent
from sacflow.agents.vectorised_sac import VectorisedSAC

OBS_DIM, ACT_DIM, SEEDS, BATCH = 5, 2, 3, 16
# Every actor x critic style of the SAC family; sizes small enough for seconds.
METHODS = {
    "flow_t-crossq": ["method=sac_flow_t", *TINY_VELOCITY["flow_t"]],
    "flow_g-crossq": ["method=sac_flow_g", *TINY_VELOCITY["flow_g"]],
    "mlp-crossq": ["method=sac_flow_mlp", *TINY_VELOCITY["mlp"]],
    "flow_t-sac": ["method=sac_flow_t", "critic=sac", *TINY_VELOCITY["flow_t"]],
    "gaussian-sac": ["method=sac_gaussian", "agent.actor.hidden=[32,32]"],
    "gaussian-crossq": ["method=sac_gaussian", "critic=crossq", "agent.actor.hidden=[32,32]"],
}


def build_agents(overrides, n=SEEDS):
    cfg = compose_config(TINY + overrides + ["device=cpu", "critic.network.hidden=[32,32]",
                                             "batch_renorm.warmup_steps=3"])  # renormalisation on mid-test
    agents = []
    for seed in range(n):
        torch.manual_seed(seed)
        # float64: Adam's first step turns float32 rounding in a ~0 gradient into a +-lr step.
        agents.append(SACAgent.build(cfg, OBS_DIM, ACT_DIM, [-1.0] * ACT_DIM, [2.0] * ACT_DIM).double())
    return agents


def stacked_batch(g):
    batch = {
        "obs": torch.randn(SEEDS, BATCH, OBS_DIM, generator=g),
        "action": torch.rand(SEEDS, BATCH, ACT_DIM, generator=g) * 3 - 1,
        "reward": torch.randn(SEEDS, BATCH, generator=g),
        "next_obs": torch.randn(SEEDS, BATCH, OBS_DIM, generator=g),
        "terminated": (torch.rand(SEEDS, BATCH, generator=g) < 0.2).float(),
    }
    return {k: v.double() for k, v in batch.items()}


def assert_close(a, b, what):
    torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-9, msg=what)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_vectorised_updates_equal_single_seed_updates(method):
    plain = build_agents(METHODS[method])
    stacked_agents = [copy.deepcopy(agent) for agent in plain]
    generators = [torch.Generator().manual_seed(10 + i) for i in range(SEEDS)]
    vec = VectorisedSAC(stacked_agents, generators)
    # The stacked initial state is each seed's own.
    for i in range(SEEDS):
        for name, value in plain[i].state_dict().items():
            assert torch.equal(stacked_agents[i].state_dict()[name], value), name
    data = torch.Generator().manual_seed(0)
    t = plain[0]
    updates = 2 * t.policy_delay + 1  # two actor/alpha cycles and a critic-only update
    for step in range(updates):
        batch = stacked_batch(data)
        noise = {"next": vec.draw_noise(BATCH), "actor": [vec.draw_noise(BATCH) for _ in range(t.actor_updates)]}
        info = vec.update(batch, noise)
        for i, agent in enumerate(plain):
            own = agent.update({k: v[i] for k, v in batch.items()},
                               {"next": noise["next"][i], "actor": [n[i] for n in noise["actor"]]})
            assert own.keys() == info.keys()
            for key, value in own.items():
                assert_close(info[key][i], value, f"seed {i} {key} @ update {step}")
    vec.export_optimizer_states()
    for i, agent in enumerate(plain):
        for name, value in agent.state_dict().items():
            got = stacked_agents[i].state_dict()[name]
            assert_close(got.double(), value.double(), f"seed {i} {name}")
        for key in ("actor", "critic", "alpha"):
            mine = getattr(stacked_agents[i], f"{key}_optim").state_dict()["state"]
            theirs = getattr(agent, f"{key}_optim").state_dict()["state"]
            for k in theirs:
                for name in theirs[k]:
                    assert_close(mine[k][name].double(), theirs[k][name].double(), f"seed {i} {key} adam {name}")
    # Training-time actions: one vmapped call equals each agent's own with the same noise.
    obs = torch.randn(SEEDS, 4, OBS_DIM, generator=data).double()
    noise = vec.draw_noise(4)
    actions = vec.act(obs, noise)
    for i, agent in enumerate(plain):
        with torch.no_grad():
            assert_close(actions[i], agent.actor(obs[i], noise=noise[i]).action, f"seed {i} action")


def test_seeds_draw_from_their_own_generators():
    """Seed i's noise does not depend on how many seeds share the process."""
    agents = build_agents(METHODS["flow_g-crossq"])
    three = VectorisedSAC([copy.deepcopy(a) for a in agents], [torch.Generator().manual_seed(s) for s in (0, 1, 2)])
    two = VectorisedSAC([copy.deepcopy(a) for a in agents[:2]], [torch.Generator().manual_seed(s) for s in (0, 1)])
    assert torch.equal(three.draw_noise(8)[:2], two.draw_noise(8))
    assert not torch.equal(three.draw_noise(8)[0], three.draw_noise(8)[1])


def test_optimizer_states_round_trip_through_the_agents():
    """Export to per-seed agents, import into a fresh stack: the same Adam moments."""
    agents = build_agents(METHODS["flow_t-sac"])
    vec = VectorisedSAC(agents, [torch.Generator().manual_seed(s) for s in range(SEEDS)])
    data = torch.Generator().manual_seed(0)
    for _ in range(agents[0].policy_delay):  # one actor update too
        vec.update(stacked_batch(data))
    vec.export_optimizer_states()
    again = VectorisedSAC(agents, [torch.Generator().manual_seed(s) for s in range(SEEDS)])
    for key in ("actor", "critic"):
        a, b = vec.optimizers[key].state_dict()["state"], again.optimizers[key].state_dict()["state"]
        assert a.keys() == b.keys() and len(a) > 0
        for k in a:
            for name in a[k]:
                assert torch.equal(a[k][name], b[k][name])


def test_non_sac_agents_are_refused():
    cfg = compose_config(TINY + ["method=qsm", "device=cpu"])
    from hydra.utils import get_class

    agent = get_class(cfg.agent.cls).build(cfg, OBS_DIM, ACT_DIM, [-1.0] * ACT_DIM, [1.0] * ACT_DIM)
    with pytest.raises(TypeError, match="SACAgent only"):
        VectorisedSAC([agent], [torch.Generator()])


def test_compiled_vectorised_update_matches_eager():
    """fast.compile on the vmapped functions: the same metrics (float64, 1e-7) and weights within a tenth of
    an Adam step: compiled and eager sum in different orders, and Adam's first steps magnify that in the few
    weights whose gradient cancels to ~eps (the time MLP's). BatchRenorm's renormalisation stays off here,
    as in test_fast_path."""
    runs = []
    for compile_on in ("false", "true"):
        agents = build_agents([*METHODS["flow_g-crossq"], f"fast.compile={compile_on}", "batch_renorm.warmup_steps=1000"])
        vec = VectorisedSAC(agents, [torch.Generator().manual_seed(s) for s in range(SEEDS)])
        data = torch.Generator().manual_seed(0)
        infos = [vec.update(stacked_batch(data)) for _ in range(agents[0].policy_delay + 1)]
        actions = vec.act(torch.randn(SEEDS, 2, OBS_DIM, generator=data).double())
        runs.append((infos, actions, agents))
    (infos_e, act_e, agents_e), (infos_c, act_c, agents_c) = runs
    for step, (a, b) in enumerate(zip(infos_e, infos_c)):
        for key in a:
            assert_close(b[key], a[key], f"{key} @ {step}")
    assert_close(act_c, act_e, "actions")
    for a, b in zip(agents_e, agents_c):
        for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
            # A tenth of one Adam step (lr 3e-4): a wrong batch, noise or double step is a whole step off.
            torch.testing.assert_close(y, x, rtol=1.3e-6, atol=3e-5)

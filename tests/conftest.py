"""Shared helpers: compose configs like the CLI does, and tiny sizes for fast runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parent.parent
CFG_DIR = ROOT / "cfg"

# Small networks and budgets: every entry point runs in seconds on a CPU.
TINY = [
    "env=inverted_pendulum",
    "env.max_episode_steps=100",  # bounds the cost of evaluating a policy that already balances
    "total_steps=300",
    "learning_starts=100",
    "batch_size=32",
    "critic.network.hidden=[32,32]",
    "eval.every=150",
    "eval.episodes=1",
    "log_every=50",
    "checkpoint_every=100",
    "logger=csv",
    "device=cpu",
]
TINY_VELOCITY = {
    "flow_t": ["velocity.d_model=16", "velocity.n_heads=2"],
    "flow_g": ["velocity.candidate_hidden=[32]", "velocity.gate_hidden=[32]", "velocity.log_std_hidden=[32]"],
    "mlp": ["velocity.hidden=[32,32]"],
}


_BUILT: set = set()  # models already built: the presets of one method on different tasks repeat them


def build_agent_once(cfg) -> None:
    """Build the agent of a composed config, unless an identical model was built already in this session
    (the loss weights alpha / beta do not change the model)."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    resolved = OmegaConf.to_container(cfg, resolve=True)
    agent = {k: v for k, v in resolved["agent"].items() if k not in ("alpha", "beta_offline", "beta_online")}
    model = repr((cfg.trainer, agent, resolved["critic"]["network"]))
    if model in _BUILT:
        return
    _BUILT.add(model)
    if cfg.trainer == "offline_to_online":
        get_class(cfg.agent.cls).build(cfg, 19, 7)
    else:
        get_class(cfg.agent.cls).build(cfg, 11, 3, [-1.0] * 3, [1.0] * 3)


def compose_config(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CFG_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.fixture
def subprocess_env():
    """Environment for CLI subprocesses: one thread (deterministic, no oversubscription), quiet."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}


# Offline-to-online: tiny networks, a few updates and env steps per phase (budget=tiny).
O2O_TINY = [
    "budget=tiny",
    "critic.network.hidden=[32,32]",
    "env.max_episode_steps=12",  # short episodes: training episodes end, checkpoints happen
    "logger=csv",
    "device=cpu",
]
O2O_METHODS = {
    "sac_flow_t": ["velocity.d_model=16", "velocity.n_heads=2"],
    "sac_flow_g": ["velocity.candidate_hidden=[32]", "velocity.gate_hidden=[16]"],
    "sac_flow_mlp": ["velocity.hidden=[32]"],
    **{m: ["agent.bc_flow.hidden=[32]", "agent.onestep_hidden=[32]", "agent.flow_steps=3", "agent.num_samples=4"]
       for m in ("fql", "qc_fql", "qc")},
}


@pytest.fixture(scope="session")
def tiny_ogbench_dir(tmp_path_factory):
    """Two 40-step cube-double play episodes in the official npz layout (from ogbench's oracle)."""
    from sacflow.datasets import generate

    out = tmp_path_factory.mktemp("ogbench_play")
    argv = ["ogbench", "--env", "cube-double", "--episodes", "2", "--out", str(out), "--seed", "1", "--episode-length", "40"]
    assert generate.main(argv) == 0
    return out


@pytest.fixture(scope="session")
def tiny_lift_file(tmp_path_factory):
    """Two scripted Lift demos in robomimic's HDF5 layout."""
    from sacflow.datasets import generate

    path = tmp_path_factory.mktemp("robomimic") / "lift.hdf5"
    assert generate.main(["robomimic", "--task", "lift", "--episodes", "2", "--out", str(path), "--seed", "0"]) == 0
    return path


def o2o_overrides(task: str, method: str, data: Path) -> list[str]:
    """The preset ``o2o/<task>/<method>`` at tiny size, reading the generated dataset ``data``."""
    where = f"dataset.dir={data}" if task.startswith("cube") else f"dataset.path={data}"
    return [f"experiment=o2o/{task}/{method}", *O2O_TINY, *O2O_METHODS[method], where]

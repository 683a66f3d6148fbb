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


def compose_config(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CFG_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.fixture
def subprocess_env():
    """Environment for CLI subprocesses: one thread (deterministic, no oversubscription), quiet."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}

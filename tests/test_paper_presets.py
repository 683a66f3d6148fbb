"""Every paper preset launches its whole sweep (at a tiny budget) through Hydra's multirun.

Slow (minutes): run with `pytest -m slow tests/test_paper_presets.py`. The sweeps keep their
structure (every env x method combination of the preset); only run lengths, network widths and
seeds are cut. Square has no scripted demos, so the offline-to-online sweep leaves it out.
"""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT, TINY

pytestmark = pytest.mark.slow

# Tiny widths for every from-scratch method at once (keys a method does not use are ignored).
SCRATCH_TINY = [o for o in TINY if not o.startswith("env")] + [
    "seed=0", "total_steps=120", "learning_starts=60", "eval.every=0", "checkpoint_every=60", "env.max_episode_steps=40",
]


def multirun(preset, overrides, out, env):
    cmd = [sys.executable, "launch.py", "-m", f"experiment=paper/{preset}", *overrides,
           f"hydra.sweep.dir={out}", f"out_dir={out}/${{run_name}}/seed${{seed}}", "hydra.sweep.subdir=${out_dir}"]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return sorted(p.parent for p in out.rglob("learning_curve.png"))


@pytest.mark.parametrize("preset,jobs", [("mujoco_from_scratch", 6 * 4), ("ablation_sampling_steps", 2 * 3),
                                         ("ablation_gradient_norm", 3)])
def test_from_scratch_paper_sweeps_run(preset, jobs, tmp_path, subprocess_env):
    runs = multirun(preset, SCRATCH_TINY, tmp_path, subprocess_env)
    assert len(runs) == jobs
    for run in runs:
        assert len(pd.read_csv(run / "train.csv")) >= 1


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_offline_to_online_paper_sweeps_run(tmp_path, subprocess_env):
    from sacflow.datasets import generate

    ogbench_dir = tmp_path / "ogbench"
    for env in ("cube-double", "cube-triple", "cube-quadruple"):
        assert generate.main(["ogbench", "--env", env, "--episodes", "1", "--out", str(ogbench_dir),
                              "--episode-length", "30"]) == 0
    for task in ("lift", "can"):  # robomimic's default location under $HOME
        path = tmp_path / ".robomimic" / task / "mh" / "low_dim_v15.hdf5"
        assert generate.main(["robomimic", "--task", task, "--episodes", "1", "--out", str(path)]) == 0
    # Dataset locations come from the environment, as a user's cluster setup would give them: the
    # sweep mixes OGBench and Robomimic jobs, whose dataset configs have different keys.
    env = {**subprocess_env, "HOME": str(tmp_path), "SACFLOW_OGBENCH_DIR": str(ogbench_dir)}
    # Full widths (batch 8, a few dozen updates are cheap); every method and every task but square.
    tiny = ["budget=tiny", "seed=0", "env.max_episode_steps=10"]
    runs = multirun("o2o_comparison", [*tiny, "env=cube_double,cube_triple,cube_quadruple,lift,can"], tmp_path / "o2o", env)
    assert len(runs) == 5 * 4
    assert len(multirun("ablation_o2o_naive", tiny, tmp_path / "naive", env)) == 3


def test_ppo_paper_sweep_runs(tmp_path, subprocess_env):
    """PPO on every MuJoCo task of the paper (one seed, a couple of tiny iterations each)."""
    tiny = ["seed=0", "total_steps=128", "agent.num_envs=2", "agent.rollout_steps=32", "agent.minibatches=2",
            "agent.epochs=1", "eval.every=0", "checkpoint_every=64", "env.max_episode_steps=40", "logger=csv",
            "device=cpu"]
    runs = multirun("ppo_mujoco", tiny, tmp_path, subprocess_env)
    assert len(runs) == 6
    for run in runs:
        assert len(pd.read_csv(run / "update.csv")) >= 1

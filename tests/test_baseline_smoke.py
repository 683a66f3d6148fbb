"""FlowRL, DIME and QSM: a ~300-step run of each through launch.py, and the report tool finds them."""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT, TINY

from sacflow.report.runs import load_runs

# One override picks each method; these only shrink its networks.
BASELINES = {
    "flowrl": ["agent.actor.velocity.hidden=[32,32]"],
    "dime": ["agent.actor.score.hidden=[32,32]", "agent.actor.steps=3"],
    "qsm": ["agent.actor.denoiser.hidden=[32,32]"],
}
CRITIC = {"flowrl": "layernorm", "dime": "crossq", "qsm": "sac"}
ACTOR_KEYS = {"flowrl": {"losses/actor", "losses/flow_matching", "losses/w2_weight", "losses/buffer_value"},
              "dime": {"losses/actor", "losses/entropy", "losses/alpha"},
              "qsm": {"losses/actor", "losses/q_grad_norm"}}


def baseline_overrides(method: str, out_dir) -> list[str]:
    return [*TINY, f"method={method}", *BASELINES[method], f"out_dir={out_dir}"]


@pytest.mark.parametrize("method", list(BASELINES))
def test_baseline_trains_through_launch(method, tmp_path, subprocess_env):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "launch.py", *baseline_overrides(method, out)], check=False, cwd=ROOT,
                            env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    updates = pd.read_csv(out / "update.csv")
    trained = updates.dropna(subset=["losses/critic"])
    assert len(trained) >= 3 and ACTOR_KEYS[method] <= set(updates.columns)
    assert trained[sorted(ACTOR_KEYS[method])].iloc[1:].notna().all().all()
    assert pd.read_csv(out / "train.csv")["step"].iloc[-1] <= 300
    assert {"eval/return_det", "eval/return_stoch"} <= set(pd.read_csv(out / "eval.csv").columns)
    for name in ("learning_curve.png", "run_info.json", "config_resolved.yaml", "checkpoints/latest.pt"):
        assert (out / name).exists(), name
    (run,) = load_runs([out])
    assert (run.task, run.method) == ("InvertedPendulum-v4", f"{method}-{CRITIC[method]}")


@pytest.mark.parametrize("method", ["flowrl", "qsm"])
def test_baselines_without_a_target_critic_are_refused_with_one_line(method, tmp_path, subprocess_env):
    args = [*baseline_overrides(method, tmp_path), "critic=crossq"]
    result = subprocess.run([sys.executable, "launch.py", *args], check=False, cwd=ROOT, env=subprocess_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("sacflow: config error: critic.style=crossq:")


@pytest.mark.slow
def test_baselines_paper_sweep_runs(tmp_path, subprocess_env):
    from test_paper_presets import SCRATCH_TINY, multirun

    runs = multirun("mujoco_baselines", SCRATCH_TINY, tmp_path, subprocess_env)
    assert len(runs) == 6 * 3
    assert {run.method for run in load_runs(runs)} == {"flowrl-layernorm", "dime-crossq", "qsm-sac"}

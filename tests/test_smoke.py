"""A ~300-step run of every agent x velocity x critic combination, and of the CLI entry point."""

import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT, TINY, TINY_VELOCITY, compose_config

from sacflow.trainers.online import OnlineTrainer

COMBOS = [("sac_flow", v) for v in TINY_VELOCITY] + [("sac_gaussian", None)]


@pytest.mark.parametrize("critic", ["crossq", "sac"])
@pytest.mark.parametrize("agent,velocity", COMBOS, ids=[f"{a}-{v}" for a, v in COMBOS])
def test_every_combination_trains(agent, velocity, critic, tmp_path):
    overrides = [*TINY, f"agent={agent}", f"critic={critic}", f"out_dir={tmp_path}"]
    if velocity:
        overrides += [f"velocity={velocity}", *TINY_VELOCITY[velocity], "agent.grad_diagnostic_every=5"]
    cfg = compose_config(overrides)
    OnlineTrainer(cfg, tmp_path).run()
    updates = pd.read_csv(tmp_path / "update.csv")
    trained = updates.dropna(subset=["losses/critic"])
    # Every row after the first actor update carries the latest actor/alpha values too.
    assert len(trained) >= 3 and trained["losses/actor"].iloc[1:].notna().all() and trained["losses/alpha"].iloc[1:].notna().all()
    if velocity:  # the paper's Fig. 13a diagnostic: one norm per intermediate action x_0..x_K
        grads = pd.read_csv(tmp_path / "grad.csv")
        assert list(grads.columns) == ["step"] + [f"grad/x{k}_norm" for k in range(5)]
        # every 5th actor update; actor_updates of them every policy_delay-th update from learning_starts on
        actor_updates = (300 - 100 + 1) // cfg.critic.policy_delay * cfg.critic.actor_updates
        assert len(grads) == actor_updates // 5
    assert pd.read_csv(tmp_path / "train.csv")["step"].iloc[-1] <= 300
    assert {"eval/return_det", "eval/return_stoch"} <= set(pd.read_csv(tmp_path / "eval.csv").columns)
    for name in ("learning_curve.png", "run_info.json", "config_resolved.yaml", "checkpoints/latest.pt"):
        assert (tmp_path / name).exists(), name


def test_launch_entry_point_runs(tmp_path, subprocess_env):
    args = [*TINY, "velocity=flow_g", *TINY_VELOCITY["flow_g"], f"out_dir={tmp_path}", "logger=default"]
    result = subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=subprocess_env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / ".hydra" / "config.yaml").exists() and (tmp_path / "tb").is_dir()
    # Re-running a finished run is a no-op, not a restart.
    again = subprocess.run([sys.executable, "launch.py", *args], cwd=ROOT, env=subprocess_env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0 and "already holds a finished run" in again.stdout

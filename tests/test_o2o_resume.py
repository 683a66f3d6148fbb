"""Offline-to-online: SIGKILL once in each phase, re-run the command: the logs equal an uninterrupted run."""

import subprocess
import sys

import pytest
from conftest import ROOT, o2o_overrides
from resume_check import assert_same_run, kill_after_checkpoint, logged, resume

from sacflow.utils.checkpoint import latest_path

OFFLINE, ONLINE = 200, 60


def command(out_dir, data):
    return [sys.executable, "launch.py", *o2o_overrides("cube_double", "sac_flow_t", data), f"offline_steps={OFFLINE}",
            f"online_steps={ONLINE}", "checkpoint_every=25", "eval.every=100", "log_every=5",
            "agent.offline_schedule=official", f"out_dir={out_dir}"]


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_sigkill_in_each_phase_then_resume_matches_uninterrupted_run(tmp_path, tiny_ogbench_dir, subprocess_env):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(reference, tiny_ogbench_dir), cwd=ROOT, env=subprocess_env, check=True,
                   capture_output=True, timeout=600)
    checkpoint = latest_path(resumed)
    offline_kill = kill_after_checkpoint(command(resumed, tiny_ogbench_dir), checkpoint, 75, subprocess_env, settle_s=0.3)
    assert 0 < offline_kill < OFFLINE
    online_kill = kill_after_checkpoint(command(resumed, tiny_ogbench_dir), checkpoint, OFFLINE + 20, subprocess_env, settle_s=0.3)
    assert OFFLINE < online_kill < OFFLINE + ONLINE

    resume(command(resumed, tiny_ogbench_dir), resumed, online_kill, subprocess_env)
    assert_same_run(reference, resumed, {"train", "update", "eval"}, unique_steps=tuple(logged(resumed)))  # every table

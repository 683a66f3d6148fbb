"""FlowRL, DIME and QSM: SIGKILL a run part-way, re-run the same command, get the uninterrupted run's logs."""

import subprocess
import sys

import pytest
from conftest import ROOT
from resume_check import assert_same_run, kill_after_checkpoint, resume
from test_baseline_smoke import BASELINES, baseline_overrides

from sacflow.utils.checkpoint import latest_path

LONGER = ["total_steps=900", "checkpoint_every=200", "eval.every=300"]


def command(method, out_dir):
    return [sys.executable, "launch.py", *baseline_overrides(method, out_dir), *LONGER]


@pytest.mark.parametrize("method", list(BASELINES))
def test_sigkill_then_resume_matches_uninterrupted_run(method, tmp_path, subprocess_env):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(method, reference), cwd=ROOT, env=subprocess_env, check=True, capture_output=True, timeout=600)

    killed_at = kill_after_checkpoint(command(method, resumed), latest_path(resumed), 400, subprocess_env)
    assert 0 < killed_at < 900
    resume(command(method, resumed), resumed, killed_at, subprocess_env)
    assert_same_run(reference, resumed, {"train", "update", "eval"}, unique_steps=("train", "update"))

"""FlowRL, DIME and QSM: SIGKILL a run part-way, re-run the same command, get the uninterrupted run's logs."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import ROOT
from test_baseline_smoke import BASELINES, baseline_overrides
from test_resume import logged

from sacflow.utils.checkpoint import latest_path, load

LONGER = ["total_steps=900", "checkpoint_every=200", "eval.every=300"]


def command(method, out_dir):
    return [sys.executable, "launch.py", *baseline_overrides(method, out_dir), *LONGER]


@pytest.mark.parametrize("method", list(BASELINES))
def test_sigkill_then_resume_matches_uninterrupted_run(method, tmp_path, subprocess_env):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(method, reference), cwd=ROOT, env=subprocess_env, check=True, capture_output=True, timeout=600)

    proc = subprocess.Popen(command(method, resumed), cwd=ROOT, env=subprocess_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint, deadline = latest_path(resumed), time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if checkpoint.exists() and load(checkpoint)["step"] >= 400:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # let it log rows past the checkpoint, which the resume must drop
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = load(checkpoint)["step"]
    assert 0 < killed_at < 900

    result = subprocess.run(command(method, resumed), check=False, cwd=ROOT, env=subprocess_env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming {resumed} from step {killed_at}" in result.stdout

    expected, actual = logged(reference), logged(resumed)
    assert set(expected) == set(actual) >= {"train", "update", "eval"}
    for name in expected:
        pd.testing.assert_frame_equal(actual[name], expected[name], check_exact=True, obj=name)
    assert actual["train"]["step"].is_unique and actual["update"]["step"].is_unique
    final_ref, final_res = load(latest_path(reference)), load(latest_path(resumed))
    for key, value in final_ref["agent"]["modules"].items():
        assert torch.equal(value, final_res["agent"]["modules"][key]), key

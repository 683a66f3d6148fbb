"""Offline-to-online: SIGKILL once in each phase, re-run the command: the logs equal an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import ROOT, o2o_overrides
from test_resume import logged

from sacflow.utils.checkpoint import latest_path, load

OFFLINE, ONLINE = 200, 60


def command(out_dir, data):
    return [sys.executable, "launch.py", *o2o_overrides("cube_double", "sac_flow_t", data), f"offline_steps={OFFLINE}",
            f"online_steps={ONLINE}", "checkpoint_every=25", "eval.every=100", "log_every=5",
            "agent.offline_schedule=official", f"out_dir={out_dir}"]


def kill_after_checkpoint(cmd, checkpoint, past_step, env):
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if checkpoint.exists() and load(checkpoint)["step"] >= past_step:
            break
        time.sleep(0.05)
    time.sleep(0.3)  # let it log rows past the checkpoint, which the resume must drop
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    return load(checkpoint)["step"]


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_sigkill_in_each_phase_then_resume_matches_uninterrupted_run(tmp_path, tiny_ogbench_dir, subprocess_env):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(reference, tiny_ogbench_dir), cwd=ROOT, env=subprocess_env, check=True,
                   capture_output=True, timeout=600)
    checkpoint = latest_path(resumed)
    offline_kill = kill_after_checkpoint(command(resumed, tiny_ogbench_dir), checkpoint, 75, subprocess_env)
    assert 0 < offline_kill < OFFLINE
    online_kill = kill_after_checkpoint(command(resumed, tiny_ogbench_dir), checkpoint, OFFLINE + 20, subprocess_env)
    assert OFFLINE < online_kill < OFFLINE + ONLINE

    result = subprocess.run(command(resumed, tiny_ogbench_dir), cwd=ROOT, env=subprocess_env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming {resumed} from step {online_kill}" in result.stdout

    expected, actual = logged(reference), logged(resumed)
    assert set(expected) == set(actual) >= {"train", "update", "eval"}
    for name in expected:
        pd.testing.assert_frame_equal(actual[name], expected[name], check_exact=True, obj=name)
        assert actual[name]["step"].is_unique, name
    final_ref, final_res = load(latest_path(reference)), load(latest_path(resumed))
    for key, value in final_ref["agent"]["modules"].items():
        assert torch.equal(value, final_res["agent"]["modules"][key]), key

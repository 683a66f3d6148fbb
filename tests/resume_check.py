"""The kill-and-resume check every trainer's resume test runs: SIGKILL a run once a checkpoint
has passed a step, re-run the same command, and compare logs and weights with an uninterrupted run."""

import os
import signal
import subprocess
import time

import pandas as pd
import torch
from conftest import ROOT

from sacflow.utils.checkpoint import latest_path, load


def logged(out_dir):
    """Every table, minus wall-clock columns (time/*), which legitimately differ."""
    tables = {}
    for name in ("train", "update", "eval", "grad"):
        if not (out_dir / f"{name}.csv").exists():
            continue
        df = pd.read_csv(out_dir / f"{name}.csv")
        tables[name] = df[[c for c in df.columns if not c.startswith("time/")]]
    return tables


def kill_after_checkpoint(cmd, checkpoint, past_step, env, settle_s=0.5):
    """Start ``cmd``, SIGKILL it ``settle_s`` after ``checkpoint`` holds a step >= ``past_step``;
    returns the checkpoint's step. The pause lets it log rows past the checkpoint, which the
    resume must drop."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if checkpoint.exists() and load(checkpoint)["step"] >= past_step:
            break
        time.sleep(0.05)
    time.sleep(settle_s)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    return load(checkpoint)["step"]


def resume(cmd, out_dir, killed_at, env):
    """Re-run the killed command: it must finish and say it resumed from the checkpoint's step."""
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"run folder: {out_dir} (resuming from step {killed_at})" in result.stdout


def assert_same_run(reference, resumed, tables, unique_steps=()):
    """Logged tables (at least ``tables``) equal exactly, steps in ``unique_steps`` tables logged once, same final weights."""
    expected, actual = logged(reference), logged(resumed)
    assert set(expected) == set(actual) >= set(tables)
    for name in expected:
        pd.testing.assert_frame_equal(actual[name], expected[name], check_exact=True, obj=name)
    for name in unique_steps:
        assert actual[name]["step"].is_unique, name
    final_ref, final_res = load(latest_path(reference)), load(latest_path(resumed))
    for key, value in final_ref["agent"]["modules"].items():
        assert torch.equal(value, final_res["agent"]["modules"][key]), key

"""Kill a run with SIGKILL part-way, re-run the same command: the logs equal an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import torch
from conftest import ROOT, TINY, TINY_VELOCITY, compose_config

from sacflow.trainers.online import OnlineTrainer
from sacflow.utils.checkpoint import latest_path, load

RUN = [
    *TINY,
    "total_steps=900",
    "checkpoint_every=200",
    "velocity=flow_t",
    *TINY_VELOCITY["flow_t"],
    "agent.grad_diagnostic_every=7",
    "eval.every=300",
]


def command(out_dir):
    return [sys.executable, "launch.py", *RUN, f"out_dir={out_dir}"]


def logged(out_dir):
    """Every table, minus wall-clock columns (time/*), which legitimately differ."""
    tables = {}
    for name in ("train", "update", "eval", "grad"):
        if not (out_dir / f"{name}.csv").exists():
            continue
        df = pd.read_csv(out_dir / f"{name}.csv")
        tables[name] = df[[c for c in df.columns if not c.startswith("time/")]]
    return tables


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, subprocess_env):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(reference), cwd=ROOT, env=subprocess_env, check=True, capture_output=True, timeout=600)

    proc = subprocess.Popen(command(resumed), cwd=ROOT, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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

    result = subprocess.run(command(resumed), cwd=ROOT, env=subprocess_env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming {resumed} from step {killed_at}" in result.stdout

    expected, actual = logged(reference), logged(resumed)
    assert set(expected) == set(actual) >= {"train", "update", "eval", "grad"}
    for name in expected:
        pd.testing.assert_frame_equal(actual[name], expected[name], check_exact=True, obj=name)
    assert actual["train"]["step"].is_unique and actual["update"]["step"].is_unique
    final_ref, final_res = load(latest_path(reference)), load(latest_path(resumed))
    for key, value in final_ref["agent"]["modules"].items():
        assert torch.equal(value, final_res["agent"]["modules"][key]), key


def test_same_seed_same_results_on_cpu(tmp_path):
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        OnlineTrainer(compose_config([*TINY, "velocity=flow_g", *TINY_VELOCITY["flow_g"], f"out_dir={out}"]), out).run()
        runs.append(logged(out))
    for name in runs[0]:
        pd.testing.assert_frame_equal(runs[0][name], runs[1][name], check_exact=True)
    other = tmp_path / "other_seed"
    OnlineTrainer(compose_config([*TINY, "velocity=flow_g", *TINY_VELOCITY["flow_g"], "seed=1", f"out_dir={other}"]), other).run()
    assert not logged(other)["update"].equals(runs[0]["update"])


def test_resume_refuses_a_different_experiment(tmp_path):
    out = tmp_path / "run"
    OnlineTrainer(compose_config([*TINY, "total_steps=150", f"out_dir={out}"]), out).run()
    cfg = compose_config([*TINY, "total_steps=300", "gamma=0.9", f"out_dir={out}"])
    try:
        OnlineTrainer(cfg, out)
    except ValueError as err:
        assert str(err).startswith("gamma: differs from the run being resumed")
    else:
        raise AssertionError("resuming with another gamma must fail")

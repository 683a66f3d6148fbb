"""Ctrl-C and SIGTERM: a checkpoint, the resume command, and a resume that continues without gaps."""

import shlex
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import ROOT, TINY, o2o_overrides

from sacflow.trainers.base import checkpoint_interval
from sacflow.utils.interrupt import resume_command


def start(args, env):
    return subprocess.Popen([sys.executable, "launch.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def interrupt_once(proc, csv, sig):
    """Send ``sig`` once the run has logged its first update row (it is in its training loop then)."""
    deadline = time.monotonic() + 120
    while not (csv.exists() and csv.stat().st_size > 0):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def checkpoint_step(run):
    return torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["step"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_checkpoints_prints_the_resume_command_and_the_run_resumes(sig, tmp_path, subprocess_env):
    run = tmp_path / "run"
    tiny = [o for o in TINY if not o.startswith("total_steps=")] + ["eval.every=0", "checkpoint_every=auto",
                                                                     f"out_dir={run}"]
    args = [*tiny, "total_steps=100000"]
    code, err = interrupt_once(start(args, subprocess_env), run / "update.csv", sig)
    assert code == 128 + sig, err[-2000:]
    stopped = checkpoint_step(run)
    assert stopped < 100_000 and f"stopped at step {stopped}; checkpoint in {run}" in err
    assert f"resume with: python launch.py {shlex.join(args)}" in err
    assert "Traceback" not in err
    # the printed command resumes (here extended to end soon after the stop: total_steps may change on resume)
    end = stopped + 60
    resumed = subprocess.run([sys.executable, "launch.py", *tiny, f"total_steps={end}"], cwd=ROOT, env=subprocess_env,
                             capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"run folder: {run} (resuming from step {stopped})" in resumed.stdout
    steps = pd.read_csv(run / "update.csv")["step"]  # a row every log_every=50 steps, none lost or repeated
    assert steps.tolist() == list(range(50, end // 50 * 50 + 1, 50))[-len(steps):] and steps.iloc[0] <= 150


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_an_offline_to_online_run_stops_with_a_checkpoint_in_its_offline_phase(tmp_path, tiny_ogbench_dir,
                                                                             subprocess_env):
    run = tmp_path / "run"
    args = [*o2o_overrides("cube_double", "qc_fql", tiny_ogbench_dir), "offline_steps=100000", f"out_dir={run}"]
    code, err = interrupt_once(start(args, subprocess_env), run / "update.csv", signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, err[-2000:]
    assert 0 < checkpoint_step(run) < 100_000 and "resume with: python launch.py" in err


def test_checkpoints_come_every_tenth_of_a_run_by_default():
    assert checkpoint_interval("auto", 8_000) == 800  # the quickstart: not first at 5k steps
    assert checkpoint_interval("auto", 1_000_000) == 10_000 and checkpoint_interval("auto", 5) == 1
    assert checkpoint_interval(2_500, 8_000) == 2_500


def test_the_resume_command_is_the_command_line_as_typed():
    assert resume_command(["launch.py", "experiment=quickstart", "seed=1"]) == "python launch.py experiment=quickstart seed=1"
    assert resume_command(["/env/bin/sacflow-train", "run_name=a b"]) == "sacflow-train 'run_name=a b'"

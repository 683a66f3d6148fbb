"""Kill a run with SIGKILL part-way, re-run the same command: the logs equal an uninterrupted run."""

import subprocess
import sys

import pandas as pd
from conftest import ROOT, TINY, TINY_VELOCITY, compose_config
from resume_check import assert_same_run, kill_after_checkpoint, logged, resume

from sacflow.trainers.online import OnlineTrainer
from sacflow.utils.checkpoint import latest_path

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


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, subprocess_env):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(reference), cwd=ROOT, env=subprocess_env, check=True, capture_output=True, timeout=600)

    killed_at = kill_after_checkpoint(command(resumed), latest_path(resumed), 400, subprocess_env)
    assert 0 < killed_at < 900
    resume(command(resumed), resumed, killed_at, subprocess_env)
    assert_same_run(reference, resumed, {"train", "update", "eval", "grad"}, unique_steps=("train", "update"))


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
        assert str(err) == (f"gamma: 0.9 here, but the run in {out} has 0.99; a different run needs its own folder: "
                            "out_dir=<path>")
    else:
        raise AssertionError("resuming with another gamma must fail")

"""``seeds=[...]``: one process, N ordinary run folders, exact SIGKILL-and-resume, clear refusals."""

import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import ROOT, TINY, TINY_VELOCITY, compose_config
from resume_check import assert_same_run, kill_after_checkpoint, resume

from sacflow.config_checks import ConfigError, check_vectorised
from sacflow.schema import validate
from sacflow.trainers.online_seeds import VectorisedSeedsTrainer, settle_pending
from sacflow.utils.checkpoint import latest_path, load, pending_path

SEEDS = (0, 3)
RUN = [*TINY, "total_steps=900", "checkpoint_every=200", "eval.every=300", "velocity=flow_g",
       *TINY_VELOCITY["flow_g"], "agent.grad_diagnostic_every=0", f"seeds=[{','.join(map(str, SEEDS))}]"]


def command(out_dir):
    return [sys.executable, "launch.py", *RUN, f"out_dir={out_dir}/seed${{seed}}"]


def test_each_seed_writes_a_single_seed_run_folder(tmp_path):
    cfg = compose_config([*RUN, "total_steps=300", f"out_dir={tmp_path}/seed${{seed}}"])
    VectorisedSeedsTrainer(cfg, tmp_path).run()
    for seed in SEEDS:
        run = tmp_path / f"seed{seed}"
        assert {"train.csv", "eval.csv", "config_resolved.yaml", "run_info.json", "learning_curve.png"} <= {
            p.name for p in run.iterdir()}
        saved = load(latest_path(run))
        assert saved["step"] == 300 and saved["config"]["seed"] == seed and saved["config"]["seeds"] is None
        assert not pending_path(run).exists()
    # Seeds differ (own envs, own initial weights, own noise).
    a, b = (pd.read_csv(tmp_path / f"seed{s}" / "train.csv") for s in SEEDS)
    assert not a.equals(b)


def test_a_lane_checkpoint_resumes_as_a_single_seed_run(tmp_path):
    """The per-seed checkpoint is a single-seed run's: ``seed=N`` continues it."""
    from sacflow.trainers.online import OnlineTrainer

    VectorisedSeedsTrainer(compose_config([*RUN, "total_steps=300", f"out_dir={tmp_path}/seed${{seed}}"]), tmp_path).run()
    out = tmp_path / "seed3"
    single = [r for r in RUN if not r.startswith("seeds=")]
    trainer = OnlineTrainer(compose_config([*single, "seed=3", "total_steps=400", f"out_dir={out}"]), out)
    assert trainer.step == 300
    trainer.run()
    assert load(latest_path(out))["step"] == 400


def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, subprocess_env):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(reference), cwd=ROOT, env=subprocess_env, check=True, capture_output=True, timeout=600)
    last_lane = latest_path(resumed / f"seed{SEEDS[-1]}")
    killed_at = kill_after_checkpoint(command(resumed), last_lane, 400, subprocess_env)
    assert 0 < killed_at < 900
    resume(command(resumed), resumed / f"seed{SEEDS[0]}", killed_at, subprocess_env)
    for seed in SEEDS:
        assert_same_run(reference / f"seed{seed}", resumed / f"seed{seed}", {"train", "eval"},
                        unique_steps=("train",))
        ref = load(latest_path(reference / f"seed{seed}"))["agent"]["optimizers"]
        res = load(latest_path(resumed / f"seed{seed}"))["agent"]["optimizers"]
        for key in ref:
            for k, state in ref[key]["state"].items():
                for name, value in state.items():
                    assert torch.equal(value, res[key]["state"][k][name]), (seed, key, name)


def test_an_interrupted_two_phase_save_settles_to_one_step(tmp_path):
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        latest_path(d).parent.mkdir(parents=True)
        latest_path(d).write_text("old")
    pending_path(dirs[0]).write_text("new")  # phase 1 did not reach lane b: drop it
    settle_pending(dirs)
    assert [latest_path(d).read_text() for d in dirs] == ["old", "old"] and not pending_path(dirs[0]).exists()
    for d in dirs:
        pending_path(d).write_text("new")  # phase 1 complete, killed during the renames: finish them
    settle_pending(dirs)
    assert [latest_path(d).read_text() for d in dirs] == ["new", "new"]


@pytest.mark.parametrize("overrides, message", [
    ([*TINY, "method=qsm", "seeds=[0,1]"], "train the SAC family"),
    ([*TINY, "method=dime", "seeds=[0,1]"], "flow or Gaussian actor"),
    ([*RUN, "trainer=on_policy"], "need trainer=online"),
    ([*RUN, "agent.grad_diagnostic_every=5"], "gradient diagnostic"),
])
def test_unvectorised_combinations_are_refused(overrides, message):
    cfg = compose_config(overrides)
    with pytest.raises(ConfigError, match=message):
        check_vectorised(cfg)


@pytest.mark.parametrize("seeds", ["[]", "[0,0]", "[-1]"])
def test_bad_seed_lists_are_refused(seeds):
    with pytest.raises(ConfigError, match=r"^seeds=\S*: must be a non-empty list"):
        validate(compose_config([*TINY, f"seeds={seeds}"]))


def test_launch_says_what_is_wrong_in_one_line(tmp_path, subprocess_env):
    cmd = [sys.executable, "launch.py", *TINY, "method=qsm", "seeds=[0,1]", f"out_dir={tmp_path}/x"]
    result = subprocess.run(cmd, cwd=ROOT, env=subprocess_env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("sacflow: config error: seeds: vectorised seeds train the SAC family")

"""On-policy trainer: SIGKILL part-way, re-run the same command: the logs equal an uninterrupted run.

PPO keeps its episodes running across iterations, so its checkpoints hold the simulators' mid-episode
state; ReinFlow is killed once in pretraining and once in fine-tuning."""

import subprocess
import sys

import pytest
from conftest import ROOT
from resume_check import assert_same_run, kill_after_checkpoint, resume
from test_ppo import PPO_TINY
from test_reinflow import reinflow_command

from sacflow.utils.checkpoint import latest_path, load

TABLES, UNIQUE = {"train", "update", "eval"}, ("update", "eval")


def test_ppo_sigkill_mid_episode_then_resume_matches_uninterrupted_run(tmp_path, subprocess_env):
    def command(out):
        return [sys.executable, "launch.py", *PPO_TINY, "total_steps=3072", "checkpoint_every=256", "eval.every=512",
                f"out_dir={out}"]

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(reference), cwd=ROOT, env=subprocess_env, check=True, capture_output=True, timeout=600)
    killed_at = kill_after_checkpoint(command(resumed), latest_path(resumed), 512, subprocess_env)
    assert 0 < killed_at < 3072
    # the rollout boundary fell inside episodes (max 50 steps; 64 steps per env and rollout)
    assert load(latest_path(resumed))["buffer"]["env_states"] is not None
    resume(command(resumed), resumed, killed_at, subprocess_env)
    assert_same_run(reference, resumed, TABLES, UNIQUE)


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_reinflow_sigkill_in_each_phase_then_resume_matches_uninterrupted_run(tmp_path, tiny_lift_file,
                                                                               subprocess_env):
    pretrain, total = 600, 120

    def command(out):
        cmd = reinflow_command(out, tiny_lift_file, pretrain=pretrain, total=total, every=48)
        return [*cmd, "checkpoint_every=50"]

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    subprocess.run(command(reference), cwd=ROOT, env=subprocess_env, check=True, capture_output=True, timeout=600)
    checkpoint = latest_path(resumed)
    first = kill_after_checkpoint(command(resumed), checkpoint, 150, subprocess_env)
    assert 0 < first < pretrain
    second = kill_after_checkpoint(command(resumed), checkpoint, pretrain + 48, subprocess_env)
    assert pretrain < second < pretrain + total
    resume(command(resumed), resumed, second, subprocess_env)
    assert_same_run(reference, resumed, TABLES, UNIQUE)

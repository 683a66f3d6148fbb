"""``threads``: torch's CPU threads, from the config or the job's allocation, recorded in the run."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, TINY

from sacflow.config_checks import ConfigError
from sacflow.utils.threads import apply_threads, thread_count


def test_auto_takes_the_jobs_allocation_and_is_one_outside_a_scheduler(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert thread_count("auto") == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert thread_count("auto") == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # what the SLURM launcher exports wins
    assert thread_count("auto") == 2
    assert thread_count(4) == 4


@pytest.mark.parametrize("bad", [0, -2, "many", True, 1.5])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ConfigError, match=r"^threads=\S+: must be a positive integer or auto"):
        thread_count(bad)


def test_apply_sets_torch_and_the_environment(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    try:
        assert apply_threads(2) == 2
        assert torch.get_num_threads() == 2
        import os

        assert os.environ["OMP_NUM_THREADS"] == os.environ["MKL_NUM_THREADS"] == "2"
    finally:
        torch.set_num_threads(before)


def test_a_run_records_its_thread_count(tmp_path, subprocess_env):
    env = {k: v for k, v in subprocess_env.items() if k not in ("OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK")}
    cmd = [sys.executable, "launch.py", *TINY, "total_steps=150", "eval.every=0", "threads=2", f"out_dir={tmp_path}"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    assert json.loads((tmp_path / "run_info.json").read_text())["torch_threads"] == 2

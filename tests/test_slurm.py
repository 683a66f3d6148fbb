"""Multirun sweeps on a real single-node SLURM cluster through hydra/launcher=slurm (submitit).

The session fixture starts munged, slurmctld and slurmd on this machine (Debian: apt-get
install slurm-wlm munge; needs root). One sweep runs two tiny seeds to completion; a second,
identical sweep is preempted twice, once the way SLURM preempts (``scontrol requeue``:
SIGTERM, which submitit ignores, SIGKILL after KillWait, then the same batch script again)
and once the way submitit handles a timeout or preemption signal (USR2: the launcher's
``checkpoint`` resubmits the same job, then submitit requeues it). Both jobs must resume
from their checkpoints and end with exactly the CSVs of the uninterrupted sweep.
"""

import os
import re
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import ROOT, TINY, TINY_VELOCITY
from resume_check import logged
from slurm_cluster import SlurmCluster, missing_binaries

from sacflow.utils.checkpoint import latest_path, load

MISSING = missing_binaries()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(bool(MISSING), reason=f"no SLURM here (missing {', '.join(MISSING)}; "
                                              "apt-get install slurm-wlm munge)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="starting slurmd and munged needs root"),
]

SEEDS = (0, 1)
RUN = [*TINY, "total_steps=600", "velocity=flow_t", *TINY_VELOCITY["flow_t"]]
# Sized for this single small node; one job at a time keeps the machine's load unchanged.
LAUNCHER = [
    "hydra/launcher=slurm",
    "hydra.launcher.gpus_per_node=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=null",
    "hydra.launcher.array_parallelism=1",
]


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def sweep(sweep_root, cluster, subprocess_env) -> subprocess.Popen:
    """``launch.py -m`` over SEEDS from ``sweep_root``: its .submitit/, multirun.yaml and log land there."""
    command = [sys.executable, str(ROOT / "launch.py"), "-m", *LAUNCHER, f"seed={','.join(map(str, SEEDS))}", *RUN,
               f"out_dir={sweep_root}/seed${{seed}}"]
    sweep_root.mkdir()
    with open(sweep_root / "launcher.log", "w") as log:  # a file, not a pipe nobody reads while we wait
        return subprocess.Popen(command, cwd=sweep_root, env={**subprocess_env, "SLURM_CONF": cluster.env["SLURM_CONF"]},
                                stdout=log, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen, sweep_root, timeout_s: float = 600) -> None:
    proc.wait(timeout=timeout_s)
    assert proc.returncode == 0, (sweep_root / "launcher.log").read_text()[-4000:]


def task_dir(sweep_root, seed: int):
    """submitit's folder of array task ``seed``, named by the task's SLURM id 'A_seed'."""
    (folder,) = sweep_root.glob(f".submitit/*_{seed}")
    return folder


def job_log(sweep_root, seed: int) -> str:
    """The job's stdout, which submitit appends to across requeues."""
    folder = task_dir(sweep_root, seed)
    return (folder / f"{folder.name}_0_log.out").read_text()


def rows_after_checkpoint(out_dir) -> int | None:
    """The checkpoint's step once train.csv holds rows logged after it (which a resume must drop)."""
    path = latest_path(out_dir)
    if not path.exists():
        return None
    try:
        step = load(path)["step"]
        last = pd.read_csv(out_dir / "train.csv")["step"].max()
    except (OSError, RuntimeError, EOFError, pd.errors.EmptyDataError, pd.errors.ParserError):  # caught mid-write
        return None
    return step if last > step > 0 else None


def test_sweep_then_preempted_sweep_resumes_exactly(slurm_cluster, tmp_path, subprocess_env):
    started = time.time()
    reference = tmp_path / "reference"
    finish(sweep(reference, slurm_cluster, subprocess_env), reference)
    for seed in SEEDS:
        out = reference / f"seed{seed}"
        for name in ("train.csv", "eval.csv", "update.csv", "learning_curve.png", "config_resolved.yaml"):
            assert (out / name).exists(), f"seed {seed}: {name}"
        assert load(latest_path(out))["step"] == 600
        assert "resuming" not in job_log(reference, seed)

    preempted = tmp_path / "preempted"
    proc = sweep(preempted, slurm_cluster, subprocess_env)
    how = {0: ["scontrol", "requeue"], 1: ["scancel", "--signal=USR2"]}  # SLURM's own requeue | submitit's
    requeued, deadline = set(), time.time() + 300
    while (how or requeued) and time.time() < deadline and proc.poll() is None:
        for task in slurm_cluster.running_jobs():
            seed = int(task.rsplit("_", 1)[1])
            if seed in how and rows_after_checkpoint(preempted / f"seed{seed}"):
                subprocess.run([*how.pop(seed), task], env=slurm_cluster.env, check=True, timeout=60)
                requeued.add(task)
        requeued = {task for task in requeued if not slurm_cluster.start_now_if_requeued(task)}
        time.sleep(0.2)
    assert not how, f"jobs of seeds {sorted(how)} finished before they could be preempted"
    finish(proc, preempted)

    for seed in SEEDS:
        out = preempted / f"seed{seed}"
        resumed = re.findall(rf"run folder: {re.escape(str(out))} \(resuming from step (\d+)\)", job_log(preempted, seed))
        assert len(resumed) == 1 and int(resumed[0]) > 0, job_log(preempted, seed)[-3000:]
        assert "Restarts=1" in slurm_cluster.scontrol("show", "job", task_dir(preempted, seed).name)
        expected, actual = logged(reference / f"seed{seed}"), logged(out)
        assert set(actual) == set(expected) >= {"train", "eval", "update"}
        for name in expected:
            assert actual[name]["step"].is_unique, f"seed {seed}: duplicated steps in {name}.csv"
            pd.testing.assert_frame_equal(actual[name], expected[name], check_exact=True, obj=f"seed {seed} {name}")
    # The USR2 path went through the launcher's checkpoint(): submitit logged the requeue itself.
    assert "Calling checkpoint method" in job_log(preempted, 1)
    print(f"SLURM sweeps with preemption took {time.time() - started:.0f} s")


"""Launcher presets compose without a cluster; a sequential multirun keeps one W&B run per job."""

import subprocess
import sys

import pytest
from conftest import CFG_DIR, ROOT, TINY
from hydra import compose, initialize_config_dir

from sacflow.utils.checkpoint import latest_path, load


def launcher(name: str):
    with initialize_config_dir(config_dir=str(CFG_DIR), version_base="1.3"):
        return compose("config", overrides=[f"hydra/launcher={name}"], return_hydra_config=True).hydra.launcher


@pytest.mark.parametrize("name,executor", [("slurm", "SlurmLauncher"), ("local", "LocalLauncher")])
def test_launcher_presets_compose(name, executor):
    conf = launcher(name)
    assert conf._target_ == f"hydra_plugins.hydra_submitit_launcher.submitit_launcher.{executor}"
    if name == "slurm":  # requeued jobs resume, so timeouts may requeue them
        assert conf.max_num_timeout > 0
        assert conf.setup[:2] == ["export MUJOCO_GL=egl",
                                  "export OMP_NUM_THREADS=$((SLURM_CPUS_PER_TASK > 0 ? SLURM_CPUS_PER_TASK : 1))"]


def test_sequential_multirun_gives_each_job_its_own_wandb_run(tmp_path, subprocess_env):
    env = {**subprocess_env, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path / "wandb_home"),
           "WANDB_CONFIG_DIR": str(tmp_path / "wandb_home"), "WANDB_CACHE_DIR": str(tmp_path / "wandb_home")}
    args = ["-m", "seed=0,1", *TINY, "total_steps=120", "eval.every=0", "velocity=mlp", "velocity.hidden=[16]",
            "logger=wandb", "logger.tensorboard=false", "logger.wandb.mode=offline", f"out_dir={tmp_path}/seed${{seed}}"]
    result = subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    run_ids = set()
    for seed in (0, 1):
        out = tmp_path / f"seed{seed}"
        (run_dir,) = (out / "wandb").glob("offline-run-*")
        run_id = run_dir.name.rsplit("-", 1)[1]
        assert load(latest_path(out))["wandb_run_id"] == run_id  # the job logged into the run it started
        assert (run_dir / f"run-{run_id}.wandb").stat().st_size > 0
        run_ids.add(run_id)
    assert len(run_ids) == 2

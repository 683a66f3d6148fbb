"""Every wrong value is refused before anything is written: exit code 2, one line naming the key.

The table runs ``sacflow.preflight`` (what ``launch.py`` runs before Hydra starts) in-process, so
each case takes a fraction of a second; a few cases also go through ``launch.py`` as a process.
"""

import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from slurm_cluster import free_port

from sacflow.preflight import preflight

O2O_T = "experiment=o2o/cube_double/sac_flow_t"
QC_FQL = "experiment=o2o/lift/qc_fql"
REINFLOW = "experiment=reinflow/lift"
PPO = "experiment=ppo/mujoco"

# (command line, the key the one line must name)
CASES = [
    # from scratch, SAC Flow-T on Hopper: types
    (["total_steps=abc"], "total_steps"),
    (["total_steps=1e5"], "total_steps"),
    (["fast.bf16=maybe"], "fast.bf16"),
    (["fast.compile=sometimes"], "fast.compile"),
    (["eval.deterministic=perhaps"], "eval.deterministic"),
    (["agent.actor.steps=2.5"], "agent.actor.steps"),
    (["seeds=[a]"], "seeds[0]"),
    (["critic.network.hidden=[64,x]"], "critic.network.hidden[1]"),
    (["threads=many"], "threads"),
    (["checkpoint_every=never"], "checkpoint_every"),
    # ranges
    (["total_steps=0"], "total_steps"),
    (["learning_starts=-1"], "learning_starts"),
    (["batch_size=0"], "batch_size"),
    (["gamma=1.5"], "gamma"),
    (["gamma=nan"], "gamma"),
    (["seed=-1"], "seed"),
    (["seeds=[0,0]"], "seeds"),
    (["threads=0"], "threads"),
    (["eval.workers=0"], "eval.workers"),
    (["eval.every=-1"], "eval.every"),
    (["agent.actor.steps=0"], "agent.actor.steps"),
    (["agent.actor_lr=-1"], "agent.actor_lr"),
    (["agent.alpha_init=0"], "agent.alpha_init"),
    (["velocity.n_heads=0"], "velocity.n_heads"),
    (["critic.network.hidden=[]"], "critic.network.hidden"),
    (["critic.network.hidden=[64,-1]"], "critic.network.hidden"),
    (["critic.tau=0"], "critic.tau"),
    (["critic.policy_delay=0"], "critic.policy_delay"),
    (["critic.betas=[0.9]"], "critic.betas"),
    (["batch_renorm.momentum=1.0"], "batch_renorm.momentum"),
    (["env.max_episode_steps=0"], "env.max_episode_steps"),
    # enumerations
    (["fast.compile_mode=fastest"], "fast.compile_mode"),
    (["agent.actor.noise_on=action"], "agent.actor.noise_on"),
    (["velocity.norm=groupnorm"], "velocity.norm"),
    (["critic.network.act=swish"], "critic.network.act"),
    (["critic.style=target"], "critic.style"),
    (["logger.wandb.mode=on"], "logger.wandb.mode"),
    (["trainer=offline"], "trainer"),
    (["velocity._target_=torch.nn.Linear"], "velocity._target_"),
    # relations
    (["learning_starts=2000000"], "learning_starts"),
    (["buffer_size=100"], "buffer_size"),
    (["velocity.d_model=97"], "velocity.d_model"),
    (["num_envs=3"], "total_steps"),
    (["critic=sac", "critic.detach_next_half=true"], "critic.detach_next_half"),
    # missing keys, unknown keys and choices, syntax, presets
    (["~total_steps"], "total_steps"),
    (["~eval.workers"], "eval.workers"),
    (["agent.actr_lr=1"], "agent.actr_lr"),
    (["+total_step=100"], "+total_step"),
    (["velocity=flow_x"], "velocity"),
    (["env=hoper"], "env"),
    (["total_steps=[1"], "total_steps"),
    ([QC_FQL, "method=dime"], "method"),
    # env versions and tasks, devices
    (["env.version=v3"], "env.version"),
    (["env.version=v9"], "env.version"),
    (["device=tpu"], "device"),
    (["device=cuda:99"], "device"),
    # from-scratch baselines
    (["method=flowrl", "agent.expectile=1"], "agent.expectile"),
    (["method=flowrl", "agent.replay_recent_window=0"], "agent.replay_recent_window"),
    (["method=flowrl", "critic=crossq"], "critic.style"),
    (["method=qsm", "agent.actor.ema_tau=0"], "agent.actor.ema_tau"),
    (["method=dime", "agent.actor.step_size=0"], "agent.actor.step_size"),
    (["method=sac_gaussian", "agent.actor.log_std_bounds=[2,-5]"], "agent.actor.log_std_bounds"),
    # offline-to-online
    ([O2O_T, "env.task=7"], "env.task"),
    ([O2O_T, "start_training=2000000"], "start_training"),
    ([O2O_T, "offline_steps=-5"], "offline_steps"),
    ([O2O_T, "agent.horizon=0"], "agent.horizon"),
    ([O2O_T, "agent.offline_schedule=both"], "agent.offline_schedule"),
    ([O2O_T, "env.sparse=maybe"], "env.sparse"),
    ([O2O_T, "budget=huge"], "budget"),
    ([QC_FQL, "agent.acting=greedy"], "agent.acting"),
    ([QC_FQL, "env.task=door"], "env.task"),
    (["experiment=o2o/lift/fql", "agent.num_samples=0"], "agent.num_samples"),
    (["experiment=o2o/cube_double/qc_fql", "env.success_timing=during"], "env.success_timing"),
    # on-policy
    ([REINFLOW, "agent.noise.sigma_max=0.01"], "agent.noise.sigma_max"),
    ([REINFLOW, "agent.minibatches=4"], "agent.minibatches"),
    ([REINFLOW, "agent.logprob_clip=[1,-1]"], "agent.logprob_clip"),
    ([REINFLOW, "agent.reset_every_iteration=false"], "agent.reset_every_iteration"),
    ([PPO, "agent.gae_lambda=2"], "agent.gae_lambda"),
    ([PPO, "total_steps=100"], "total_steps"),
    ([PPO, "agent.norm_adv=perhaps"], "agent.norm_adv"),
    ([PPO, "pretrain_steps=10"], "pretrain_steps"),
    ([PPO, "agent.num_envs=0"], "agent.num_envs"),
    # sweeps: every combination is checked before the first job starts
    (["-m", "seed=0,-1"], "seed"),
    (["-m", "experiment=paper/mujoco_from_scratch", "total_steps=5"], "learning_starts"),
]


def one_refusal(argv: list[str], tmp_path, monkeypatch, capsys) -> str:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        preflight([*argv, f"out_dir={tmp_path / 'run'}"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2, lines
    assert len(lines) == 1 and "Traceback" not in lines[0], lines
    assert list(tmp_path.iterdir()) == [], "a refused run wrote files"
    return lines[0]


@pytest.mark.parametrize("argv,key", CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_each_wrong_value_is_refused_in_one_line_naming_its_key(argv, key, tmp_path, monkeypatch, capsys):
    line = one_refusal(argv, tmp_path, monkeypatch, capsys)
    prefix = f"sacflow: config error: {key}"
    assert line.startswith(prefix) and line[len(prefix)] in "=:", line


def test_the_table_covers_sixty_cases_across_regimes():
    assert len(CASES) >= 60
    regimes = {"o2o": O2O_T, "qc_fql": QC_FQL, "reinflow": REINFLOW, "ppo": PPO, "baseline": "method=flowrl"}
    for name, marker in regimes.items():
        assert any(marker in argv for argv, _ in CASES), name


def test_a_sweep_to_slurm_without_sbatch_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    line = one_refusal(["-m", "hydra/launcher=slurm", "seed=0,1"], tmp_path, monkeypatch, capsys)
    assert line.startswith("sacflow: launcher error: hydra/launcher=slurm: no sbatch"), line


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="needs SLURM's client tools (CI installs slurm-wlm)")
def test_a_sweep_to_a_slurm_controller_that_does_not_answer_writes_nothing(tmp_path, monkeypatch, capsys):
    conf = tmp_path.parent / f"{tmp_path.name}-slurm.conf"  # outside the folder that must stay empty
    conf.write_text(f"ClusterName=down\nSlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={free_port()}\n"
                    "MessageTimeout=2\nNodeName=localhost CPUs=1 State=UNKNOWN\nPartitionName=p Nodes=localhost\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    line = one_refusal(["-m", "hydra/launcher=slurm", "seed=0,1"], tmp_path, monkeypatch, capsys)
    assert line.startswith("sacflow: launcher error: hydra/launcher=slurm: the SLURM controller does not answer"), line


def test_booleans_mean_what_they_say():
    from conftest import compose_config

    from sacflow.schema import convert

    cfg = compose_config(["fast.bf16=no", "fast.compile=off", "eval.stochastic=yes", "eval.asynchronous=0"])
    convert(cfg)
    assert (cfg.fast.bf16, cfg.fast.compile, cfg.eval.stochastic, cfg.eval.asynchronous) == (False, False, True, False)


@pytest.mark.parametrize("argv,key", [(["fast.bf16=maybe"], "fast.bf16"), (["agent.actr_lr=1"], "agent.actr_lr"),
                                      (["velocity=flow_x"], "velocity")])
def test_launch_py_refuses_as_a_process(argv, key, tmp_path, subprocess_env):
    result = subprocess.run([sys.executable, str(ROOT / "launch.py"), *argv, f"out_dir={tmp_path / 'run'}"],
                            cwd=tmp_path, env=subprocess_env, capture_output=True, text=True, timeout=120, check=False)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"sacflow: config error: {key}"), lines
    assert list(tmp_path.iterdir()) == []

"""Every config file composes, resolves and builds; bad input stops with one clear line."""

import subprocess
import sys

import pytest
from conftest import CFG_DIR, ROOT, build_agent_once, compose_config
from hydra.utils import get_class
from omegaconf import OmegaConf

from sacflow.agents.sac import SACAgent
from sacflow.config_checks import ConfigError
from sacflow.schema import validate

GROUPS = ["env", "agent", "velocity", "critic", "logger", "method", "budget"]
CHOICES = [(g, str(p.relative_to(CFG_DIR / g).with_suffix(""))) for g in GROUPS for p in sorted((CFG_DIR / g).rglob("*.yaml"))]
# Fragments that presets include (o2o/base, bench/*_common) name no method of their own: tested through them.
EXPERIMENTS = sorted(str(p.relative_to(CFG_DIR / "experiment").with_suffix(""))
                     for p in (CFG_DIR / "experiment").rglob("*.yaml") if p.stem != "base" and not p.stem.endswith("_common"))


O2O_ENVS = {"cube_double", "cube_triple", "cube_quadruple", "lift", "can", "square"}


def offline_to_online_only(group: str, choice: str) -> bool:
    return (group == "budget" or choice.startswith("o2o") or (group == "critic" and choice == "o2o")
            or (group == "env" and choice in O2O_ENVS))


@pytest.mark.parametrize("group,choice", CHOICES, ids=[f"{g}={c}" for g, c in CHOICES])
def test_every_group_choice_composes_and_resolves(group, choice):
    # Offline-to-online pieces are composed inside an offline-to-online preset, as they are used.
    base = ["experiment=o2o/cube_double/sac_flow_t"] if offline_to_online_only(group, choice) else []
    if (group, choice) in (("agent", "flowrl"), ("agent", "qsm")):
        base = ["critic=sac"]  # they need a target critic (their methods pick one)
    cfg = compose_config([*base, f"{group}={choice}"])
    OmegaConf.to_container(cfg, resolve=True)
    validate(cfg)




@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_preset_composes_and_builds(experiment):
    cfg = compose_config([f"experiment={experiment}"])
    OmegaConf.to_container(cfg, resolve=True)
    validate(cfg)
    build_agent_once(cfg)


@pytest.mark.parametrize("agent,velocity", [("sac_flow", "flow_t"), ("sac_flow", "flow_g"), ("sac_flow", "mlp"), ("sac_gaussian", "flow_t")])
@pytest.mark.parametrize("critic", ["crossq", "sac"])
def test_every_agent_builds_at_paper_sizes(agent, velocity, critic):
    cfg = compose_config([f"agent={agent}", f"velocity={velocity}", f"critic={critic}"])
    SACAgent.build(cfg, 376, 17, [-0.4] * 17, [0.4] * 17)


@pytest.mark.parametrize("method", ["flowrl", "dime", "qsm"])
def test_every_baseline_builds_at_its_default_sizes(method):
    cfg = compose_config([f"method={method}"])
    get_class(cfg.agent.cls).build(cfg, 376, 17, [-0.4] * 17, [0.4] * 17)


def test_defaults_are_the_paper_setting():
    cfg = compose_config([])
    assert cfg.env.id == "Hopper-v4" and cfg.velocity.name == "flow_t" and cfg.critic.style == "crossq"
    assert (cfg.batch_size, cfg.learning_starts, cfg.critic.policy_delay, cfg.agent.actor.steps) == (512, 50_000, 3, 4)
    assert list(cfg.critic.betas) == [0.5, 0.999] and cfg.critic.lr == 1e-3 and cfg.agent.actor_lr == 3e-4
    assert cfg.agent.alpha_init == 0.2 and cfg.agent.target_entropy_per_dim == 0.0
    assert list(cfg.critic.network.hidden) == [1024, 1024]


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "launch.py"), *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_cfg_job_prints_the_composed_config(subprocess_env):
    result = run_cli("--cfg", "job", "velocity=flow_g", env=subprocess_env)
    assert result.returncode == 0, result.stderr
    cfg = OmegaConf.create(result.stdout)
    assert cfg.velocity.name == "flow_g" and cfg.env.id == "Hopper-v4"


def test_wrong_group_choice_lists_the_valid_ones(subprocess_env):
    result = run_cli("velocity=flow_x", env=subprocess_env)
    assert result.returncode != 0
    assert "flow_x" in result.stderr and all(name in result.stderr for name in ("flow_g", "flow_t", "mlp"))


def test_a_check_that_needs_the_built_env_stops_the_cli_with_one_line(subprocess_env, tmp_path):
    """Values the schemas can refuse are in tests/test_bad_input.py; this one needs the environment."""
    result = run_cli("env=inverted_pendulum", f"out_dir={tmp_path}", "logger=csv", "env.action_dim=5", env=subprocess_env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    expected = "sacflow: config error: env.action_dim=5: does not match InvertedPendulum-v4, which has 1"
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr


# Paper Table 4: (FQL, QC-FQL, SAC Flow offline, SAC Flow online) proximity / distillation weights.
TABLE_4 = {"cube_double": (300, 300, 300, 300), "cube_triple": (300, 100, 100, 100),
           "cube_quadruple": (300, 100, 100, 100), "lift": (10000, 10000, 10000, 1000),
           "can": (10000, 10000, 10000, 1000), "square": (10000, 10000, 10000, 1000)}


@pytest.mark.parametrize("task", sorted(TABLE_4))
def test_o2o_presets_carry_the_papers_weights(task):
    fql, qc_fql, offline, online = TABLE_4[task]
    assert compose_config([f"experiment=o2o/{task}/fql"]).agent.alpha == fql
    assert compose_config([f"experiment=o2o/{task}/qc_fql"]).agent.alpha == qc_fql
    for velocity in ("t", "g", "mlp"):
        agent = compose_config([f"experiment=o2o/{task}/sac_flow_{velocity}"]).agent
        assert (agent.beta_offline, agent.beta_online) == (offline, online)
    cfg = compose_config([f"experiment=o2o/{task}/qc_fql", "budget=small"])
    assert (cfg.offline_steps, cfg.online_steps, cfg.agent.horizon) == (20_000, 20_000, 5)
    assert compose_config([f"experiment=o2o/{task}/fql"]).agent.horizon == 1


@pytest.mark.parametrize("task", ["lift", "can", "square"])
def test_reinflow_presets_are_on_policy_runs_of_their_task(task):
    cfg = compose_config([f"experiment=reinflow/{task}"])
    assert (cfg.trainer, cfg.agent.name, cfg.env.task, cfg.gamma) == ("on_policy", "reinflow", task, 0.999)
    assert cfg.out_dir == f"runs/{cfg.env.id}/reinflow/seed0"
    # one episode of 8-step chunks per env and iteration (300 / 300 / 400 steps)
    assert cfg.agent.rollout_steps * cfg.agent.horizon >= cfg.env.max_episode_steps


def test_ppo_preset_has_cleanrl_settings_on_any_mujoco_task():
    cfg = compose_config(["experiment=ppo/mujoco", "env=walker2d"])
    assert (cfg.trainer, cfg.agent.name, cfg.out_dir) == ("on_policy", "ppo", "runs/Walker2d-v4/ppo/seed0")
    a = cfg.agent
    assert (a.num_envs, a.rollout_steps, a.epochs, a.minibatches, a.clip, a.gae_lambda, a.lr) == (1, 2048, 10, 32, 0.2, 0.95, 3e-4)


@pytest.mark.parametrize("overrides,key", [
    (["experiment=reinflow/lift", "agent.reset_every_iteration=false"], "agent.reset_every_iteration"),
    (["experiment=ppo/mujoco", "pretrain_steps=10"], "pretrain_steps"),
    (["experiment=ppo/mujoco", "agent.num_envs=0"], "agent.num_envs"),
])
def test_on_policy_bad_values_are_named(overrides, key, tmp_path):
    from sacflow.trainers.on_policy import OnPolicyTrainer

    with pytest.raises(ConfigError) as err:
        OnPolicyTrainer(compose_config([*overrides, f"out_dir={tmp_path}"]), tmp_path)
    assert err.value.key == key

"""What the user typed is what runs: presets against group choices, unknown +keys, missing extras."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CFG_DIR, O2O_METHODS, ROOT, TINY, build_agent_once, o2o_overrides
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from sacflow.cli_checks import check_command_line
from sacflow.config_checks import ConfigError
from sacflow.extras import LauncherError, MissingExtra, check_launcher, check_run_extras
from sacflow.schema import validate
from sacflow.trainers.offline_to_online import OfflineToOnlineTrainer
from sacflow.trainers.online import OnlineTrainer

# The presets a user starts from (launch.py --help lists them); bench/* belong to benchmarks/.
USER_PRESETS = sorted(p.relative_to(CFG_DIR / "experiment").with_suffix("").as_posix()
                      for p in (CFG_DIR / "experiment").rglob("*.yaml")
                      if p.parts[-2] != "bench" and "bench" not in p.parts and p.stem not in ("base",))
VELOCITIES = ["flow_t", "flow_g", "mlp"]


def compose_cli(overrides: list[str]):
    """Compose as the CLI does: the config without its hydra node, and the group choices."""
    with initialize_config_dir(config_dir=str(CFG_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def checked(overrides: list[str]):
    """The composed config, after launch.py's checks."""
    cfg, choices = compose_cli(overrides)
    check_command_line(cfg, overrides, choices)
    validate(cfg)
    return cfg


def refusal(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as err:
        checked(overrides)
    return str(err.value)


def velocity_for(preset: str, velocity: str) -> str:
    """Offline-to-online presets take the o2o/ variant of a velocity."""
    return f"o2o/{velocity}" if preset.startswith(("o2o/", "paper/o2o", "paper/ablation_o2o")) else velocity


@pytest.mark.parametrize("velocity", VELOCITIES)
@pytest.mark.parametrize("preset", USER_PRESETS)
def test_every_user_preset_takes_every_velocity_or_refuses_it_in_one_line(preset, velocity):
    """A velocity= choice wins over the preset's; presets whose agent has no velocity refuse it by name."""
    velocity = velocity_for(preset, velocity)
    overrides = [f"experiment={preset}", f"velocity={velocity}"]
    cfg, choices = compose_cli(overrides)
    validate(cfg)
    if cfg.agent.name not in ("sac_flow", "sac_flow_o2o"):  # the SAC Flow agents are the ones built around ${velocity}
        with pytest.raises(ConfigError, match="^velocity: agent=.* has no velocity network"):
            check_command_line(cfg, overrides, choices)
        return
    check_command_line(cfg, overrides, choices)
    assert cfg.velocity.name == velocity.removeprefix("o2o/")
    assert cfg.agent.tag.endswith(velocity.removeprefix("o2o/"))
    build_agent_once(cfg)


FROM_SCRATCH_PRESETS = ["quickstart", "paper/mujoco_from_scratch", "paper/ablation_sampling_steps",
                        "paper/ablation_gradient_norm"]


@pytest.mark.parametrize("velocity", VELOCITIES)
@pytest.mark.parametrize("preset", FROM_SCRATCH_PRESETS)
def test_from_scratch_presets_train_a_few_steps_with_every_velocity(preset, velocity, tmp_path):
    cfg = checked([f"experiment={preset}", f"velocity={velocity}", "size=tiny", *TINY, "total_steps=120",
                   "learning_starts=60", "eval.every=0", "agent.grad_diagnostic_every=0", f"out_dir={tmp_path}"])
    OnlineTrainer(cfg, tmp_path).run()
    assert (tmp_path / "checkpoints" / "latest.pt").exists()


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
@pytest.mark.parametrize("velocity,sizes_of", [("flow_g", "sac_flow_g"), ("mlp", "sac_flow_mlp")])
def test_an_o2o_preset_trains_a_few_steps_with_another_velocity(velocity, sizes_of, tmp_path, tiny_ogbench_dir):
    overrides = [*o2o_overrides("cube_double", "sac_flow_t", tiny_ogbench_dir), f"velocity=o2o/{velocity}",
                 *O2O_METHODS[sizes_of], f"out_dir={tmp_path}"]
    overrides.remove("velocity.d_model=16")
    overrides.remove("velocity.n_heads=2")
    cfg = checked(overrides)
    assert cfg.agent.tag == f"sac_flow_{velocity}"
    OfflineToOnlineTrainer(cfg, tmp_path).run()
    assert (tmp_path / "eval.csv").exists()


def test_quickstart_gives_way_to_the_users_method_velocity_and_critic():
    quick = checked(["experiment=quickstart"])
    assert (quick.agent.tag, quick.velocity.d_model, quick.critic.network.hidden) == ("sac_flow_flow_t", 32, [128, 128])
    dime = checked(["experiment=quickstart", "method=dime"])
    assert dime.agent.name == "dime" and dime.run_name != quick.run_name  # its own run folder
    flow_g = checked(["experiment=quickstart", "method=sac_flow_g"])
    assert (flow_g.agent.tag, list(flow_g.velocity.candidate_hidden)) == ("sac_flow_flow_g", [128])
    flowrl = checked(["experiment=quickstart", "method=flowrl"])
    assert (flowrl.critic.name, list(flowrl.critic.network.hidden)) == ("layernorm", [128] * 4)  # FlowRL's 4 layers
    mlp_sac = checked(["experiment=quickstart", "velocity=mlp", "critic=sac"])
    assert (mlp_sac.agent.tag, list(mlp_sac.velocity.hidden), mlp_sac.critic.name) == ("sac_flow_mlp", [128, 128], "sac")
    # the preset's budget stays: only the groups the user named changed
    assert flow_g.total_steps == dime.total_steps == quick.total_steps == 8_000


@pytest.mark.parametrize("overrides,start", [
    # the preset overrides agent after method=, so the method would be silently replaced
    (["experiment=reinflow/lift", "method=sac_flow_t"], "method: experiment=reinflow/lift sets agent=reinflow"),
    (["experiment=reinflow/lift", "method=o2o/sac_flow_t"], "method: experiment=reinflow/lift sets agent=reinflow"),
    (["experiment=quickstart", "method=o2o/fql"], "method: agent=o2o/fql runs under trainer=offline_to_online"),
    (["experiment=o2o/lift/fql", "agent=sac_flow"], "agent: agent=sac_flow runs under trainer=online"),
    (["experiment=o2o/lift/sac_flow_t", "velocity=flow_g"], "velocity: velocity=flow_g does not fit an offline"),
    (["velocity=o2o/flow_t"], "velocity: velocity=o2o/flow_t does not fit a from-scratch run"),
    (["method=dime", "velocity=flow_g"], "velocity: agent=dime has no velocity network"),
    (["experiment=o2o/lift/sac_flow_t", "size=small"], "size: size=small has no velocity=o2o/flow_t file"),
    (["+total_step=100"], "+total_step: no such key"),
])
def test_choices_a_preset_would_override_silently_are_refused(overrides, start):
    assert refusal(overrides).startswith(start)


def test_refusals_say_which_preset_or_choice_fixes_them():
    assert refusal(["experiment=reinflow/lift", "method=o2o/sac_flow_t"]).endswith("use experiment=o2o/lift/sac_flow_t")
    assert "did you mean total_steps=" in refusal(["+total_step=100"])
    assert refusal(["velocity=o2o/flow_t"]).endswith("use velocity=flow_t")


def run_cli(args: list[str], env: dict, prelude: str = "") -> subprocess.CompletedProcess:
    code = f"import sys; {prelude}sys.argv = ['launch.py', *sys.argv[1:]]; from sacflow.launch import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_an_unknown_plus_key_stops_the_cli_in_one_line(tmp_path, subprocess_env):
    result = run_cli(["experiment=quickstart", "+total_step=100", f"out_dir={tmp_path / 'run'}"], subprocess_env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "sacflow: config error: +total_step: no such key, and nothing reads a new one; did you mean total_steps=...?"]
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").glob("*.csv"))


def test_a_missing_extra_names_the_pip_line_before_anything_is_imported(tmp_path, subprocess_env):
    """``sys.modules[name] = None`` is how Python itself marks a module as not importable."""
    result = run_cli(["logger=wandb", f"out_dir={tmp_path / 'run'}"], subprocess_env,
                     prelude="sys.modules['wandb'] = None; ")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        ("sacflow: missing extra: logger.wandb.mode=offline needs the 'wandb' extra (wandb not installed): "
        "pip install -e '.[wandb]'")]


@pytest.mark.parametrize("module,extra,overrides", [
    ("robosuite", "robomimic", ["experiment=o2o/lift/qc_fql"]),
    ("ogbench", "ogbench", ["experiment=o2o/cube_double/qc_fql"]),
])
def test_each_suite_names_its_extra(module, extra, overrides, monkeypatch):
    cfg = checked(overrides)
    check_run_extras(cfg)  # installed here
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtra, match=rf"needs the '{extra}' extra .*pip install -e '\.\[{extra}\]'"):
        check_run_extras(cfg)


def test_the_slurm_launcher_needs_its_extra_and_sbatch(monkeypatch, tmp_path):
    check_launcher(["seed=0,1", "hydra/launcher=local"])  # the submitit extra is installed here
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without SLURM
    with pytest.raises(LauncherError, match="no sbatch on this machine's PATH"):
        check_launcher(["-m", "hydra/launcher=slurm"])
    monkeypatch.setitem(sys.modules, "hydra_plugins.hydra_submitit_launcher", None)
    with pytest.raises(MissingExtra, match=r"pip install -e '\.\[slurm\]'"):
        check_launcher(["-m", "hydra/launcher=local"])


def test_user_presets_are_the_documented_ones():
    assert "quickstart" in USER_PRESETS and "ppo/mujoco" in USER_PRESETS and "o2o/lift/sac_flow_t" in USER_PRESETS
    assert not any(p.startswith("bench/") for p in USER_PRESETS)
    assert all(Path(CFG_DIR / "experiment" / f"{p}.yaml").exists() for p in USER_PRESETS)

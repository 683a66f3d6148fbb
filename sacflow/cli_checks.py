"""Check the command line against the config it composed: what the user asked for is what runs.

Hydra composes silently in two cases that would train something other than what was typed:

* ``method=M`` picks agent, velocity and critic through M's own defaults list, and a preset
  listed after it (``experiment=...``) that overrides one of those groups wins;
* ``+key=value`` adds a key whatever its spelling, and nothing reads a misspelled key.

Both stop the run with one line, as do a ``velocity=`` the agent has no use for, a velocity of
the other regime (from scratch vs offline-to-online) and a ``size=`` a velocity or critic has no
file for. Group choices typed directly (``velocity=``, ``critic=``) always win in Hydra.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from sacflow.config_checks import ConfigError
from sacflow.schema.run import TRAINERS

CFG_DIR = Path(__file__).resolve().parent.parent / "cfg"
# Presets a user is meant to start from (``--help`` lists them); bench/* belong to benchmarks/.
USER_PRESET_DIRS = ("paper", "o2o", "reinflow", "ppo")
AGENT_TRAINER = {"ppo": "on_policy", "reinflow": "on_policy"}  # the rest of agent/ trains from scratch (online)


def check_command_line(cfg: DictConfig, overrides: list[str], choices: dict[str, str | None]) -> None:
    """``overrides``: the task overrides as typed (Hydra's ``overrides.task``); ``choices``: the final group choices."""
    typed = {o.key_or_group: o for o in OverridesParser.create().parse_overrides(overrides)}
    for key, override in typed.items():
        if override.is_add() and key not in choices:
            raise ConfigError(f"+{key}", f"no such key, and nothing reads a new one{_closest(cfg, key)}")
    if "method" in typed and choices.get("method"):
        _check_method(choices["method"], choices, typed)
    _check_regime(cfg, choices, typed)
    uses_velocity = "${velocity" in str(OmegaConf.to_container(cfg.agent, resolve=False))
    if "velocity" in typed and not uses_velocity:
        raise ConfigError("velocity", f"agent={choices.get('agent')} has no velocity network; velocity= applies to "
                                      "agent=sac_flow and agent=o2o/sac_flow (methods sac_flow_t, sac_flow_g, sac_flow_mlp)")
    if uses_velocity:
        _check_velocity_regime(cfg, choices)
    _check_size(choices, uses_velocity)


def _closest(cfg: DictConfig, key: str) -> str:
    keys = [k for k in dotted_keys(OmegaConf.to_container(cfg, resolve=False)) if k != key]
    match = difflib.get_close_matches(key, keys, n=1)
    return f"; did you mean {match[0]}=...?" if match else ""


def dotted_keys(node, prefix: str = "") -> list[str]:
    if not isinstance(node, dict):
        return []
    keys = []
    for name, value in node.items():
        keys.append(prefix + str(name))
        keys.extend(dotted_keys(value, f"{prefix}{name}."))
    return keys


def method_choices(method: str) -> dict[str, str]:
    """The group choices ``cfg/method/<method>.yaml`` makes (``override /agent: flowrl`` -> agent: flowrl)."""
    defaults = yaml.safe_load((CFG_DIR / "method" / f"{method}.yaml").read_text()).get("defaults", [])
    return {key.split()[-1].lstrip("/"): value for entry in defaults if isinstance(entry, dict)
            for key, value in entry.items()}


def _check_method(method: str, choices: dict, typed: dict) -> None:
    for group, wanted in method_choices(method).items():
        if group in typed or choices.get(group) == wanted:  # a group typed by the user wins in Hydra
            continue
        raise ConfigError("method", f"{_source(choices)} sets {group}={choices.get(group)}, but "
                                    f"method={method} needs {group}={wanted}; {_preset_hint(method, choices)}")


def _source(choices: dict) -> str:
    return f"experiment={choices['experiment']}" if choices.get("experiment") else "the primary config"


def _preset_hint(method: str, choices: dict) -> str:
    """A user-facing preset that runs ``method`` on the chosen env, else: drop the preset."""
    env = choices.get("env")
    for folder in USER_PRESET_DIRS:
        for path in sorted((CFG_DIR / "experiment" / folder).rglob("*.yaml")):
            text = path.read_text()
            if f"override /method: {method}\n" in text and f"override /env: {env}\n" in text:
                return f"use experiment={path.relative_to(CFG_DIR / 'experiment').with_suffix('').as_posix()}"
    if method.startswith("o2o/"):
        return f"offline-to-online methods run from their task presets, experiment=o2o/<task>/{method[4:]}"
    return f"drop experiment= and pick the env with env= (method={method} alone is a complete choice)"


def _check_regime(cfg: DictConfig, choices: dict, typed: dict) -> None:
    """The agent's regime must be the trainer's: offline-to-online agents live in agent/o2o/."""
    if cfg.get("trainer") not in TRAINERS:
        return  # not a trainer at all: the schema names the key (trainer=...)
    agent = choices.get("agent") or ""
    regime = "offline_to_online" if agent.startswith("o2o/") else AGENT_TRAINER.get(agent, "online")
    if cfg.get("trainer") != regime:
        if "method" in typed:
            key, hint = "method", _preset_hint(choices["method"], choices)
        else:
            key, hint = "agent", "choose the algorithm with method= (or a preset made for it) rather than agent="
        raise ConfigError(key, f"agent={agent} runs under trainer={regime}, but {_source(choices)} "
                               f"sets trainer={cfg.get('trainer')}; {hint}")


def _check_velocity_regime(cfg: DictConfig, choices: dict) -> None:
    velocity = choices.get("velocity") or ""
    offline_to_online = cfg.get("trainer") == "offline_to_online"
    if offline_to_online != velocity.startswith("o2o/"):
        wanted = f"o2o/{velocity}" if offline_to_online else velocity.removeprefix("o2o/")
        regime = "an offline-to-online" if offline_to_online else "a from-scratch"
        raise ConfigError("velocity", f"velocity={velocity} does not fit {regime} run; use velocity={wanted}")


def _check_size(choices: dict, uses_velocity: bool) -> None:
    size = choices.get("size")
    if size in (None, "paper"):
        return
    for group in ("velocity", "critic") if uses_velocity else ("critic",):
        choice = choices.get(group)
        if not (CFG_DIR / "sizes" / group / str(choice) / f"{size}.yaml").exists():
            have = sorted(p.parent.name for p in (CFG_DIR / "sizes" / group).glob(f"*/{size}.yaml"))
            raise ConfigError("size", f"size={size} has no {group}={choice} file (cfg/sizes/{group}/{choice}/{size}.yaml); "
                                      f"it exists for {group}={', '.join(have)}")

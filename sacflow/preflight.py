"""Every refusal before Hydra starts: the command line is composed here as Hydra will compose it
(each combination of a ``-m`` sweep), checked, and refused with one line and exit code 2, so a
refused run writes nothing: no run folder, no ``.hydra/``, no ``.submitit/``.

Hydra's own composition errors (an unknown key, an unknown group choice, a syntax error) are
turned into the same one-line form. Torch is imported only to check a CUDA device.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
import traceback
from contextlib import contextmanager

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import get_args_parser
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf

from sacflow.cli_checks import CFG_DIR, check_command_line, dotted_keys
from sacflow.config_checks import ConfigError, check_vectorised
from sacflow.datasets.errors import DatasetError
from sacflow.extras import LauncherError, MissingExtra, check_launcher, check_run_extras
from sacflow.schema import validate
from sacflow.utils.checkpoint_error import CheckpointError

# A sweep of more combinations than this is checked value by value: every swept value of every
# key appears in at least one composed combination (relations across swept keys are then checked
# by each job as it starts).
FULL_SWEEP_LIMIT = 64
UNKNOWN_KEY = re.compile(r"Could not override '([^']+)'")


REFUSALS = ((ConfigError, "config error"), (MissingExtra, "missing extra"), (LauncherError, "launcher error"),
            (DatasetError, "dataset error"), (CheckpointError, "checkpoint error"))


@contextmanager
def refusals():
    """Any refusal raised inside becomes one line ``sacflow: <kind>: <reason>`` and exit code 2."""
    try:
        yield
    except tuple(cls for cls, _ in REFUSALS) as err:
        refuse(next(kind for cls, kind in REFUSALS if isinstance(err, cls)), err)


def refuse(kind: str, err: Exception) -> None:
    """One line and exit code 2; the traceback too with HYDRA_FULL_ERROR=1, as Hydra does."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        traceback.print_exception(err)
    print(f"sacflow: {kind}: {err}", file=sys.stderr)
    sys.exit(2)


def preflight(argv: list[str], config_name: str = "config") -> None:
    """Return quietly when the run may start; otherwise print one line and exit 2."""
    args = get_args_parser().parse_args(argv)
    if any(getattr(args, flag, None) for flag in ("help", "hydra_help", "cfg", "info", "shell_completion")):
        return  # Hydra prints something and trains nothing
    if args.config_path or args.config_dir or args.config_name:
        return  # another config tree: its own rules (the trainer still converts and checks)
    with refusals():
        check_launcher(argv)
        with initialize_config_dir(str(CFG_DIR), version_base="1.3", job_name="preflight"):
            for overrides in combinations(args.overrides, args.multirun, config_name):
                check_composed(_compose(config_name, overrides))


def combinations(overrides: list[str], multirun: bool, config_name: str) -> list[list[str]]:
    if not multirun:
        return [overrides]
    parser = OverridesParser.create()
    try:
        fixed = [o.input_line for o in parser.parse_overrides(overrides) if not o.is_sweep_override()]
        base = _compose(config_name, fixed, sweep=True)
        params = base.hydra.sweeper.get("params")
        params = OmegaConf.to_container(params, resolve=False) if params else {}
        typed = [f"{key}={value}" for key, value in params.items()] + list(overrides)
        batches = BasicSweeper.split_arguments(parser.parse_overrides(typed), None)
    except ConfigError:
        raise
    except HydraException as err:
        raise ConfigError("sweep", str(err).strip().splitlines()[0]) from None
    combos = batches[0] if batches else [[]]
    if len(combos) <= FULL_SWEEP_LIMIT:
        return combos
    per_key = _values_per_key(combos)
    width = max(len(values) for values in per_key)
    return [[values[i % len(values)] for values in per_key] for i in range(width)]


def _values_per_key(combos: list[list[str]]) -> list[list[str]]:
    columns = zip(*combos)
    return [list(dict.fromkeys(column)) for column in columns]


def _compose(config_name: str, overrides: list[str], sweep: bool = False) -> DictConfig:
    try:
        cfg = compose(config_name, overrides, return_hydra_config=True)
    except MissingConfigException as err:
        raise _missing_choice(err, overrides) from None
    except HydraException as err:
        raise _composition_error(err, config_name, overrides) from None
    if not sweep:
        HydraConfig.instance().set_config(cfg)
    return cfg


def _missing_choice(err: MissingConfigException, overrides: list[str]) -> ConfigError:
    missing = str(err.missing_cfg_file or "")
    group, _, choice = missing.partition("/")
    for override in overrides:
        key, _, value = override.partition("=")
        key = key.lstrip("+~").split("@")[0]
        if missing == f"{key}/{value}":
            group, choice = key, value
    return ConfigError(group or "config", f"no such choice; one of {choices_of(group)}", choice)


def choices_of(group: str) -> str:
    """A group's choices; folders of presets are shown as ``folder/...`` when the list gets long."""
    root = CFG_DIR / group
    files = sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml"))
    if len(files) > 20:
        files = list(dict.fromkeys(f.split("/")[0] + ("/..." if "/" in f else "") for f in files))
    return ", ".join(files) + (" (python launch.py --help lists the presets)" if group == "experiment" else "")


def _composition_error(err: HydraException, config_name: str, overrides: list[str]) -> ConfigError:
    message = str(err).strip().splitlines()[0]
    if isinstance(err, OverrideParseException):
        return _syntax_error(overrides)
    match = UNKNOWN_KEY.search(message)
    if not match:
        return ConfigError("command line", message)
    key = match.group(1)
    typed = next((o for o in overrides if o.split("=", 1)[0].lstrip("+~") == key), key)
    others = [o for o in overrides if o is not typed]
    try:
        keys = dotted_keys(OmegaConf.to_container(compose(config_name, others), resolve=False))
    except HydraException:
        keys = []
    parent = key.rpartition(".")[0]
    siblings = [k for k in keys if k.rpartition(".")[0] == parent]
    close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else ""
    return ConfigError(key, f"no such key in this config{hint}", typed.split("=", 1)[-1] if "=" in typed else None)


def _syntax_error(overrides: list[str]) -> ConfigError:
    parser = OverridesParser.create()
    for override in overrides:
        try:
            parser.parse_override(override)
        except HydraException as err:
            key, _, value = override.partition("=")
            reason = str(err).strip().splitlines()[0]
            return ConfigError(key, f"cannot be parsed ({reason}); quote values with spaces or brackets", value)
    return ConfigError("command line", "cannot be parsed")


def check_composed(cfg: DictConfig) -> None:
    """The checks of one composed run: command line, schema, extras, vectorised seeds, device."""
    check_command_line(cfg, list(cfg.hydra.overrides.task), dict(cfg.hydra.runtime.choices))
    validate(cfg)
    check_run_extras(cfg)
    if cfg.get("seeds"):
        check_vectorised(cfg)
    if str(cfg.device).startswith("cuda"):
        from sacflow.utils.device import resolve_device  # imports torch

        resolve_device(cfg.device)



"""Typed schemas for the whole config tree (OmegaConf structured configs) with the value rules and
relations declared beside them. ``validate`` checks a composed config; ``convert`` also writes the
converted values back (``fast.bf16=no`` becomes ``False``), as the trainer will read them.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sacflow.config_checks import ConfigError
from sacflow.schema.run import RunSchema
from sacflow.schema.walk import check_mapping


def validate(cfg: DictConfig) -> dict:
    """The resolved, converted config as a plain dict; ConfigError on the first wrong key."""
    resolved = {}
    for key in cfg:
        if key == "hydra":
            continue
        try:
            node = cfg[key]
            resolved[key] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        except OmegaConfBaseException as err:
            reason = str(err).splitlines()[0]
            raise ConfigError(str(getattr(err, "full_key", None) or key), f"cannot be resolved: {reason}") from None
    return check_mapping(resolved, RunSchema, "", resolved)


def convert(cfg: DictConfig) -> None:
    """Validate, then replace each literal value by its converted form (interpolations stay links)."""
    _write_back(cfg, validate(cfg))


def _write_back(node: DictConfig, converted: dict) -> None:
    for key, value in converted.items():
        if OmegaConf.is_interpolation(node, key):
            continue
        if isinstance(value, dict):
            _write_back(node[key], value)
        elif not _same(node[key], value):
            node[key] = value


def _same(current, value) -> bool:
    if OmegaConf.is_config(current):
        current = OmegaConf.to_container(current, resolve=True)
    return type(current) is type(value) and current == value

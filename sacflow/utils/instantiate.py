"""Hydra instantiation of config nodes that also carry descriptive keys."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

# Keys that describe a config (used in run names and reports) but are not constructor arguments.
METADATA_KEYS = ("name",)


def _strip(node):
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if not ("_target_" in node and k in METADATA_KEYS)}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def instantiate(node: DictConfig, **kwargs):
    return hydra.utils.instantiate(_strip(OmegaConf.to_container(node, resolve=True)), **kwargs)

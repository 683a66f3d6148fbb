"""One trainer per regime, chosen by the ``trainer`` config key."""

from __future__ import annotations

import importlib

TRAINERS = {
    "online": "sacflow.trainers.online:OnlineTrainer",
    "offline_to_online": "sacflow.trainers.offline_to_online:OfflineToOnlineTrainer",
    "on_policy": "sacflow.trainers.on_policy:OnPolicyTrainer",
}
VECTORISED = "sacflow.trainers.online_seeds:VectorisedSeedsTrainer"  # seeds=[...] (from scratch only)


def get_trainer(name: str, vectorised: bool = False):
    from sacflow.config_checks import ConfigError

    if name not in TRAINERS:
        raise ConfigError("trainer", f"unknown trainer {name!r}; choose one of {sorted(TRAINERS)}")
    module, cls = (VECTORISED if vectorised else TRAINERS[name]).split(":")
    return getattr(importlib.import_module(module), cls)

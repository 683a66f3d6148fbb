"""Schemas of the environments, chosen by ``env.suite`` (absent: gymnasium MuJoCo), and of their datasets.

Env ids are checked against gymnasium's registry (``import ogbench`` registers its ids, a fraction
of a second) without building anything.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, ClassVar

from sacflow.config_checks import ConfigError
from sacflow.schema.fields import at_least, between, one_of, positive, req, sub

SUITES = ("mujoco", "ogbench", "robomimic")
ROBOMIMIC_TASKS = ("lift", "can", "square")  # sacflow.envs.robomimic.TASKS
SUCCESS_TIMINGS = ("pre", "post")  # sacflow.envs.ogbench.SUCCESS_TIMINGS


def _registered(node: dict, root: dict):
    """The id must be a gymnasium env this machine can build (v2/v3 MuJoCo ids need the retired mujoco-py)."""
    from gymnasium.envs.registration import registry

    if node.get("suite") == "ogbench" and importlib.util.find_spec("ogbench") is not None:
        import ogbench  # noqa: F401  (registers the OGBench ids with gymnasium)
    env_id = node["id"]
    key = "version" if "version" in node and env_id.endswith(f"-{node['version']}") else "id"  # what the user types
    spec = registry.get(env_id)
    if spec is None:
        similar = sorted(k for k in registry if k.rsplit("-", 1)[0] == env_id.rsplit("-", 1)[0])[:8]
        return key, f"no such environment {env_id}" + (f"; registered: {', '.join(similar)}" if similar else "")
    if not isinstance(spec.entry_point, str) or "mujoco_py" in spec.entry_point:
        return key, f"{env_id} needs the retired mujoco-py; use version v4 (the paper's) or v5"
    return None


@dataclass
class WeightsSchema:
    """env.weights (paper Table 4)."""

    fql: float = req(at_least(0.0))
    qc_fql: float = req(at_least(0.0))
    sac_flow_offline: float = req(at_least(0.0))
    sac_flow_online: float = req(at_least(0.0))


@dataclass
class EnvSchema:
    """Keys of every environment."""

    name: str = req()
    id: str = req()
    max_episode_steps: int | None = req(positive, null=True)
    obs_dim: int | None = req(positive, null=True)
    action_dim: int | None = req(positive, null=True)


@dataclass
class MuJoCoEnvSchema(EnvSchema):
    """a gymnasium MuJoCo environment"""

    version: str = req()

    relations: ClassVar[tuple] = (_registered,)


@dataclass
class ManipulationEnvSchema(EnvSchema):
    """Keys of the offline-to-online suites."""

    suite: str = req(one_of(*SUITES))
    sparse: bool = req()
    weights: Any = sub(WeightsSchema)


@dataclass
class OGBenchEnvSchema(ManipulationEnvSchema):
    """an OGBench single-task environment"""

    task: int = req(between(1, 5))
    dataset_name: str = req()
    success_timing: str = req(one_of(*SUCCESS_TIMINGS))

    relations: ClassVar[tuple] = (_registered,)


@dataclass
class RobomimicEnvSchema(ManipulationEnvSchema):
    """a Robomimic environment"""

    task: str = req(one_of(*ROBOMIMIC_TASKS))


ENVS = {"mujoco": MuJoCoEnvSchema, "ogbench": OGBenchEnvSchema, "robomimic": RobomimicEnvSchema}


def env_schema(node, key: str) -> type:
    suite = node.get("suite", "mujoco") if isinstance(node, dict) else None
    if suite not in ENVS:
        raise ConfigError(f"{key}.suite", f"must be one of {', '.join(ENVS)}", suite)
    return ENVS[suite]


@dataclass
class OGBenchDatasetSchema:
    """the OGBench dataset"""

    name: str = req()
    dir: str | None = req(null=True)
    path: str | None = req(null=True)
    download: bool = req()


@dataclass
class RobomimicDatasetSchema:
    """the Robomimic dataset"""

    name: str = req()
    path: str = req()


DATASETS = {"ogbench": OGBenchDatasetSchema, "robomimic": RobomimicDatasetSchema}


def dataset_schema(node, key: str) -> type:
    name = node.get("name") if isinstance(node, dict) else None
    if name not in DATASETS:
        raise ConfigError(f"{key}.name", f"must be one of {', '.join(DATASETS)}", name)
    return DATASETS[name]

"""The schemas (sacflow/schema) match the code they describe and the configs they check."""

import inspect
import typing
from collections.abc import Sequence
from dataclasses import fields

import pytest
from conftest import CFG_DIR, compose_config
from hydra.utils import get_class
from omegaconf import OmegaConf

from sacflow.schema import agents, envs, networks, run

# The label every _target_ mapping may carry besides the constructor's parameters.
NOT_PARAMETERS = {"_target_", "_partial_", "name"}


def _plain(annotation):
    """int | None -> int; Sequence[int] and list[int] -> (list, int)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, __import__("types").UnionType):
        annotation = args[0]
    origin = typing.get_origin(annotation)
    if origin in (list, Sequence):
        return (list, typing.get_args(annotation)[0])
    return annotation


@pytest.mark.parametrize("target", sorted(networks.TARGETS))
def test_each_network_schema_names_its_targets_parameters_with_their_types(target):
    schema = networks.TARGETS[target]
    init = get_class(target).__init__
    params, annotations = inspect.signature(init).parameters, typing.get_type_hints(init)
    hints = typing.get_type_hints(schema)
    for field in fields(schema):
        if field.name in NOT_PARAMETERS:
            continue
        assert field.name in params, f"{target} has no parameter {field.name}"
        if field.metadata.get("schema") or field.name not in annotations:  # nested networks, untyped arguments
            continue
        assert _plain(hints[field.name]) == _plain(annotations[field.name]), field.name


def test_declared_value_sets_are_the_codes_own():
    from sacflow.agents import fast_path, fql, sac_flow_o2o
    from sacflow.agents.q_guided import QGuidedAgent
    from sacflow.envs import ogbench, robomimic
    from sacflow.networks import critic, layers
    from sacflow.trainers import TRAINERS

    assert set(networks.ACTIVATIONS) == set(layers.ACTIVATIONS)
    assert set(networks.CRITIC_LAYOUTS) == set(critic.LAYOUTS)
    assert set(run.COMPILE_MODES) == set(fast_path.COMPILE_MODES)
    assert set(run.TRAINERS) == set(TRAINERS)
    assert set(agents.FQL_ACTING) == set(fql.ACTING)
    assert set(agents.O2O_SCHEDULES) == set(sac_flow_o2o.SCHEDULES)
    assert set(agents.O2O_BC_TARGETS) == set(sac_flow_o2o.BC_TARGETS)
    assert set(agents.O2O_ALPHA_LOSSES) == set(sac_flow_o2o.ALPHA_LOSSES)
    assert set(envs.SUCCESS_TIMINGS) == set(ogbench.SUCCESS_TIMINGS)
    assert set(envs.ROBOMIMIC_TASKS) == set(robomimic.TASKS)
    classes = {cls: get_class(cls) for cls in agents.AGENTS}
    assert {c for c, k in classes.items() if hasattr(k, "pretrain_update")} == set(run.PRETRAINING_AGENTS)
    assert {c for c, k in classes.items() if issubclass(k, QGuidedAgent)} == set(run.TARGET_CRITIC_AGENTS)


def _presets() -> list[list[str]]:
    experiments = [p.relative_to(CFG_DIR / "experiment").with_suffix("").as_posix()
                   for p in (CFG_DIR / "experiment").rglob("*.yaml")
                   if p.stem != "base" and not p.stem.endswith("_common")]
    methods = [p.stem for p in (CFG_DIR / "method").glob("*.yaml")]
    return [[f"experiment={e}"] for e in sorted(experiments)] + [[f"method={m}"] for m in sorted(methods)]


def _keys_by_schema(node: dict, schema, path: str, seen: dict) -> None:
    seen.setdefault(schema, set()).update(node)
    for field in fields(schema):
        nested = field.metadata.get("schema")
        if nested and isinstance(node.get(field.name), dict):
            chosen = nested if isinstance(nested, type) else nested(node[field.name], path)
            _keys_by_schema(node[field.name], chosen, f"{path}.{field.name}", seen)


def test_every_schema_field_is_set_by_some_preset():
    """The other direction is the schemas' own check: a config key no schema names is refused."""
    seen: dict = {}
    for overrides in _presets():
        cfg = compose_config(overrides)
        _keys_by_schema(OmegaConf.to_container(cfg, resolve=True), run.RunSchema, "", seen)
    unused = {schema.__name__: sorted({f.name for f in fields(schema)} - keys - NOT_PARAMETERS)
              for schema, keys in seen.items()}
    assert not any(unused.values()), unused
    everything = {*networks.TARGETS.values(), *agents.AGENTS.values(), *envs.ENVS.values()}
    assert everything <= set(seen), sorted(s.__name__ for s in everything - set(seen))

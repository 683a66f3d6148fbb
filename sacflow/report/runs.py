"""Find run directories, read the curve each regime is judged by, and group runs by configuration.

A run directory is any directory holding ``config_resolved.yaml`` or ``run_info.json``; its
configuration comes from ``config_resolved.yaml`` (or Hydra's ``.hydra/config.yaml``). A run
still in progress is read as it stands. Runs of one group must be the same experiment up to
the seed: anything else differing (outside the keys a resume may change) is an error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from omegaconf import OmegaConf

from sacflow.trainers.base import differing_key, value_at

MARKERS = ("config_resolved.yaml", "run_info.json")
# Keys that may differ between the seeds of one group (besides the resumable ones).
PER_RUN_KEYS = ("seed", "out_dir")


class ReportError(ValueError):
    """Runs that cannot be reported as asked; the message is one line."""


@dataclass(frozen=True)
class Metric:
    file: str
    column: str
    label: str
    binned: bool  # one noisy point per episode: average the points of each grid cell


# What each regime's curves and scores are made of (the paper's figures).
METRICS = {
    "online": Metric("train.csv", "train/episode_return", "training episode return", binned=True),
    "offline_to_online": Metric("eval.csv", "eval/success", "evaluation success rate", binned=False),
}
# On-policy runs (PPO, ReinFlow) are judged as their suite's regime: OGBench/Robomimic by success.
MANIPULATION_SUITES = ("ogbench", "robomimic")


def metric_of(config: dict, path: Path) -> Metric:
    trainer = config.get("trainer", "online")
    if trainer == "on_policy":
        trainer = "offline_to_online" if config["env"].get("suite") in MANIPULATION_SUITES else "online"
    if trainer not in METRICS:
        raise ReportError(f"{path}: unknown trainer {trainer!r}")
    return METRICS[trainer]


@dataclass
class Run:
    path: Path
    task: str
    method: str
    seed: int
    metric: Metric
    steps: np.ndarray  # increasing env steps (offline updates first for offline-to-online)
    values: np.ndarray
    config: dict

    @property
    def group(self) -> tuple[str, str]:
        return self.task, self.method


def find_run_dirs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    found = set()
    for path in map(Path, paths):
        if not path.exists():
            raise ReportError(f"{path}: no such file or directory")
        for marker in MARKERS:
            found.update(p.parent for p in path.rglob(marker))
    return sorted(found)


def load_run(path: Path) -> Run | None:
    """The run in ``path``, or None while it has no data point yet."""
    config = _config(path)
    trainer = config.get("trainer", "online")
    metric = metric_of(config, path)
    steps, values = _series(path / metric.file, metric.column)
    if not len(steps):
        return None
    # run_name is ${env.id}/${agent.tag}-${critic.name} from scratch, ${env.id}/${agent.tag} otherwise.
    method = config["agent"]["tag"] + (f"-{config['critic']['name']}" if trainer == "online" else "")
    return Run(path, config["env"]["id"], method, int(config["seed"]), metric, steps, values, config)


def load_runs(paths: Iterable[str | os.PathLike]) -> list[Run]:
    paths = list(paths)
    dirs = find_run_dirs(paths)
    if not dirs:
        raise ReportError(f"no run directories (with {' or '.join(MARKERS)}) under {', '.join(map(str, paths))}")
    return [run for run in map(load_run, dirs) if run is not None]


def group_runs(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """{(task, method): runs sorted by seed}, checking that each group differs only in the seed."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    for (task, method), members in groups.items():
        members.sort(key=lambda run: (run.seed, str(run.path)))
        for previous, run in pairwise(members):  # sorted: runs of one seed are neighbours
            if run.seed == previous.seed:
                raise _seed_clash(task, method, previous, run)
        first = members[0]
        for other in members[1:]:
            difference = _difference(first, other)
            if difference:
                raise ReportError(f"{task} {method}: {first.path} and {other.path} differ in {difference}; "
                                  "report them separately")
    return dict(sorted(groups.items()))


def _seed_clash(task: str, method: str, a: Run, b: Run) -> ReportError:
    """Typically the same method and seed run twice with other overrides into two out_dirs, or a copied folder."""
    difference = _difference(a, b)
    also = f" (different experiments: they differ in {difference})" if difference else ""
    return ReportError(f"{a.path} and {b.path} are both seed {a.seed} of {task} {method}{also}; report them "
                       f"separately (sacflow-report {a.path}, sacflow-report {b.path}) or pass only one of them")


def _difference(a: Run, b: Run) -> str | None:
    """The first key in which two runs' configs differ beyond the seed, with both values: 'key (x vs y)'."""
    key = differing_key(_shared(a.config), _shared(b.config))
    if key is None:
        return None
    # as JSON: one line (null for an absent key), whatever the value's type
    values = (json.dumps(value_at(run.config, key), default=str) for run in (a, b))
    return f"{key} ({' vs '.join(values)})"


def _shared(config: dict) -> dict:
    return {key: value for key, value in config.items() if key not in PER_RUN_KEYS}


def _config(path: Path) -> dict:
    resolved = path / "config_resolved.yaml"
    if resolved.exists():
        return yaml.safe_load(resolved.read_text())
    hydra = path / ".hydra" / "config.yaml"
    if hydra.exists():
        return OmegaConf.to_container(OmegaConf.load(hydra), resolve=True)
    raise ReportError(f"{path}: neither config_resolved.yaml nor .hydra/config.yaml")


def _series(csv: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``column`` with empty cells dropped; empty arrays when there is none yet."""
    try:
        table = pd.read_csv(csv)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return np.empty(0), np.empty(0)
    if column not in table:
        return np.empty(0), np.empty(0)
    table = table[["step", column]].apply(pd.to_numeric, errors="coerce").dropna().sort_values("step", kind="stable")
    return table["step"].to_numpy(float), table[column].to_numpy(float)

"""From the seeds of one group to aggregates: a learning curve on a common step grid and the
final score, with rliable's IQM / mean and stratified-bootstrap 95% confidence intervals.

A group is read up to the step its least advanced run has reached (``end``), so a run still
in progress shortens its group's curve instead of mixing steps. From-scratch runs log one
return per episode, at irregular steps: the curve averages the episodes ending in each grid
cell, and the final score is a run's mean return over the last ``window`` of the steps.
Offline-to-online runs are scored by their evaluations, interpolated onto the grid, and by
the evaluation at ``end``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from rliable import library, metrics

from sacflow.report.runs import Metric, Run

CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Curve:
    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True)
class Final:
    step: float             # where the scores are read (the group's ``end``)
    scores: np.ndarray      # one per run, in seed order
    iqm: Estimate
    mean: Estimate


@dataclass(frozen=True)
class GroupResult:
    task: str
    method: str
    metric: Metric
    seeds: list[int]
    curve: Curve
    final: Final


def summarize(groups: dict[tuple[str, str], list[Run]], points: int, window: float, reps: int) -> list[GroupResult]:
    return [GroupResult(task, method, runs[0].metric, [run.seed for run in runs], curve(runs, points, reps),
                        final(runs, window, reps))
            for (task, method), runs in groups.items()]


def end_step(runs: list[Run]) -> float:
    return min(run.steps[-1] for run in runs)


def step_grid(runs: list[Run], points: int) -> np.ndarray:
    end = end_step(runs)
    if runs[0].metric.binned:  # the right edges of `points` equal cells over (0, end]
        return np.linspace(end / points, end, points)
    start = max(run.steps[0] for run in runs)  # no run is extrapolated before its first evaluation
    return np.linspace(start, end, points) if end > start else np.array([end])


def on_grid(run: Run, grid: np.ndarray) -> np.ndarray:
    steps, values = run.steps, run.values
    if run.metric.binned:
        width = grid[0]
        cell = np.ceil(steps / width).astype(int) - 1  # cell i holds steps in (i*width, (i+1)*width]
        inside = (cell >= 0) & (cell < len(grid))
        sums = np.bincount(cell[inside], values[inside], minlength=len(grid))
        counts = np.bincount(cell[inside], minlength=len(grid))
        filled = counts > 0  # cells without an episode end are interpolated from their neighbours
        if filled.any():  # else the run's first episode ends after `end`: its value is held flat
            steps, values = grid[filled], sums[filled] / counts[filled]
    return np.interp(grid, steps, values)


def final_score(run: Run, end: float, window: float) -> float:
    last = (run.steps > end * (1 - window)) & (run.steps <= end)
    if run.metric.binned and last.any():
        return float(run.values[last].mean())
    # evaluations, or episodes longer than the window: interpolated at `end` like the curve
    return float(np.interp(end, run.steps, run.values))


def curve(runs: list[Run], points: int, reps: int) -> Curve:
    grid = step_grid(runs, points)
    scores = np.stack([on_grid(run, grid) for run in runs])[:, None, :]  # runs x 1 task x grid points
    mean, low, high = _interval(scores, metrics.aggregate_mean, reps)  # aggregate_mean keeps the grid axis
    return Curve(grid, mean, low, high)


def final(runs: list[Run], window: float, reps: int) -> Final:
    end = end_step(runs)
    scores = np.array([final_score(run, end, window) for run in runs])
    estimates = [Estimate(*(np.asarray(x).item() for x in _interval(scores[:, None], func, reps)))
                 for func in (metrics.aggregate_iqm, metrics.aggregate_mean)]
    return Final(end, scores, *estimates)


def _interval(scores: np.ndarray, func, reps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point estimate, CI low, CI high) of ``func`` over the runs (axis 0) of ``scores``."""
    with _seeded_global_numpy(BOOTSTRAP_SEED):
        points, intervals = library.get_interval_estimates({"": scores}, func, reps=reps,
                                                            confidence_interval_size=CONFIDENCE)
    return points[""], intervals[""][0], intervals[""][1]


@contextmanager
def _seeded_global_numpy(seed: int):
    # rliable 1.2.0's StratifiedBootstrap.update_indices resamples with np.random.choice, the
    # global RNG, whatever random_state says: seed that one (a report is reproducible), then
    # give the caller its RNG back.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)

"""Learning-curve plot from a run's metric CSVs (``train.csv``, ``eval.csv``).

``plot_run_learning_curve`` draws a run's ``learning_curve.png`` from its config alone, so the trainer
(at the end of a run) and ``sacflow-plot`` (at any time) draw the same figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sacflow.envs.manipulation import SUITES

LEARNING_CURVE_PNG = "learning_curve.png"

# (file, column, legend label, line style) of the curves of each regime.
RETURN_CURVES = (
    ("train.csv", "train/episode_return", "train episode return", {"alpha": 0.5, "linewidth": 1.0}),
    ("eval.csv", "eval/return_det", "eval return (deterministic)", {"marker": "o", "markersize": 3}),
    ("eval.csv", "eval/return_stoch", "eval return (stochastic)", {"marker": "s", "markersize": 3}),
)
SUCCESS_CURVES = (
    ("train.csv", "train/success", "train episode success", {"alpha": 0.3, "linewidth": 0.8}),
    ("eval.csv", "eval/success", "eval success rate", {"marker": "o", "markersize": 3}),
)


def learning_curve_kwargs(config: dict) -> dict:
    """The curves and axis labels of a run's regime, from its resolved config: success rates on the
    manipulation suites (whose x axis starts with the offline or pretraining updates), returns otherwise."""
    trainer = config.get("trainer", "online")
    if trainer == "offline_to_online":
        return {"curves": SUCCESS_CURVES, "ylabel": "success", "xlabel": "offline updates, then environment steps"}
    if trainer == "on_policy" and config["env"].get("suite") in SUITES:
        return {"curves": SUCCESS_CURVES, "ylabel": "success", "xlabel": "pretraining updates, then environment steps"}
    return {"curves": RETURN_CURVES}


def plot_run_learning_curve(run_dir: str | os.PathLike, config: dict, path_png: str | os.PathLike | None = None) -> Path:
    """The run's learning curve, titled with its run_name, to ``<run_dir>/learning_curve.png`` unless ``path_png``."""
    run_dir = Path(run_dir)
    return plot_learning_curve(run_dir, path_png or run_dir / LEARNING_CURVE_PNG, title=config["run_name"],
                               **learning_curve_kwargs(config))


def plot_learning_curve(out_dir: str | os.PathLike, path_png: str | os.PathLike, title: str | None = None,
                        curves=RETURN_CURVES, ylabel: str = "return", xlabel: str = "environment steps") -> Path:
    """Plot ``curves`` against steps and save a PNG; curves whose data is missing are skipped."""
    out_dir, path_png = Path(out_dir), Path(path_png)
    # A bare Figure on the Agg canvas: no pyplot global state, no display needed.
    fig = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()

    tables: dict[str, pd.DataFrame | None] = {}
    for file_name, column, label, style in curves:
        if file_name not in tables:
            tables[file_name] = _read_table(out_dir / file_name)
        curve = _numeric_curve(tables[file_name], column)
        if curve is not None:
            ax.plot(*curve, label=label, **style)

    if ax.lines:
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path_png, dpi=120)
    return path_png


def _read_table(path: Path) -> pd.DataFrame | None:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return None


def _numeric_curve(table: pd.DataFrame | None, column: str) -> tuple[pd.Series, pd.Series] | None:
    """(steps, values) of ``column`` without empty cells; None when there is nothing to draw."""
    if table is None or "step" not in table or column not in table:
        return None
    steps = pd.to_numeric(table["step"], errors="coerce")
    values = pd.to_numeric(table[column], errors="coerce")
    valid = steps.notna() & values.notna()
    return (steps[valid], values[valid]) if valid.any() else None

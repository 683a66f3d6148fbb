"""Learning curves: one panel per task, the mean over seeds of each method with its 95% CI band."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sacflow.report.aggregate import GroupResult

XLABELS = {"train.csv": "environment steps", "eval.csv": "offline updates, then environment steps"}


def plot_curves(results: list[GroupResult], path: Path) -> Path:
    tasks = sorted({result.task for result in results})
    columns = min(len(tasks), 3)
    rows = math.ceil(len(tasks) / columns)
    # A bare Figure on the Agg canvas: no pyplot global state, no display needed.
    fig = Figure(figsize=(5.5 * columns, 4 * rows))
    FigureCanvasAgg(fig)
    for index, task in enumerate(tasks, start=1):
        ax = fig.add_subplot(rows, columns, index)
        of_task = [result for result in results if result.task == task]
        for result in of_task:
            c = result.curve
            (line,) = ax.plot(c.steps, c.mean, marker="o" if len(c.steps) == 1 else None,  # a lone evaluation
                              label=f"{result.method} ({len(result.seeds)} seed{'s' * (len(result.seeds) != 1)})")
            ax.fill_between(c.steps, c.low, c.high, color=line.get_color(), alpha=0.2, linewidth=0)
        metric = of_task[0].metric  # one regime per task
        ax.set(title=task, xlabel=XLABELS[metric.file], ylabel=f"{metric.label} (mean, 95% CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path

"""Learning check: the from-scratch baselines FlowRL, DIME and QSM on InvertedPendulum-v4 (10k env
steps) or Hopper-v4 (100k env steps).

Runs the ``experiment=bench/<task>_<method>`` presets (reduced sizes, see their headers) in
single-threaded lanes, then writes per-seed training-return curves (PNG) and a Markdown table.
Resumable: re-running skips finished runs and resumes killed ones from their checkpoints. Finished
runs' logs are archived in ``docs/benchmarks/runs/`` (``lanes.archive``), so the page is rebuilt from
every seed run so far, in any session.

    python benchmarks/baselines_learning.py --seeds 0 1 2 --lanes 2      # FlowRL, DIME, QSM on InvertedPendulum
    python benchmarks/baselines_learning.py --task hopper --methods flowrl --seeds 0 1 2 --lanes 2
    python benchmarks/baselines_learning.py --methods qsm_c100 --seeds 0
    python benchmarks/baselines_learning.py --summarize-only [--task hopper]

The official implementations, run by hand beside ours at the same task, budget and seed (outside
this repository), are recorded in ``docs/benchmarks/official_runs.csv`` (repository, commit, how
it was run, its numbers); the report prints them under our rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from lanes import (
    ROOT,
    archive,
    bench_parser,
    finish_return_axis,
    official_runs,
    recorded_minutes,
    return_curve,
    run_lanes,
    seed_dirs,
    write_report,
)

# name: (label, method preset suffix, extra overrides). The variants probe FlowRL's recency sampler
# and QSM's gradient scale c (docs/baselines.md).
METHODS = {
    "flowrl": ("FlowRL", "flowrl", []),
    "flowrl_uniform": ("FlowRL, uniform replay", "flowrl", ["agent.replay_recent_fraction=0"]),
    "dime": ("DIME", "dime", []),
    "qsm": ("QSM", "qsm", []),
    "qsm_c100": ("QSM, q_grad_coeff=100", "qsm", ["agent.q_grad_coeff=100"]),
}
DEFAULT_METHODS = ["flowrl", "dime", "qsm"]


@dataclass(frozen=True)
class Task:
    env_id: str
    preset_prefix: str  # presets bench/<prefix>_<method>
    page: str  # docs/benchmarks/<page>.md and .png
    runs: str  # default run folder: runs/bench/<runs>/<method>/seed<N>
    budget: str  # the presets' budget, for the page's introduction
    random_return: float  # a uniform-random policy's episode return (the plot's red line)
    threshold: float  # "env steps to first episode of <threshold>"
    warmup_steps: int  # learning_starts of the presets: uniform-random actions until then


TASKS = {
    "pendulum": Task("InvertedPendulum-v4", "pendulum", "baselines_learning", "baselines",
                     "10k env steps, 1k random warm-up, batch 128, 2 x 128 critics (FlowRL: 4 x 128 LayerNorm), "
                     "reduced actors; evaluation: 3 episodes every 2k steps; the maximum return is 1000",
                     6, 1000, 1000),
    "hopper": Task("Hopper-v4", "hopper", "baselines_learning_hopper", "baselines_hopper",
                   "100k env steps, 5k random warm-up, batch 128, 2 x 128 critics (FlowRL: 4 x 128 LayerNorm), "
                   "reduced actors; evaluation: 5 episodes every 10k steps", 20, 1000, 5000),
}


def run_dir(out_root: Path, method: str, seed: int) -> Path:
    return out_root / method / f"seed{seed}"


def _evaluations(seed_dir: Path) -> list[str]:
    """Cells: best evaluation and last evaluation, each 'deterministic / stochastic' (- where not run)."""
    path = seed_dir / "eval.csv"
    if not path.exists():
        return ["?", "?"]
    df = pd.read_csv(path)
    cols = [df.get(c) for c in ("eval/return_det", "eval/return_stoch")]
    best = " / ".join("-" if c is None else f"{c.max():.0f}" for c in cols)
    last = " / ".join("-" if c is None else f"{c.iloc[-1]:.0f}" for c in cols)
    return [best, f"{last} (step {int(df['step'].iloc[-1])})"]


def _official_rows(task: str, labels: dict[str, str]) -> list[str]:
    """Our table's columns for the official runs on ``task``."""
    return [f"| {labels[r.method]}, official ({r.repository}@{r.commit}) | {r.seed} | {r.first_episode_1000} | "
            f"{r.max_episode_return} | {r.last10_mean} | - / {r.best_eval} | - / {r.last_eval} | {r.env_steps} | "
            f"{r.cpu_minutes} | - |" for r in official_runs(task, list(labels)).itertuples()]


def summarize(task: Task, out_root: Path, doc_dir: Path, methods: list[str]) -> str:
    cols = min(3, len(methods))
    rows = -(-len(methods) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), sharey=True, squeeze=False)
    for ax in axes.flat[len(methods):]:
        ax.set_visible(False)
    lines = [
        ("| method | seed | env steps to first episode of 1000 | max episode return | mean of last 10 episodes "
         "| best evaluation (det / stoch) | last evaluation (det / stoch) | env steps | CPU time (min) "
         "| wall time (min) |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    warmup_returns = []  # episodes of the uniform-random warm-up, before the first update
    for ax, method in zip(axes.flat, methods):
        label = METHODS[method][0]
        for seed_dir in seed_dirs(out_root / method):
            csv = seed_dir / "train.csv"
            if not csv.exists():
                continue
            df = pd.read_csv(csv)
            warmup_returns += df.loc[df["step"] <= task.warmup_steps, "train/episode_return"].tolist()
            cells = [label, seed_dir.name[4:], *return_curve(ax, df, seed_dir.name, task.threshold),
                     *_evaluations(seed_dir),
                     str(int(df["step"].iloc[-1])), recorded_minutes(seed_dir, "cpu"), recorded_minutes(seed_dir, "wall")]
            lines.append("| " + " | ".join(cells) + " |")
        finish_return_axis(ax, f"{label} ({task.env_id})", task.threshold, task.random_return)
    lines += _official_rows(task.env_id, {m: METHODS[m][0] for m in methods})
    for row in axes:
        row[0].set_ylabel("training episode return\n(10-episode mean)")
    return write_report(
        fig, doc_dir, task.page, f"From-scratch baselines: {task.env_id} learning check",
        f"Generated by `benchmarks/baselines_learning.py`; presets `cfg/experiment/bench/{task.preset_prefix}_*.yaml` "
        f"({task.budget}). A uniform-random policy scores about {task.random_return} (red line; the warm-up "
        f"episodes of these runs averaged {sum(warmup_returns) / max(len(warmup_returns), 1):.1f} over "
        f"{len(warmup_returns)} episodes). Evaluations are deterministic (x_0 = 0 or the mean) and stochastic "
        "(the sampling policy without exploration noise: FlowRL's and QSM's own evaluation). Official rows: the authors' code run by hand "
        "at the same settings, recorded in `official_runs.csv` with how each was run.", lines)


def main() -> None:
    parser = bench_parser(__doc__, None)
    parser.add_argument("--task", default="pendulum", choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    args = parser.parse_intermixed_args()
    task = TASKS[args.task]
    out = args.out or ROOT / "runs" / "bench" / task.runs
    if not args.summarize_only:
        for method in args.methods:
            _, suffix, extra = METHODS[method]
            jobs = [(f"bench/{task.preset_prefix}_{suffix}", seed, run_dir(out, method, seed)) for seed in args.seeds]
            run_lanes(jobs, args.lanes, [*extra, *args.overrides])
            for _, _, job_dir in jobs:
                archive(job_dir)
    print(summarize(task, out, args.docs, args.methods))


if __name__ == "__main__":
    main()

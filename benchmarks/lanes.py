"""Run benchmark presets as separate single-threaded processes, a few at a time ("lanes"), and the
command line and report files every learning benchmark shares.

Each run is ``launch.py experiment=<preset> seed=<seed> out_dir=<dir> <overrides>`` with one
BLAS thread, so N lanes use N cores without oversubscription. A run whose learning curve
exists is finished and skipped; a killed one resumes from its checkpoint when re-run. The
wall time of each run is written to ``wall_minutes.txt`` in its directory and its CPU time
(the run and the evaluation workers it reaped) to ``cpu_minutes.txt``: on a machine shared with
other work, CPU time is what the run would take on a dedicated core.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def launch(args: list[str], out: Path) -> tuple[float, float, int]:
    """``launch.py <args>`` on one BLAS thread, output appended to ``<out>/stdout.log``; returns
    (wall seconds, CPU seconds of the run and the workers it reaped, exit code), the minutes also
    written to ``<out>/wall_minutes.txt`` and ``cpu_minutes.txt``."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    start = time.time()
    with open(out / "stdout.log", "a") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), *args], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds, cpu = time.time() - start, usage.ru_utime + usage.ru_stime
    (out / "wall_minutes.txt").write_text(f"{seconds / 60:.1f}\n")
    (out / "cpu_minutes.txt").write_text(f"{cpu / 60:.1f}\n")
    return seconds, cpu, os.waitstatus_to_exitcode(status)


def train(preset: str, seed: int, out: Path, overrides: list[str]) -> tuple[float, int]:
    """Run one preset to completion; returns (wall seconds, exit code)."""
    seconds, _, code = launch([f"experiment={preset}", f"seed={seed}", f"out_dir={out}", *overrides], out)
    return seconds, code


def run_lanes(jobs: list[tuple[str, int, Path]], lanes: int, overrides: list[str]) -> None:
    """``jobs``: (preset, seed, run directory); unfinished ones run ``lanes`` at a time."""
    todo = [job for job in jobs if not (job[2] / "learning_curve.png").exists()]
    with ThreadPoolExecutor(max(lanes, 1)) as pool:
        futures = {pool.submit(train, preset, seed, out, overrides): (preset, seed) for preset, seed, out in todo}
        for future, (preset, seed) in futures.items():
            seconds, code = future.result()
            print(f"{preset} seed {seed}: exit {code}, {seconds / 60:.1f} min", flush=True)


ARCHIVE = ROOT / "docs" / "benchmarks" / "runs"
ARCHIVED = ("train.csv", "eval.csv", "update.csv", "grad.csv", "cpu_minutes.txt", "wall_minutes.txt")


def _archived_path(run_dir: Path) -> Path | None:
    try:
        return ARCHIVE / run_dir.resolve().relative_to(ROOT / "runs")
    except ValueError:  # a run folder outside runs/ (--out elsewhere) is not archived
        return None


def archive(run_dir: Path) -> None:
    """Keep a run's logs (CSVs, CPU/wall minutes, config with ``out_dir`` relative) in
    ``docs/benchmarks/runs/``, mirroring ``runs/``: run folders do not outlive the machine that
    trained them, and ``--summarize-only`` must regenerate a page from a fresh clone."""
    import yaml

    dest = _archived_path(run_dir)
    if dest is None:
        return
    dest.mkdir(parents=True, exist_ok=True)
    for name in ARCHIVED:
        if (run_dir / name).exists():
            (dest / name).write_bytes((run_dir / name).read_bytes())
    config = run_dir / "config_resolved.yaml"
    if config.exists():
        resolved = yaml.safe_load(config.read_text())
        resolved["out_dir"] = str(_archived_path(run_dir).relative_to(ARCHIVE))  # no machine path in the docs
        (dest / "config_resolved.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))


def seed_dirs(method_dir: Path) -> list[Path]:
    """The ``seed*`` runs under ``method_dir``: those here and those archived, each where its logs are."""
    archived = _archived_path(method_dir)
    names = {p.name for p in method_dir.glob("seed*")} | ({p.name for p in archived.glob("seed*")} if archived else set())
    return [logs_of(method_dir / name) for name in sorted(names)]


def logs_of(run_dir: Path) -> Path:
    """Where a run's logs are: its run folder while it exists here, else its archived copy."""
    archived = _archived_path(run_dir)
    if (run_dir / "config_resolved.yaml").exists() or archived is None:
        return run_dir
    return archived


OFFICIAL_RUNS = ROOT / "docs" / "benchmarks" / "official_runs.csv"


def official_runs(task: str, methods: list[str]):
    """The official implementations' runs on ``task`` recorded in ``docs/benchmarks/official_runs.csv``
    (run by hand beside ours, outside this repository; its ``how`` column says how), as a DataFrame."""
    import pandas as pd

    rows = pd.read_csv(OFFICIAL_RUNS, dtype=str).fillna("-")
    return rows[(rows["task"] == task) & rows["method"].isin(methods)]


LEARNING_TABLE_HEADER = (
    ("| method | seed | env steps to first episode of 1000 | max episode return | mean of last 10 episodes "
    "| best evaluation (det / stoch) | last evaluation (det / stoch) | env steps | CPU time (min) | wall time (min) |"),
    "|---|---|---|---|---|---|---|---|---|---|",
)


def official_rows(task: str, labels: dict[str, str]) -> list[str]:
    """Rows of the learning tables (first 1000, max, last 10, evaluations, steps, CPU) for the official runs
    on ``task``; ``labels``: method -> the name the table gives it."""
    return [f"| {labels[r.method]}, official ({r.repository}@{r.commit}) | {r.seed} | {r.first_episode_1000} | "
            f"{r.max_episode_return} | {r.last10_mean} | - / {r.best_eval} | - / {r.last_eval} | {r.env_steps} | "
            f"{r.cpu_minutes} | - |" for r in official_runs(task, list(labels)).itertuples()]


def evaluation_cells(seed_dir: Path) -> list[str]:
    """Cells: best evaluation and last evaluation, each 'deterministic / stochastic' (- where not run)."""
    import pandas as pd

    path = seed_dir / "eval.csv"
    if not path.exists():
        return ["?", "?"]
    df = pd.read_csv(path)
    cols = [df.get(c) for c in ("eval/return_det", "eval/return_stoch")]
    best = " / ".join("-" if c is None else f"{c.max():.0f}" for c in cols)
    last = " / ".join("-" if c is None else f"{c.iloc[-1]:.0f}" for c in cols)
    return [best, f"{last} (step {int(df['step'].iloc[-1])})"]


def recorded_minutes(run_dir: Path, kind: str = "wall") -> str:
    """``kind`` 'wall' or 'cpu', as written by ``train``; '?' when not recorded."""
    path = run_dir / f"{kind}_minutes.txt"
    return path.read_text().strip() if path.exists() else "?"


def bench_parser(doc: str, out: Path | None, seeds=(0,), lanes: int = 1) -> argparse.ArgumentParser:
    """The options of every learning benchmark (seeds, lanes, run and docs folders, summarise only,
    extra Hydra overrides); each script adds its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=list(seeds))
    parser.add_argument("--lanes", type=int, default=lanes, help="runs in parallel, one CPU thread each")
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--summarize-only", action="store_true")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    return parser


def write_report(fig, doc_dir: Path, name: str, heading: str, intro: str, lines: list[str]) -> str:
    """``<name>.png`` (the figure) and ``<name>.md`` (heading, intro, table, figure) in ``doc_dir``;
    returns the table."""
    fig.tight_layout()
    doc_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(doc_dir / f"{name}.png", dpi=110)
    table = "\n".join(lines)
    (doc_dir / f"{name}.md").write_text(f"# {heading}\n\n{intro}\n\n{table}\n\n![curves]({name}.png)\n")
    return table


def return_curve(ax, df, label: str, threshold: float) -> list[str]:
    """Plot train.csv's episode returns (10-episode mean) on ``ax``; returns the table cells: first
    env step with a return >= ``threshold``, the max return, the mean of the last 10 episodes."""
    returns = df["train/episode_return"]
    ax.plot(df["step"], returns.rolling(10, min_periods=1).mean(), label=label)
    crossed = df.loc[returns >= threshold, "step"]
    first = int(crossed.iloc[0]) if len(crossed) else "not reached"
    return [str(first), f"{returns.max():.0f}", f"{returns.tail(10).mean():.0f}"]


def finish_return_axis(ax, title: str, threshold: float, random_return: float) -> None:
    """The goal (grey dashes) and a uniform-random policy's return (red dots)."""
    ax.axhline(threshold, color="gray", ls="--", lw=0.8)
    ax.axhline(random_return, color="red", ls=":", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel("env steps")
    ax.legend(fontsize=7)

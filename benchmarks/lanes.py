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


def train(preset: str, seed: int, out: Path, overrides: list[str]) -> tuple[float, int]:
    """Run one preset to completion; returns (wall seconds, exit code)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    cmd = [sys.executable, str(ROOT / "launch.py"), f"experiment={preset}", f"seed={seed}", f"out_dir={out}", *overrides]
    start = time.time()
    with open(out / "stdout.log", "a") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.time() - start
    (out / "wall_minutes.txt").write_text(f"{seconds / 60:.1f}\n")
    (out / "cpu_minutes.txt").write_text(f"{(usage.ru_utime + usage.ru_stime) / 60:.1f}\n")
    return seconds, proc.returncode


def run_lanes(jobs: list[tuple[str, int, Path]], lanes: int, overrides: list[str]) -> None:
    """``jobs``: (preset, seed, run directory); unfinished ones run ``lanes`` at a time."""
    todo = [job for job in jobs if not (job[2] / "learning_curve.png").exists()]
    with ThreadPoolExecutor(max(lanes, 1)) as pool:
        futures = {pool.submit(train, preset, seed, out, overrides): (preset, seed) for preset, seed, out in todo}
        for future, (preset, seed) in futures.items():
            seconds, code = future.result()
            print(f"{preset} seed {seed}: exit {code}, {seconds / 60:.1f} min", flush=True)


OFFICIAL_RUNS = ROOT / "docs" / "benchmarks" / "official_runs.csv"


def official_runs(task: str, methods: list[str]):
    """The official implementations' runs on ``task`` recorded in ``docs/benchmarks/official_runs.csv``
    (run by hand beside ours, outside this repository; its ``how`` column says how), as a DataFrame."""
    import pandas as pd

    rows = pd.read_csv(OFFICIAL_RUNS, dtype=str).fillna("-")
    return rows[(rows["task"] == task) & rows["method"].isin(methods)]


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

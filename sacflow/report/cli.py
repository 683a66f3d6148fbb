"""``sacflow-report RUN_DIRS... [--out DIR]``: learning_curves.png and report.md in DIR."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sacflow.report.aggregate import summarize
from sacflow.report.markdown import report_markdown
from sacflow.report.plot import plot_curves
from sacflow.report.reference import load_references
from sacflow.report.runs import ReportError, group_runs, load_runs

PNG = "learning_curves.png"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sacflow-report", description=__doc__)
    parser.add_argument("run_dirs", nargs="+", help="run directories, or directories to search for them")
    parser.add_argument("--out", default="report", help="where to write learning_curves.png and report.md")
    parser.add_argument("--points", type=int, default=50, help="points of the common step grid of the curves")
    parser.add_argument("--window", type=float, default=0.1,
                        help="from scratch: the final score averages the returns of this last fraction of the steps")
    parser.add_argument("--reps", type=int, default=10_000, help="bootstrap resamples per confidence interval")
    args = parser.parse_args(argv)
    for name, ok in (("--points", args.points >= 1), ("--window", 0 < args.window <= 1), ("--reps", args.reps >= 1)):
        if not ok:
            parser.error(f"{name}: out of range")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        groups = group_runs(load_runs(args.run_dirs))
        if not groups:
            raise ReportError("the runs found have no data yet")
    except ReportError as err:
        print(f"sacflow-report: {err}", file=sys.stderr)
        return 2
    results = summarize(groups, args.points, args.window, args.reps)
    out = Path(args.out)
    plot_curves(results, out / PNG)
    text = report_markdown(results, load_references(), read_from=[os.path.relpath(p) for p in args.run_dirs],
                           png=PNG, window=args.window, reps=args.reps)
    (out / "report.md").write_text(text)
    print(f"sacflow-report: {len(results)} group{'s' * (len(results) != 1)} -> {out / 'report.md'}, {out / PNG}")
    return 0

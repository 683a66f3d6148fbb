"""``sacflow-plot RUN_DIR... [--out PNG]``: redraw each run's learning_curve.png from its CSVs, finished or not.

The trainer draws that plot only when a run ends cleanly; this draws the same one (title, curves and
labels from the run's ``config_resolved.yaml``) for a run still going, stopped or killed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from sacflow.plotting import learning_curve_kwargs, plot_run_learning_curve


class RunDirError(ValueError):
    """A directory that holds no run to plot (yet); the message is one line."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sacflow-plot", description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (each holds config_resolved.yaml)")
    parser.add_argument("--out", type=Path, metavar="PNG", help="where to write the PNG (one RUN_DIR only; default RUN_DIR/learning_curve.png)")
    args = parser.parse_args(argv)
    if args.out is not None and len(args.run_dirs) > 1:
        parser.error("--out takes a single RUN_DIR")
    return args


def redraw(run_dir: Path, path_png: Path | None = None) -> Path:
    if not run_dir.is_dir():
        raise RunDirError("no such directory")
    config_path = run_dir / "config_resolved.yaml"
    if not config_path.exists():
        raise RunDirError("no config_resolved.yaml: not a run directory, or its run has not started")
    config = yaml.safe_load(config_path.read_text())
    csvs = sorted({file for file, *_ in learning_curve_kwargs(config)["curves"]})
    if not any((run_dir / csv).exists() for csv in csvs):
        raise RunDirError(f"no {' or '.join(csvs)} yet")
    return plot_run_learning_curve(run_dir, config, path_png)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    status = 0
    for run_dir in map(Path, args.run_dirs):  # one bad directory does not stop the others
        try:
            print(f"sacflow-plot: {redraw(run_dir, args.out)}")
        except RunDirError as err:
            print(f"sacflow-plot: {run_dir}: {err}", file=sys.stderr)
            status = 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())

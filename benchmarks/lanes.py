"""Run benchmark presets as separate single-threaded processes, a few at a time ("lanes").

Each run is ``launch.py experiment=<preset> seed=<seed> out_dir=<dir> <overrides>`` with one
BLAS thread, so N lanes use N cores without oversubscription. A run whose learning curve
exists is finished and skipped; a killed one resumes from its checkpoint when re-run. The
wall time of each run is written to ``wall_minutes.txt`` in its directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def train(preset: str, seed: int, out: Path, overrides: list[str]) -> tuple[float, int]:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    cmd = [sys.executable, str(ROOT / "launch.py"), f"experiment={preset}", f"seed={seed}", f"out_dir={out}", *overrides]
    start = time.time()
    with open(out / "stdout.log", "a") as log:
        code = subprocess.call(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.time() - start
    (out / "wall_minutes.txt").write_text(f"{seconds / 60:.1f}\n")
    return seconds, code


def run_lanes(jobs: list[tuple[str, int, Path]], lanes: int, overrides: list[str]) -> None:
    """``jobs``: (preset, seed, run directory); unfinished ones run ``lanes`` at a time."""
    todo = [job for job in jobs if not (job[2] / "learning_curve.png").exists()]
    with ThreadPoolExecutor(max(lanes, 1)) as pool:
        futures = {pool.submit(train, preset, seed, out, overrides): (preset, seed) for preset, seed, out in todo}
        for future, (preset, seed) in futures.items():
            seconds, code = future.result()
            print(f"{preset} seed {seed}: exit {code}, {seconds / 60:.1f} min", flush=True)


def wall_minutes(run_dir: Path) -> str:
    path = run_dir / "wall_minutes.txt"
    return path.read_text().strip() if path.exists() else "?"

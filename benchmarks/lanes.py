"""Run benchmark presets as separate single-threaded processes, a few at a time ("lanes").

Each run is ``launch.py experiment=<preset> seed=<seed> out_dir=<dir> <overrides>`` with one
BLAS thread, so N lanes use N cores without oversubscription. A run whose learning curve
exists is finished and skipped; a killed one resumes from its checkpoint when re-run. The
wall time of each run is written to ``wall_minutes.txt`` in its directory and its CPU time
(the run and the evaluation workers it reaped) to ``cpu_minutes.txt``: on a machine shared with
other work, CPU time is what the run would take on a dedicated core.
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


def recorded_minutes(run_dir: Path, kind: str = "wall") -> str:
    """``kind`` 'wall' or 'cpu', as written by ``train``; '?' when not recorded."""
    path = run_dir / f"{kind}_minutes.txt"
    return path.read_text().strip() if path.exists() else "?"

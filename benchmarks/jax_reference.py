"""Per-env-step time of our training loop against the official JAX SAC Flow scripts (A/B subprocesses).

The official code (``Elessar123/SAC-FLOW``, ``from_scratch_code/SAC_flow_gru_jax.py`` and
``SAC_flow_transformer_jax.py``) cannot share a process with PyTorch, so each round runs it and
our ``launch.py`` with the matching configuration as separate subprocesses, one after another,
rotating which goes first. Both train Humanoid-v4 with K=4, batch 512 and policy delay 3: random
actions up to ``--learning-starts``, then one update per env step. The first ``--warmup`` update
steps (jit / torch.compile) are excluded; the next ``--window`` steps are timed. Per round the
ratio ours / official is taken; the summary is the median of these paired ratios with min-max.

Official side: its ``SPS:`` lines (printed every ``--log-every`` steps after learning starts)
are time-stamped as they arrive. Our side: ``update.csv``'s ``time/sps`` per ``log_every`` block.
JAX and the official scripts are optional, never a dependency of sacflow: without them this
prints one line saying so and exits 0.

    SACFLOW_OFFICIAL_DIR=~/SAC-FLOW/from_scratch_code python benchmarks/jax_reference.py \\
        --official-pythonpath ~/jaxlibs:/dir/with/cleanrl_utils --velocity flow_g flow_t \\
        --variant eager= --variant compile=fast.compile=true --json jax_ref.json

``--variant NAME=override,override`` adds one of our configurations per round (each paired with
that round's official run); ``--ours-override`` applies to all of ours. Setup, caveats and
numbers: docs/performance.md, "Against the official JAX code".
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"flow_g": "SAC_flow_gru_jax.py", "flow_t": "SAC_flow_transformer_jax.py"}
# Our overrides that run what the official script runs (docs/deviations.md, "Matching the official ...").
MATCH_OFFICIAL = {
    "flow_g": [],
    "flow_t": ["agent.actor.noise_on=velocity", "agent.actor.logp_sigma_term=false", "velocity.norm_position=post"],
}
GOAL_RATIO = 0.8  # the fast-path issue's target: ours <= 0.8x the official time per env step
SPS_LINE = re.compile(r"^SPS:\s*(\d+)\s*$")
JAX_PROBE = "import jax, jaxlib, flax, optax, tyro; print(jax.__version__, jaxlib.__version__, flax.__version__, optax.__version__)"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--official-dir",
        type=Path,
        default=os.environ.get("SACFLOW_OFFICIAL_DIR"),
        help="folder holding the official from_scratch_code scripts (default $SACFLOW_OFFICIAL_DIR)",
    )
    p.add_argument(
        "--official-python",
        default=os.environ.get("SACFLOW_OFFICIAL_PYTHON", sys.executable),
        help="interpreter for the official scripts (default: this one)",
    )
    p.add_argument(
        "--official-pythonpath",
        default=os.environ.get("SACFLOW_OFFICIAL_PYTHONPATH", ""),
        help="PYTHONPATH for the official scripts: where jax/flax/optax/tyro and cleanrl_utils live",
    )
    p.add_argument("--velocity", nargs="+", choices=sorted(SCRIPTS), default=["flow_g", "flow_t"])
    p.add_argument(
        "--variant",
        action="append",
        default=None,
        metavar="NAME=OVERRIDES",
        help="one of our configurations, e.g. compile=fast.compile=true,fast.bf16=true (default eager=)",
    )
    p.add_argument("--ours-override", action="append", default=[], help="Hydra override for all of ours (repeatable)")
    p.add_argument("--pairs", type=int, default=3, help="rounds; each runs the official script and every variant")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads (OMP/MKL; XLA via flag or CPU affinity)")
    p.add_argument("--learning-starts", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=50, help="update steps after learning starts left out (compile)")
    p.add_argument("--window", type=int, default=150, help="update steps timed after the warm-up")
    p.add_argument("--log-every", type=int, default=30, help="block of env steps between time stamps")
    p.add_argument("--buffer-size", type=int, default=100_000, help="replay capacity for both (not the timed work)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=1200, help="seconds per subprocess before it is killed")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    a.variant = dict(parse_variant(v) for v in (a.variant or ["eager="]))
    if a.window < a.log_every or a.window % a.log_every or (a.learning_starts + a.warmup) % a.log_every:
        p.error(f"--window and --learning-starts + --warmup must be multiples of --log-every ({a.log_every})")
    if a.log_every % 3:  # any block of 3n consecutive updates then holds n actor updates (policy delay 3)
        p.error("--log-every must be a multiple of the policy delay, 3")
    return a


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, _, overrides = text.partition("=")
    if not name:
        raise SystemExit(f"jax_reference: --variant {text!r} needs a name: NAME=override,override")
    return name, [o for o in overrides.split(",") if o]


# ------------------------------------------------------------------ what runs
def official_cmd(a, velocity: str) -> list[str]:
    total = a.learning_starts + a.warmup + a.window + 1  # its loop is range(total): the last print needs +1
    return [
        a.official_python, str(a.official_dir / SCRIPTS[velocity]), "--no-track", "--no-save-model",
        "--env-id", "Humanoid-v4", "--seed", str(a.seed), "--learning-starts", str(a.learning_starts),
        "--total-timesteps", str(total), "--log-freq", str(a.log_every), "--buffer-size", str(a.buffer_size),
        "--batch-size", "512", "--policy-delay", "3", "--denoising-steps", "4",
    ]  # fmt: skip


def ours_cmd(a, velocity: str, overrides: list[str], out_dir: Path) -> list[str]:
    return [
        sys.executable, str(ROOT / "launch.py"), "env=humanoid", "env.version=v4", f"velocity={velocity}",
        "agent=sac_flow", "critic=crossq", "logger=csv", "eval.every=0", "batch_size=512", "critic.policy_delay=3",
        "agent.actor.steps=4", "num_envs=1", "utd=1", f"seed={a.seed}", f"learning_starts={a.learning_starts}",
        f"total_steps={a.learning_starts + a.warmup + a.window}", f"log_every={a.log_every}",
        f"buffer_size={a.buffer_size}", f"checkpoint_every={10 * (a.learning_starts + a.warmup + a.window)}",
        f"out_dir={out_dir}", *MATCH_OFFICIAL[velocity], *a.ours_override, *overrides,
    ]  # fmt: skip


def child_env(a, official: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads),
           "PYTHONUNBUFFERED": "1", "TQDM_DISABLE": "1"}  # fmt: skip
    if official:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (a.official_pythonpath, env.get("PYTHONPATH", "")) if p)
        env["JAX_PLATFORMS"] = "cpu"
        if a.threads == 1:  # XLA's CPU backend has no thread-count flag beyond "single-threaded"
            env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def pin_cpus(pid: int, threads: int) -> None:
    """Restrict a just-started child to ``threads`` CPUs: how XLA is held to N > 1 threads.

    Its thread pools are made later (at import), so they inherit the mask.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if threads < len(cpus):
        os.sched_setaffinity(pid, cpus[:threads])


def jax_versions(a) -> str | None:
    """The official interpreter's JAX stack versions, or None when it cannot import it."""
    try:
        out = subprocess.run([a.official_python, "-c", JAX_PROBE], env=child_env(a, True), capture_output=True,
                             text=True, timeout=300, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def skip_reason(a) -> str | None:
    if a.official_dir is None:
        return "no official scripts given (--official-dir or SACFLOW_OFFICIAL_DIR)"
    missing = [SCRIPTS[v] for v in a.velocity if not (a.official_dir / SCRIPTS[v]).is_file()]
    if missing:
        return f"official scripts not found in {a.official_dir}: {', '.join(missing)}"
    if jax_versions(a) is None:
        return f"JAX (jax, flax, optax, tyro) is not importable by {a.official_python} with PYTHONPATH={a.official_pythonpath!r}"
    return None


# ------------------------------------------------------------------ parsing (pure; tested without JAX)
def official_marks(lines: list[tuple[float, float, str]], learning_starts: int, log_every: int) -> list[tuple]:
    """(step, wall s, cpu s) per ``SPS:`` line of the official script, from (wall, cpu, text) samples.

    It prints at every ``global_step % log_freq == 0`` once updates have begun (0-based
    global_step > learning_starts), each time right after that step's update.
    """
    first = (learning_starts // log_every + 1) * log_every
    sps = [(w, c) for w, c, text in lines if SPS_LINE.match(text.strip())]
    return [(first + k * log_every, w, c) for k, (w, c) in enumerate(sps)]


def ours_rows(csv_path: Path) -> list[tuple[int, float]]:
    """(step, time/sps) per row of our update.csv; the sps covers the block since the previous row."""
    with open(csv_path, newline="") as f:
        return [(int(float(row["step"])), float(row["time/sps"])) for row in csv.DictReader(f)]


def ours_blocks(rows: list[tuple[int, float]]) -> list[tuple[int, int, float]]:
    """(first step, last step, seconds) per block between consecutive rows of update.csv."""
    return [(s0, s1, (s1 - s0) / sps) for (s0, _), (s1, sps) in itertools.pairwise(rows)]


def marks_to_blocks(marks: list[tuple]) -> list[tuple[int, int, float]]:
    """(first step, last step, seconds) between consecutive (step, wall, cpu) marks."""
    return [(s0, s1, w1 - w0) for (s0, w0, _), (s1, w1, _) in itertools.pairwise(marks)]


def window_ms(blocks: list[tuple[int, int, float]], start: int, end: int) -> tuple[float, list[float]] | None:
    """ms per env step over the steps (start, end], and per block; None unless blocks tile it exactly."""
    inside = [b for b in blocks if start <= b[0] and b[1] <= end]
    tiled = bool(inside) and inside[0][0] == start and inside[-1][1] == end
    if not tiled or any(a[1] != b[0] for a, b in itertools.pairwise(inside)):
        return None
    return sum(sec for _, _, sec in inside) * 1e3 / (end - start), [sec * 1e3 / (s1 - s0) for s0, s1, sec in inside]


def cpu_util(marks: list[tuple], start: int, end: int) -> float | None:
    """Process CPU seconds per wall second between the marks at steps ``start`` and ``end``."""
    at = {s: (w, c) for s, w, c in marks}
    if start not in at or end not in at or at[end][0] <= at[start][0]:
        return None
    return (at[end][1] - at[start][1]) / (at[end][0] - at[start][0])


# ------------------------------------------------------------------ running one subprocess
def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a live process (all its threads), from /proc; nan where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


@dataclass
class Run:
    side: str  # "official" or our variant name
    ms_per_step: float | None = None
    block_ms: list[float] = field(default_factory=list)
    cpu_util: float | None = None  # process CPU s per wall s over the window
    load_before: float = 0.0
    load_after: float = 0.0
    wall_s: float = 0.0
    rc: int | None = None
    contended: bool = False
    error: str | None = None


def run_one(a, side: str, cmd: list[str], env: dict, workdir: Path, csv_path: Path | None) -> Run:
    """Run one subprocess to completion, sampling (step, wall, cpu) marks as it goes."""
    run = Run(side, load_before=os.getloadavg()[0])
    log = workdir / f"{side}.log"
    start, lines, marks = time.perf_counter(), queue.Queue(), []
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pin_cpus(proc.pid, a.threads)

    def read():  # time-stamp each line as it arrives (the official side's clock)
        with open(log, "w") as f:
            for text in proc.stdout:
                lines.put((time.perf_counter(), proc_cpu_seconds(proc.pid), text))
                f.write(text)
                f.flush()  # readable while it runs

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen, stamped = 0, []
    while proc.poll() is None and time.perf_counter() - start < a.timeout:
        time.sleep(0.1)
        if csv_path is not None and csv_path.exists():  # our side: note CPU time as each CSV row lands
            rows = max(len(csv_path.read_text().splitlines()) - 1, 0)
            if rows > seen:
                marks += [(None, time.perf_counter(), proc_cpu_seconds(proc.pid))] * (rows - seen)
                seen = rows
    if proc.poll() is None:
        proc.kill()
        run.error = f"killed after --timeout {a.timeout:.0f} s"
    run.rc = proc.wait()
    reader.join(timeout=10)
    while not lines.empty():
        stamped.append(lines.get())
    run.wall_s, run.load_after = time.perf_counter() - start, os.getloadavg()[0]
    first, last = a.learning_starts + a.warmup, a.learning_starts + a.warmup + a.window
    if csv_path is None:
        marks = official_marks(stamped, a.learning_starts, a.log_every)
        blocks = marks_to_blocks(marks)
    else:  # one polled (wall, cpu) sample per CSV row, in order
        rows = ours_rows(csv_path) if csv_path.exists() else []
        blocks = ours_blocks(rows)
        marks = [(step, w, c) for (step, _), (_, w, c) in zip(rows, marks)]
    measured = window_ms(blocks, first, last)
    if measured is None:
        tail = "".join(t for _, _, t in stamped[-5:]).strip().replace("\n", " | ")
        run.error = run.error or f"exit {run.rc}; no timed window in its output (last lines: {tail[-300:]})"
    else:
        run.ms_per_step, run.block_ms = measured
        run.cpu_util = cpu_util(marks, first, last)
    # Someone else holds our cores if we got less CPU than our threads could use, or if more tasks
    # were runnable than we have threads (as benchmarks/throughput.py).
    run.contended = (run.cpu_util is not None and run.cpu_util < 0.8 * a.threads) or max(
        run.load_before, run.load_after) > a.threads + 0.5  # fmt: skip
    print(f"  {side:>10}: {fmt(run.ms_per_step)} ms/step, CPU/wall {fmt(run.cpu_util, 2)}, "
          f"load {run.load_before:.1f}->{run.load_after:.1f}, {run.wall_s:.0f} s{'  ' + run.error if run.error else ''}",
          flush=True)  # fmt: skip
    return run


def fmt(x, digits=1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


# ------------------------------------------------------------------ rounds and report
def measure(a, velocity: str) -> dict:
    sides = ["official", *a.variant]
    rounds = []
    for r in range(a.pairs):
        shift = r % len(sides)  # rotate: neither side always runs first
        print(f"[{velocity}] round {r + 1}/{a.pairs}: {' -> '.join(sides[shift:] + sides[:shift])}", flush=True)
        runs = {}
        with tempfile.TemporaryDirectory(prefix="jax_ref_") as tmp:
            for side in sides[shift:] + sides[:shift]:
                work = Path(tmp) / side
                work.mkdir()
                if side == "official":
                    runs[side] = run_one(a, side, official_cmd(a, velocity), child_env(a, True), work, None)
                else:
                    cmd = ours_cmd(a, velocity, a.variant[side], work / "run")
                    runs[side] = run_one(a, side, cmd, child_env(a, False), work, work / "run" / "update.csv")
        rounds.append({"runs": {k: asdict(v) for k, v in runs.items()}})
    return {"velocity": velocity, "rounds": rounds, "summary": summarize(rounds, list(a.variant))}


def cpu_ms(run: dict) -> float | None:
    """Process CPU ms per env step: about what the step costs on a core of its own when others compete."""
    return run["ms_per_step"] * run["cpu_util"] if run["ms_per_step"] and run["cpu_util"] else None


def paired_ratios(rounds: list[dict], variant: str, metric) -> list[float]:
    pairs = [(metric(r["runs"][variant]), metric(r["runs"]["official"])) for r in rounds]
    return [ours / ref for ours, ref in pairs if ours and ref]


def summarize(rounds: list[dict], variants: list[str]) -> dict:
    """Median (min-max) of the paired ratios ours / official, by wall time and by process CPU time."""
    summary = {}
    for v in variants:
        wall = paired_ratios(rounds, v, lambda run: run["ms_per_step"])
        cpu = paired_ratios(rounds, v, cpu_ms)
        contended = sum(r["runs"][v]["contended"] or r["runs"]["official"]["contended"] for r in rounds)
        summary[v] = None if not wall else {
            "median": statistics.median(wall), "min": min(wall), "max": max(wall), "pairs": len(wall), "ratios": wall,
            "cpu_median": statistics.median(cpu) if cpu else None, "cpu_ratios": cpu,
            "meets_goal": statistics.median(wall) <= GOAL_RATIO, "contended_pairs": contended,
            "inconclusive": contended > len(rounds) / 2,
        }  # fmt: skip
    return summary


def format_report(res: dict) -> str:
    s, m = res["settings"], res["machine"]
    lines = [
        f"# ours vs official JAX SAC Flow, Humanoid-v4, K=4, batch 512, policy delay 3; {s['threads']} threads",
        f"# torch {m['torch']}, JAX stack (jax jaxlib flax optax) {m['jax_stack']}, python {m['python']}, CPU {m['cpu']}",
        f"# learning starts {s['learning_starts']}, warm-up {s['warmup']} + timed window {s['window']} update steps,"
        + f" blocks of {s['log_every']}; ours: {s['variants']}",
        "",
        "| velocity | round | side | ms/env step | ratio ours/official | CPU s/wall s | CPU ms/env step | load 1-min | flags |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for v in res["results"]:
        for i, r in enumerate(v["rounds"], 1):
            for side, run in r["runs"].items():
                ref = r["runs"]["official"]["ms_per_step"]
                ratio = (
                    "-" if side == "official" or not (ref and run["ms_per_step"]) else fmt(run["ms_per_step"] / ref, 2)
                )
                flags = " ".join(f for f in ("contended" * run["contended"], run["error"] or "") if f)
                lines.append(
                    f"| {v['velocity']} | {i} | {side} | {fmt(run['ms_per_step'])} | {ratio} | "
                    f"{fmt(run['cpu_util'], 2)} | {fmt(cpu_ms(run))} | {run['load_before']:.1f}-{run['load_after']:.1f} |"
                    f" {flags} |"
                )
    lines += [
        "",
        "| velocity | ours | median ratio (min-max) | CPU-time ratio, median | pairs | goal <= 0.8 | contended pairs |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in res["results"]:
        for name, sm in v["summary"].items():
            if sm is None:
                lines.append(f"| {v['velocity']} | {name} | no complete pair | - | 0 | - | - |")
                continue
            verdict = ("met" if sm["meets_goal"] else "not met") + (" (inconclusive: contended)" * sm["inconclusive"])
            lines.append(
                f"| {v['velocity']} | {name} | {sm['median']:.2f} ({sm['min']:.2f}-{sm['max']:.2f}) | "
                f"{fmt(sm['cpu_median'], 2)} | {sm['pairs']} | {verdict} | {sm['contended_pairs']}/{len(v['rounds'])} |"
            )
    return "\n".join(lines)


def machine_info(a, jax_stack: str) -> dict:
    import torch

    try:
        text = Path("/proc/cpuinfo").read_text()
        cpu = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "?"
    return {"python": platform.python_version(), "torch": torch.__version__, "jax_stack": jax_stack, "cpu": cpu,
            "cpu_count": os.cpu_count()}  # fmt: skip


def main(argv=None) -> dict:
    a = parse_args(argv)
    reason = skip_reason(a)
    if reason:
        print(f"jax_reference: skipped: {reason}")
        return {"skipped": reason}
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    res = {"machine": machine_info(a, jax_versions(a)), "settings": {**settings, "variants": a.variant},
           "results": [measure(a, v) for v in a.velocity]}  # fmt: skip
    res["table"] = format_report(res)
    print(res["table"])
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()

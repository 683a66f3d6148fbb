"""N seeds in one process (``seeds=[...]``): what it costs and whether it learns the same.

``speed``: CPU time per env step of the from-scratch trainer with 1 seed (a plain single-seed
run) and N = 1, 2, 5, 10 seeds in one vectorised process, at the Hopper bench sizes
(``bench/hopper_flow_g``, ``bench/hopper_flow_t``) and at the paper's sizes (``method=sac_flow_g``
and ``sac_flow_t`` on Hopper: 2x1024 critics, batch 512). Each configuration runs twice after the
same warm-up, ``--steps`` and 3x``--steps`` env steps with one update each; the difference of the
two processes' CPU times over the 2x``--steps`` extra steps is the per-step cost, without start-up.
``--device cuda`` runs the same on a GPU (wall time per step, which is what a GPU costs).

``learning``: 3 seeds of ``bench/hopper_flow_g`` run one by one and the same seeds run
vectorised in one process; the report tool's IQM curves and 95% CIs of both groups on one grid.

    python benchmarks/vectorised_seeds.py speed [--sizes "bench Flow-G" ...] [--steps 400] [--summarize-only]
    python benchmarks/vectorised_seeds.py learning --lanes 2
    python benchmarks/vectorised_seeds.py learning --summarize-only
"""

from __future__ import annotations

import json
import os
import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from lanes import ROOT, archive, bench_parser, launch, logs_of, run_lanes, write_report

from sacflow.report.aggregate import summarize
from sacflow.report.runs import load_run

SIZES = {  # label -> Hydra overrides; the bench presets carry their own env and sizes
    "bench Flow-G": ["experiment=bench/hopper_flow_g"],
    "bench Flow-T": ["experiment=bench/hopper_flow_t"],
    "paper Flow-G": ["method=sac_flow_g", "env=hopper"],
    "paper Flow-T": ["method=sac_flow_t", "env=hopper"],
}
PACKS = (1, 2, 5, 10)
WARMUP = 512
SPEED_ONLY = ["logger=csv", "eval.every=0", "checkpoint_every=1000000", "log_every=1000000",
              "agent.grad_diagnostic_every=0", "buffer_size=10000", f"learning_starts={WARMUP}"]
LEARNING_PRESET = "bench/hopper_flow_g"


def step_cost(size: list[str], seeds: int | None, steps: int, device: str, out, overrides: list[str]) -> dict:
    """Per env step (of every seed together): CPU and wall seconds, from two run lengths."""
    seed_args = ["seed=0"] if seeds is None else [f"seeds=[{','.join(map(str, range(seeds)))}]"]
    measured = []
    for length in (steps, 3 * steps):
        run_out = out / f"{length}"
        args = [*size, *SPEED_ONLY, *seed_args, f"device={device}", f"total_steps={WARMUP + length}",
                f"out_dir={run_out}/seed${{seed}}", *overrides]
        wall, cpu, code = launch(args, run_out)
        if code != 0:
            sys.exit(f"run failed ({code}): see {run_out}/stdout.log")
        measured.append((cpu, wall))
    extra = 2 * steps
    return {"cpu_ms": 1e3 * (measured[1][0] - measured[0][0]) / extra,
            "wall_ms": 1e3 * (measured[1][1] - measured[0][1]) / extra}


def speed(args) -> None:
    # Sizes measured earlier (another --sizes subset, another process) stay in the report.
    saved, measured, rows = args.docs / f"{args.name}.json", {}, []
    for label, size in SIZES.items():
        if args.summarize_only or (args.sizes and label not in args.sizes):
            continue
        steps = args.steps if label.startswith("bench") else max(args.steps // 5, 10)
        where = args.out / "speed" / args.name / label.replace(" ", "_")
        base = step_cost(size, None, steps, args.device, where / "single", args.overrides)
        measured[label] = {"single": base, "steps": steps}  # json keys: "single" and the seed counts as strings
        print(f"{label}: 1 seed, plain run: {base}", flush=True)
        for n in PACKS:
            cost = step_cost(size, n, steps, args.device, where / f"pack{n}", args.overrides)
            measured[label][str(n)] = cost
            print(f"{label}: {n} seeds vectorised: {cost}", flush=True)
    results = {**(json.loads(saved.read_text()) if saved.exists() else {}), **measured}  # read now: a parallel
    saved.write_text(json.dumps(results, indent=1))                                      # --sizes run may have written
    key = "cpu_ms" if args.device == "cpu" else "wall_ms"
    for label in (label for label in SIZES if label in results):
        res = results[label]
        one = res["single"][key]
        cells = [f"{res[str(n)][key]:.1f} ({res[str(n)][key] / one:.2f}x, {n * one / res[str(n)][key]:.2f}x seed-steps/s)"
                 for n in PACKS]
        rows.append(f"| {label} | {res['steps']} | {one:.1f} | " + " | ".join(cells) + " |")
    header = ("| sizes | --steps | 1 seed, plain (ms/step) | " + " | ".join(f"N={n}" for n in PACKS) + " |\n"
              "|---|---|---|" + "---|" * len(PACKS))
    unit = "CPU" if args.device == "cpu" else "GPU wall"
    command = " ".join(["python benchmarks/vectorised_seeds.py speed", f"--device {args.device}", f"--name {args.name}",
                        "--sizes <sizes> --steps <steps>", *args.overrides])
    text = (f"# Vectorised seeds: cost per env step ({args.device})\n\nGenerated by `{command}` "
            f"({time.strftime('%Y-%m-%d')}); runs and logs under `{os.path.relpath(args.out / 'speed' / args.name, ROOT)}`.\n"
            f"{unit} milliseconds per env step of all N seeds together (one update per step each); in brackets the "
            "ratio to one plain single-seed run and the seed-steps per second relative to it.\n\n"
            f"{header}\n" + "\n".join(rows) + "\n")
    (args.docs / f"{args.name}.md").write_text(text)
    print(text)


def learning_dirs(args):
    return {"one by one": [args.out / "one_by_one" / f"seed{s}" for s in args.seeds],
            "vectorised": [args.out / "vectorised" / f"seed{s}" for s in args.seeds]}


def learning(args) -> None:
    dirs = learning_dirs(args)
    if not args.summarize_only:
        # The seeds not finished yet, in one process (seeds added later make a second pack).
        todo = [s for s, d in zip(args.seeds, dirs["vectorised"]) if not (d / "learning_curve.png").exists()]
        if todo:
            packed = [f"experiment={LEARNING_PRESET}", f"seeds=[{','.join(map(str, todo))}]",
                      "agent.grad_diagnostic_every=0", f"out_dir={args.out / 'vectorised'}/seed${{seed}}", *args.overrides]
            wall, cpu, code = launch(packed, args.out / "vectorised" / f"pack{'_'.join(map(str, todo))}")
            print(f"vectorised {todo}: exit {code}, {wall / 60:.1f} min, {cpu / 60:.1f} CPU-min", flush=True)
        # One by one: the preset as it is (its gradient diagnostic reads the same loss; training is unchanged).
        run_lanes([(LEARNING_PRESET, s, d) for s, d in zip(args.seeds, dirs["one by one"])], args.lanes,
                  args.overrides)
        for run_dir in [*dirs["one by one"], *dirs["vectorised"], *(args.out / "vectorised").glob("pack*")]:
            archive(run_dir)
    dirs = {name: [logs_of(d) for d in run_dirs] for name, run_dirs in dirs.items()}
    groups = {("Hopper-v4", name): [load_run(d) for d in run_dirs] for name, run_dirs in dirs.items()}
    results = summarize(groups, points=20, window=0.1, reps=10_000)
    fig, ax = plt.subplots(figsize=(6, 3.8))
    lines = ["| env steps | " + " | ".join(f"{r.method}: mean [95% CI]" for r in results) + " | CIs overlap |",
             "|---|---|---|---|"]
    a, b = (r.curve for r in results)
    for i, step in enumerate(a.steps):
        overlap = a.low[i] <= b.high[i] and b.low[i] <= a.high[i]
        lines.append(f"| {step:.0f} | {a.mean[i]:.0f} [{a.low[i]:.0f}, {a.high[i]:.0f}] | "
                     f"{b.mean[i]:.0f} [{b.low[i]:.0f}, {b.high[i]:.0f}] | {'yes' if overlap else 'NO'} |")
    for r in results:
        ax.plot(r.curve.steps, r.curve.mean, label=f"{r.method} (seeds {r.seeds})")
        ax.fill_between(r.curve.steps, r.curve.low, r.curve.high, alpha=0.25)
    ax.set_xlabel("env steps")
    ax.set_ylabel("training episode return")
    ax.set_title(f"{LEARNING_PRESET}: one by one vs vectorised")
    ax.legend(fontsize=7)
    cpu = {name: [(d / "cpu_minutes.txt").read_text().strip() if (d / "cpu_minutes.txt").exists() else "?"
                  for d in run_dirs] for name, run_dirs in dirs.items()}
    packs = sorted(logs_of(args.out / "vectorised").glob("pack*/cpu_minutes.txt"))
    packed_cpu = ", ".join(f"{p.read_text().strip()} (seeds {p.parent.name[4:].replace('_', ', ')})" for p in packs)
    intro = (f"Generated by `python benchmarks/vectorised_seeds.py learning` (seeds {args.seeds}, preset "
             f"`{LEARNING_PRESET}`; the vectorised run turns the gradient diagnostic off, which only logs). Mean training return on a common grid "
             f"(the report tool's binning) with stratified-bootstrap 95% CIs over seeds.\n\nCPU minutes: one by one "
             f"{', '.join(cpu['one by one'])} (each run); vectorised {packed_cpu or '?'} (each process).")
    print(write_report(fig, args.docs, "vectorised_seeds_learning", "Vectorised seeds: the same learning",
                       intro, lines))


def main() -> None:
    parser = bench_parser(__doc__, ROOT / "runs" / "bench" / "seeds", seeds=(0, 1, 2), lanes=2)
    parser.add_argument("part", choices=("speed", "learning"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=400,
                        help="speed: env steps of the shorter run (a fifth of it at the paper's sizes)")
    parser.add_argument("--sizes", nargs="*", choices=list(SIZES), help="speed: a subset of the sizes")
    parser.add_argument("--name", default="vectorised_seeds_speed_cpu", help="speed: the report's file name")
    args = parser.parse_intermixed_args()
    (speed if args.part == "speed" else learning)(args)


if __name__ == "__main__":
    main()

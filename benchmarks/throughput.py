"""Throughput of SAC Flow agents on the CPU, next to yardsticks measured in the same process.

Rows: velocity (flow_t, flow_g, mlp) x critic style (crossq, sac) x K x fast-path variant
(eager, compile, bf16, compile+bf16: the ``fast:`` config block), plus, per variant,
  Y1 = CleanRL-style SAC (agent=sac_gaussian critic=sac batch_size=256),
  Y2 = Gaussian actor with the same CrossQ critics (agent=sac_gaussian critic=crossq),
  and an SGEMM probe (1024^3 fp32 matmul) as a machine yardstick.
Agents are built through the Hydra configs, so the numbers are those of what users run.
Absolute ms depend on the machine and on what else runs on it; the ratios to Y1/Y2
(taken within each round) travel better. See docs/performance.md.

    python benchmarks/throughput.py                       # paper sizes, Humanoid dims
    python benchmarks/throughput.py --quick --configs flow_g-crossq --env-dims hopper
    python benchmarks/throughput.py --variants eager compile --configs flow_g-crossq flow_t-crossq
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
ENV_DIMS = {"humanoid": (376, 17, 0.4), "hopper": (11, 3, 1.0)}  # obs, act, action bound
VELOCITIES, CRITICS = ("flow_t", "flow_g", "mlp"), ("crossq", "sac")
YARDSTICKS = {  # name: (overrides, table label)
    "Y1": (["agent=sac_gaussian", "critic=sac", "batch_size=256"], "Y1 gaussian-sac B256"),
    "Y2": (["agent=sac_gaussian", "critic=crossq"], "Y2 gaussian-crossq"),
}
VARIANTS = {  # name: overrides of the fast-path switches
    "eager": [],
    "compile": ["fast.compile=true"],
    "bf16": ["fast.bf16=true"],
    "compile+bf16": ["fast.compile=true", "fast.bf16=true"],
    "detach": ["critic.detach_next_half=true"],  # changes the critic gradient: docs/deviations.md #21
    "compile+detach": ["fast.compile=true", "critic.detach_next_half=true"],
}
CROSSQ_ONLY = ("critic.detach_next_half",)  # left out of the polyak-critic rows (Y1, *-sac)
COLUMNS = (
    "config | variant | K | ms/update | actor ms | ratio to Y2 | ratio to Y1 | vs eager | action latency ms | ms/env step"
    " | GFLOP/update | GFLOP/s | warm-up s"
)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=None, help="default 5 (2 with --quick)")
    p.add_argument("--updates", type=int, default=None, help="timed updates per config and round; default 6, 3 quick")
    p.add_argument("--k", type=int, nargs="+", default=[4], help="flow steps K to measure")
    p.add_argument("--configs", nargs="+", default=None, help="flow rows, e.g. flow_g-crossq (Y1, Y2 always run)")
    p.add_argument("--variants", nargs="+", default=["eager"], choices=sorted(VARIANTS),
                   help="fast-path variants; each gets its own rows and yardsticks (compile time in warm-up s)")
    p.add_argument("--env-dims", choices=sorted(ENV_DIMS), default="humanoid")
    p.add_argument("--override", action="append", default=[], help="Hydra override applied to every row (repeatable)")
    p.add_argument("--latency-calls", type=int, default=None, help="B=1 act() calls (<= ~3 s); default 200, 50 quick")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="write the result dict here")
    p.add_argument("--quick", action="store_true", help="smoke mode: 2 rounds of 3 updates")
    a = p.parse_args(argv)
    unknown = set(a.configs or ()) - {f"{v}-{c}" for v, c in itertools.product(VELOCITIES, CRITICS)}
    if unknown:  # a typo would otherwise silently measure nothing
        p.error(f"unknown --configs {sorted(unknown)}")
    compiled = any("compile" in v for v in a.variants)
    velocities = {c.split("-")[0] for c in a.configs} if a.configs else set(VELOCITIES)
    if compiled and len(velocities) > 1:
        # torch 2.13: after one velocity network's compiled update, another's fails in its AOT
        # backward (a saved BatchRenorm buffer "modified by an inplace operation"); one agent per
        # process, as in training, is fine. Measure compiled variants one velocity per process.
        p.error("compiled variants: give --configs of one velocity network per process")
    a.rounds = a.rounds or (2 if a.quick else 5)
    a.updates = a.updates or (3 if a.quick else 6)
    a.latency_calls = a.latency_calls or (50 if a.quick else 200)
    return a


@dataclass
class Row:
    name: str  # e.g. flow_g-crossq, Y1
    variant: str  # eager, compile, bf16, compile+bf16
    k: int | None  # None for the Gaussian actors
    agent: torch.nn.Module
    batches: Iterator[dict]  # a cycle over a few seeded batches
    obs1: torch.Tensor  # the B=1 observation for act()
    policy_delay: int
    ms: list[float] = field(default_factory=list)  # ms/update, one per round
    actor_ms: list[float] = field(default_factory=list)  # ms per actor update, one per round
    flops_per_update: float = 0.0
    latency_ms: float = 0.0
    latency_calls: int = 0
    warm_up_s: float = 0.0  # includes compilation for the compiled variants


def synthetic_batches(batch_size, obs_dim, act_dim, bound, seed, n=4) -> list[dict]:
    # A few distinct seeded batches, cycled: deterministic inputs, yet not one batch over and over.
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=g)
    return [
        {
            "obs": torch.randn(batch_size, obs_dim, generator=g),
            "action": (rand(batch_size, act_dim) * 2 - 1) * bound,
            "reward": torch.randn(batch_size, generator=g),
            "next_obs": torch.randn(batch_size, obs_dim, generator=g),
            "terminated": (rand(batch_size) < 0.05).float(),
        }
        for _ in range(n)
    ]


def build_row(name, variant, k, overrides, dims, seed) -> Row:
    from hydra import compose, initialize_config_dir

    from sacflow.agents.sac import SACAgent

    with initialize_config_dir(config_dir=str(ROOT / "cfg"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    obs_dim, act_dim, bound = dims
    torch.manual_seed(seed)
    agent = SACAgent.build(cfg, obs_dim, act_dim, [-bound] * act_dim, [bound] * act_dim)
    batches = itertools.cycle(synthetic_batches(cfg.batch_size, obs_dim, act_dim, bound, seed))
    obs1 = torch.randn(1, obs_dim, generator=torch.Generator().manual_seed(seed + 1))
    return Row(name, variant, k, agent, batches, obs1, int(cfg.critic.policy_delay))


def build_rows(args) -> list[Row]:
    dims, rows = ENV_DIMS[args.env_dims], []
    for variant in args.variants:
        fast = VARIANTS[variant] + args.override
        polyak = [o for o in fast if not o.startswith(CROSSQ_ONLY)]
        for name, (overrides, _) in YARDSTICKS.items():
            rows.append(build_row(name, variant, None, overrides + (polyak if "critic=sac" in overrides else fast),
                                  dims, args.seed))
        for vel, critic, k in itertools.product(VELOCITIES, CRITICS, args.k):
            if not args.configs or f"{vel}-{critic}" in args.configs:
                extra = polyak if critic == "sac" else fast
                overrides = [f"velocity={vel}", f"critic={critic}", f"agent.actor.steps={k}", *extra]
                rows.append(build_row(f"{vel}-{critic}", variant, k, overrides, dims, args.seed))
    return rows


def warm_up(row: Row) -> None:
    # Two full cycles run the actor branch twice (allocator, Adam state, lazy init, compilation)
    # and end on a cycle boundary, so a timed block of n * policy_delay updates has n actor branches.
    start = time.perf_counter()
    for _ in range(2 * row.policy_delay):
        row.agent.update(next(row.batches))
    for _ in range(5):
        row.agent.act(row.obs1)
    row.warm_up_s = time.perf_counter() - start


def count_flops(row: Row) -> float:
    """Matmul/attention FLOPs (FlopCounterMode ignores elementwise ops) of one full cycle, per update."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        for _ in range(row.policy_delay):
            row.agent.update(next(row.batches))
    return counter.get_total_flops() / row.policy_delay


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_updates(row: Row, n: int) -> float:
    # CPU ops are synchronous: wall time around the loop is the update time, no sync needed.
    return _timed(lambda: [row.agent.update(next(row.batches)) for _ in range(n)]) * 1e3 / n


def time_actor_updates(row: Row, n: int) -> float:
    """The actor + alpha step alone (what grows with K); extra steps on the benchmark's own agent."""
    return _timed(lambda: [row.agent.actor_update(next(row.batches)) for _ in range(n)]) * 1e3 / n


def sgemm_gflops(reps: int = 3) -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    best = min(_timed(lambda: a @ b) for _ in range(reps + 1))  # best of a few (the first warms up)
    return 2 * 1024**3 / best / 1e9


def action_latency_ms(row: Row, calls: int, budget_s: float = 3.0) -> float:
    # Capped in time too: a slow sampler on a busy machine must not dominate the run.
    times, stop = [], time.perf_counter() + budget_s
    while len(times) < calls and (len(times) < 20 or time.perf_counter() < stop):
        times.append(_timed(lambda: row.agent.act(row.obs1, deterministic=False)))
    row.latency_calls = len(times)
    return statistics.median(times) * 1e3


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def machine_info(threads: int) -> dict:
    import hydra
    import numpy

    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "?"
    return {
        "python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__,
        "hydra": hydra.__version__, "cpu": cpu, "cpu_count": os.cpu_count(), "threads": threads,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = build_rows(args)  # all built first: every round then times the same live objects
    for row in rows:
        warm_up(row)
        row.flops_per_update = count_flops(row)  # also one more aligned cycle of warm-up
    rounds, sgemm = [], []
    for r in range(args.rounds):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        shift = r % len(rows)  # rotate the starting row: no config always runs first or last
        for row in rows[shift:] + rows[:shift]:
            row.ms.append(time_updates(row, args.updates))
            row.actor_ms.append(time_actor_updates(row, max(1, args.updates // row.policy_delay)))
        sgemm.append(sgemm_gflops())
        wall, cpu, load = time.perf_counter() - wall0, time.process_time() - cpu0, os.getloadavg()[0]
        # Someone else holds our cores if we got less CPU than our threads could use, or if more
        # tasks were runnable than we have threads (the 1-min load also remembers earlier contention).
        contended = cpu < 0.8 * args.threads * wall or load > args.threads + 0.5
        rounds.append({"wall_s": wall, "cpu_util": cpu / wall, "loadavg_1m": load, "contended": contended})
    for row in rows:
        row.latency_ms = action_latency_ms(row, args.latency_calls)

    yard = {(r.name, r.variant): r.ms for r in rows if r.k is None}  # yardsticks of the same variant
    eager = {(r.name, r.k): r.ms for r in rows if r.variant == "eager"}
    ratios = lambda ms, ref: spread([a / b for a, b in zip(ms, ref)]) if ref else None
    entries = []
    for row in rows:
        ms = statistics.median(row.ms)
        entries.append({
            "config": row.name, "variant": row.variant, "k": row.k, "policy_delay": row.policy_delay,
            "ms_per_update": spread(row.ms), "ms_per_actor_update": spread(row.actor_ms),
            **{f"ratio_to_{y}": ratios(row.ms, yard[(y, row.variant)]) for y in ("Y2", "Y1")},
            "ratio_to_eager": ratios(row.ms, eager.get((row.name, row.k))),
            "action_latency_ms": row.latency_ms, "latency_calls": row.latency_calls,
            "ms_per_env_step": ms + row.latency_ms,  # one update per env step, plus choosing the action
            "gflop_per_update": row.flops_per_update / 1e9, "gflops": row.flops_per_update / 1e9 / (ms / 1e3),
            "warm_up_s": row.warm_up_s,
        })  # fmt: skip
    n_contended = sum(r["contended"] for r in rounds)
    result = {
        "machine": machine_info(args.threads),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "env_dims": dict(zip(("obs", "act", "bound"), ENV_DIMS[args.env_dims])),
        "rows": entries, "sgemm_gflops": spread(sgemm), "rounds": rounds,
        "contended_rounds": n_contended, "inconclusive": n_contended > args.rounds / 2,
        "ragged_rows": sorted({r.name for r in rows if args.updates % r.policy_delay}),
    }  # fmt: skip
    result["table"] = format_table(result)
    print(result["table"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return result


def format_table(res: dict) -> str:
    m, s, g = res["machine"], res["settings"], res["sgemm_gflops"]
    lines = [
        f"# sacflow throughput: torch {m['torch']}, numpy {m['numpy']}, hydra {m['hydra']}, python {m['python']}",
        f"# CPU: {m['cpu']} ({m['cpu_count']} logical), torch threads {m['threads']}; env dims {res['env_dims']}",
        f"# {s['rounds']} rounds x {s['updates']} updates per config; overrides {s['override'] or 'none'}",
        f"# SGEMM 1024^3 fp32: {g['median']:.0f} GFLOP/s (min {g['min']:.0f}, max {g['max']:.0f})",
        "# rounds (process CPU s per wall s, 1-min load): "
        + "; ".join(f"{r['cpu_util']:.2f} {r['loadavg_1m']:.2f}{' CONTENDED' * r['contended']}" for r in res["rounds"]),
    ]
    if res["inconclusive"]:
        lines.append(
            f"WARNING: inconclusive: {res['contended_rounds']}/{s['rounds']} rounds contended (other processes "
            "competed for the CPU); all numbers, ratios included, are indicative only"
        )
    if res["ragged_rows"]:
        lines.append(
            f"NOTE: --updates {s['updates']} is not a multiple of policy_delay for {', '.join(res['ragged_rows'])}: "
            "their rounds hold unequal numbers of actor updates (use a multiple of 6)"
        )
    lines += ["", f"| {COLUMNS} |", "|---" * (COLUMNS.count("|") + 1) + "|"]
    ratio = lambda d: "-" if d is None else f"{d['median']:.2f} ({d['min']:.2f}-{d['max']:.2f})"
    for e in res["rows"]:
        cells = [
            YARDSTICKS[e["config"]][1] if e["k"] is None else e["config"], e["variant"], e["k"] or "-",
            f"{e['ms_per_update']['median']:.1f}", f"{e['ms_per_actor_update']['median']:.1f}", ratio(e["ratio_to_Y2"]), ratio(e["ratio_to_Y1"]),
            ratio(e["ratio_to_eager"]), f"{e['action_latency_ms']:.2f}", f"{e['ms_per_env_step']:.1f}",
            f"{e['gflop_per_update']:.2f}", f"{e['gflops']:.1f}", f"{e['warm_up_s']:.1f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

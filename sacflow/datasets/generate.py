"""Generate offline datasets locally (no network).

    python -m sacflow.datasets.generate ogbench --env cube-double --episodes 1000 --out ~/.ogbench/data --seed 0 --workers 2
    python -m sacflow.datasets.generate robomimic --task lift --episodes 300 --out data/lift/low_dim.hdf5 --seed 0

ogbench: play data from ogbench's own scripted oracle, in the official npz format (see
sacflow/datasets/ogbench_play.py); resumable shards, one process per worker.
robomimic: scripted demos in robomimic's HDF5 layout (see sacflow/datasets/robomimic_demos.py).
Both print the generation cost in simulated steps per second per core.
"""

from __future__ import annotations

import os

# The simulators do many tiny linear solves; threaded BLAS only makes processes fight over
# cores. Set before numpy is imported (spawned workers inherit the environment).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import json
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sacflow.datasets.generate", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="suite", required=True)

    og = sub.add_parser("ogbench", help="OGBench cube play data (official npz format)")
    og.add_argument("--env", required=True, choices=["cube-single", "cube-double", "cube-triple", "cube-quadruple"])
    og.add_argument("--episodes", type=int, required=True, help="training episodes (official: 1000 / 3000 / 5000)")
    og.add_argument("--out", required=True, help="directory for <env>-play-v0.npz and -val.npz")
    og.add_argument("--seed", type=int, default=0)
    og.add_argument("--workers", type=int, default=1, help="parallel processes (one core each)")
    og.add_argument("--episode-length", type=int, default=1001,
                    help="steps per episode (official 1001 -> 1000 transitions after loading)")
    og.add_argument("--val-episodes", type=int, default=None, help="default: max(1, episodes // 10)")
    og.add_argument("--shard-size", type=int, default=25, help="episodes per resumable shard file")
    og.add_argument("--keep-shards", action="store_true", help="keep the shard files after merging")

    rm = sub.add_parser("robomimic", help="scripted Lift / PickPlaceCan demos (robomimic HDF5 layout)")
    rm.add_argument("--task", required=True, choices=["lift", "can"])
    rm.add_argument("--episodes", type=int, required=True, help="successful demos to keep (MH: 300)")
    rm.add_argument("--out", required=True, help="output .hdf5 file")
    rm.add_argument("--seed", type=int, default=0)
    rm.add_argument("--max-steps", type=int, default=None, help="steps per attempt (default: the task horizon)")
    rm.add_argument("--max-attempts", type=int, default=None, help="default: 3 * episodes + 10")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.suite == "ogbench":
            from sacflow.datasets.ogbench_play import generate_ogbench_play

            stats = generate_ogbench_play(args.env, args.episodes, os.path.expanduser(args.out), seed=args.seed,
                                          workers=args.workers, episode_length=args.episode_length,
                                          shard_size=args.shard_size, val_episodes=args.val_episodes,
                                          keep_shards=args.keep_shards)
        else:
            from sacflow.datasets.robomimic_demos import generate_robomimic_demos

            stats = generate_robomimic_demos(args.task, args.episodes, os.path.expanduser(args.out), seed=args.seed,
                                             max_steps=args.max_steps, max_attempts=args.max_attempts)
    except (ValueError, FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

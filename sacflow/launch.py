"""Hydra entry point: compose the config, check it, hand it to the trainer of its regime.

Everything that can refuse a run (types and values against the schemas, the command line against
the composed config, the optional extras, the launcher, the device) is checked by
``sacflow.preflight`` before Hydra starts, so a refusal is one line within a couple of seconds and
leaves nothing behind.
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sacflow.cli_checks import CFG_DIR
from sacflow.preflight import preflight, refusals


@hydra.main(version_base="1.3", config_path=str(CFG_DIR), config_name="config")
def train(cfg: DictConfig) -> None:
    with refusals():  # what only the built run can check: env dimensions, datasets, checkpoints
        from sacflow.trainers import get_trainer
        from sacflow.utils.threads import apply_threads  # imports torch

        apply_threads(cfg.threads)
        trainer = get_trainer(cfg.trainer, vectorised=bool(cfg.get("seeds")))(cfg, HydraConfig.get().runtime.output_dir)
    try:
        trainer.run()
    finally:
        # Also when the run fails or submitit's preemption signal stops it: a still-active
        # W&B run would be *returned* by the next job's wandb.init in a sequential multirun.
        trainer.logger.close()


def main() -> None:
    """``launch.py`` and ``sacflow-train``: every check first, then Hydra."""
    preflight(sys.argv[1:])
    train()


if __name__ == "__main__":
    main()

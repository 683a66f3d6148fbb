"""Hydra entry point: compose the config, check it, hand it to the trainer of its regime."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sacflow.config_checks import ConfigError, check_config, check_vectorised
from sacflow.datasets.errors import DatasetError
from sacflow.trainers import get_trainer
from sacflow.utils.threads import apply_threads

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "cfg")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        check_config(cfg)
        apply_threads(cfg.threads)
        if cfg.get("seeds"):
            check_vectorised(cfg)
        trainer = get_trainer(cfg.trainer, vectorised=bool(cfg.get("seeds")))(cfg, HydraConfig.get().runtime.output_dir)
    except ConfigError as err:
        print(f"sacflow: config error: {err}", file=sys.stderr)
        sys.exit(2)
    except DatasetError as err:
        print(f"sacflow: dataset error: {err}", file=sys.stderr)
        sys.exit(2)
    try:
        trainer.run()
    finally:
        # Also when the run fails or submitit's preemption signal stops it: a still-active
        # W&B run would be *returned* by the next job's wandb.init in a sequential multirun.
        trainer.logger.close()


if __name__ == "__main__":
    main()

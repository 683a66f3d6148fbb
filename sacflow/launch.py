"""Hydra entry point: compose the config, check it, hand it to the trainer of its regime.

Everything that can refuse a run (the values, the command line against the composed config, the
optional extras, the launcher) is checked before torch and the environments are imported, so a
refusal is one line within a couple of seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sacflow.cli_checks import check_command_line
from sacflow.config_checks import ConfigError, check_config, check_vectorised
from sacflow.datasets.errors import DatasetError
from sacflow.extras import MissingExtra, check_launcher, check_run_extras
from sacflow.utils.checkpoint_error import CheckpointError

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "cfg")


def _refuse(kind: str, err: Exception) -> None:
    print(f"sacflow: {kind}: {err}", file=sys.stderr)
    sys.exit(2)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def train(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    try:
        check_config(cfg)
        check_command_line(cfg, list(hydra_cfg.overrides.task), dict(hydra_cfg.runtime.choices))
        check_run_extras(cfg)
        from sacflow.trainers import get_trainer
        from sacflow.utils.threads import apply_threads  # imports torch

        apply_threads(cfg.threads)
        if cfg.get("seeds"):
            check_vectorised(cfg)
        trainer = get_trainer(cfg.trainer, vectorised=bool(cfg.get("seeds")))(cfg, hydra_cfg.runtime.output_dir)
    except ConfigError as err:
        _refuse("config error", err)
    except MissingExtra as err:
        _refuse("missing extra", err)
    except DatasetError as err:
        _refuse("dataset error", err)
    except CheckpointError as err:
        _refuse("checkpoint error", err)
    try:
        trainer.run()
    finally:
        # Also when the run fails or submitit's preemption signal stops it: a still-active
        # W&B run would be *returned* by the next job's wandb.init in a sequential multirun.
        trainer.logger.close()


def main() -> None:
    """``launch.py`` and ``sacflow-train``: the launcher is checked before Hydra builds it."""
    try:
        check_launcher(sys.argv[1:])
    except MissingExtra as err:
        _refuse("missing extra", err)
    train()


if __name__ == "__main__":
    main()

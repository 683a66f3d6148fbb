"""What every trainer shares: seeding, the run directory, checkpoints and the logger.

A checkpoint holds the resolved config, every RNG state, the agent, the replay buffer, the
step and episode counters, whatever else the trainer adds, and the W&B run id; it is written atomically to ``checkpoints/latest.pt``. Resuming with a config
that differs outside ``RESUMABLE_KEYS`` is refused, naming the first differing key.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sacflow.config_checks import ConfigError
from sacflow.logging.logger import Logger
from sacflow.logging.progress import Progress, status_of
from sacflow.plotting import plot_run_learning_curve
from sacflow.schema import convert
from sacflow.utils.checkpoint import commit, load_newest_intact, stage
from sacflow.utils.device import resolve_device
from sacflow.utils.rng import capture_rng_state, restore_rng_state, seed_everything
from sacflow.utils.run_info import write_run_info

# Keys a resumed run may change (e.g. to extend a run or switch logging on); any other
# difference means the run directory holds a different experiment.
RESUMABLE_KEYS = ("total_steps", "online_steps", "device", "threads", "eval", "log_every", "checkpoint_every", "logger")


def differing_key(old: dict, new: dict, prefix: str = "") -> str | None:
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        if path in RESUMABLE_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = differing_key(a, b, path + ".")
            if found:
                return found
        elif a != b:
            return path
    return None


def value_at(config: dict, dotted: str):
    """The value at a dotted key of a nested dict; None where the path ends early."""
    for part in dotted.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


def checkpoint_interval(every: int | str, total: int) -> int:
    """``checkpoint_every``, where ``auto`` is every 10% of a run of ``total`` steps, at most 10k steps apart."""
    return max(1, min(10_000, total // 10)) if every == "auto" else every


class Trainer:
    def __init__(self, cfg: DictConfig, out_dir: str | Path):
        convert(cfg)  # the schemas' checks and typed values (fast.bf16=no -> False) for every entry point
        self.cfg, self.out_dir = cfg, Path(out_dir)
        self.cfg_dict = OmegaConf.to_container(cfg, resolve=True)
        self.device = resolve_device(cfg.device)
        self.step, self.episode = 0, 0
        seed_everything(cfg.seed)

    def resume(self) -> dict | None:
        """Restore agent, buffer, counters and global RNGs from this run's checkpoint.

        Returns the checkpoint (the trainer restores its own extra state from it), or None."""
        ckpt = load_newest_intact(self.out_dir, map_location=self.device)
        if ckpt is None:
            return None
        key = differing_key(ckpt["config"], self.cfg_dict)
        if key is not None:
            raise ConfigError(key, f"{value_at(self.cfg_dict, key)!r} here, but the run in {self.out_dir} has "
                                   f"{value_at(ckpt['config'], key)!r}; a different run needs its own folder: out_dir=<path>")
        restore_rng_state(ckpt["rng"])
        self.agent.load_checkpoint_state(ckpt["agent"])
        self.buffer.load_state_dict(ckpt["buffer"])
        self.step, self.episode = ckpt["step"], ckpt["episode"]
        return ckpt

    def save_checkpoint(self, stage_only: bool = False, **extra) -> None:
        """To ``checkpoints/latest.pt``, the one before kept as ``previous.pt`` (sacflow/utils/checkpoint.py);
        ``stage_only`` writes ``pending.pt`` and leaves the rotation to the vectorised-seeds trainer's two-phase save."""
        state = {"config": self.cfg_dict, "rng": capture_rng_state(), "wandb_run_id": self.logger.wandb_run_id,
                 "agent": self.agent.checkpoint_state(), "buffer": self.buffer.state_dict(), "step": self.step,
                 "episode": self.episode, **extra}
        stage(state, self.out_dir)
        if not stage_only:
            commit(self.out_dir)
        self.saved_at = self.step

    def eval_modes(self) -> list[str]:
        """The evaluation modes switched on in ``eval`` (deterministic and/or stochastic)."""
        ev = self.cfg.eval
        return [m for m, on in (("det", ev.deterministic), ("stoch", ev.stochastic)) if on]

    def eval_vector_env(self, make_env):
        """The evaluation envs, built at the first evaluation (worker processes are not free)."""
        if getattr(self, "eval_env", None) is None:
            from sacflow.envs.manipulation import make_vector_env

            ev = self.cfg.eval
            workers = min(ev.workers, ev.episodes)
            self.eval_env = make_vector_env(make_env, workers, ev.asynchronous and workers > 1)
        return self.eval_env

    def open_logger(self, checkpoint: dict | None) -> None:
        self.logger = Logger(
            self.out_dir,
            self.cfg_dict,
            use_tensorboard=self.cfg.logger.tensorboard,
            wandb=OmegaConf.to_container(self.cfg.logger.wandb, resolve=True),
            # A run killed before its first checkpoint restarts from 0: its rows are dropped too.
            resume_step=self.step,
            wandb_run_id=checkpoint["wandb_run_id"] if checkpoint else None,
        )
        write_run_info(self.out_dir, self.cfg_dict, resumed_from=self.step if checkpoint else None)
        start = f"resuming from step {self.step}" if checkpoint else "fresh start"
        print(f"[sacflow] run folder: {self.out_dir} ({start})")

    def progress_bar(self, total: int) -> Progress:
        """Steps/s, ETA, the last episode's return and the last evaluation, from the logger's latest rows."""
        return Progress(total, self.step, disable=not self.cfg.logger.progress,
                        status=lambda: status_of(self.logger.latest))

    def already_complete(self, total: int) -> bool:
        if self.step >= total and self.step > 0:
            print(f"[sacflow] {self.out_dir} already holds a finished run at step {self.step} (this config asks for "
                  f"{total}); nothing to do. A new run needs its own folder: out_dir=<path>")
            self.logger.close()
            return True
        return False

    def finish(self, save: bool = True) -> None:
        """The final checkpoint (unless the caller saved it), the learning-curve plot, the logger closed.

        The plot's curves follow the config, as ``sacflow-plot`` redraws them."""
        if save and getattr(self, "saved_at", None) != self.step:  # not twice at one step: previous.pt stays older
            self.save_checkpoint()
        plot_run_learning_curve(self.out_dir, self.cfg_dict)
        self.logger.close()
        print(f"[sacflow] done: {self.out_dir}")

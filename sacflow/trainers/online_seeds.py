"""N seeds of the from-scratch online regime in one process (``seeds=[0,1,2]``).

Each seed is a full single-seed ``OnlineTrainer`` (a "lane"): its own envs, seeded as its
single-seed run; its own replay rows (a slice of one [seeds, capacity, width] tensor); its own
run folder ``.../seed<N>/`` with the CSVs, config, run info and checkpoints a single-seed run
writes, so ``sacflow.report``, resume and the plots see N ordinary runs. What is shared is the
compute: the lanes' agents are stacked into one ``VectorisedSAC`` (one vmapped forward/backward
per update for all seeds) and, after the warm-up, one vmapped policy call acts for all of them.
Each lane's minibatch rows and policy noise come from its own ``torch.Generator`` (seeded with
its seed, saved in its checkpoint).

Checkpoints are two-phase so that all lanes always resume from the same step: every lane first
stages ``checkpoints/pending.pt``, then each is rotated in (``latest.pt`` -> ``previous.pt``,
``pending.pt`` -> ``latest.pt``; sacflow/utils/checkpoint.py). A run killed between the phases
finishes the rotations when it restarts (all pending files complete) or drops them. A lane that
must fall back to its ``previous.pt`` (a damaged ``latest.pt``) is at another step than the others:
the run is then refused, and the lanes resume one by one (``seed=N``).
Not vectorised (refused by ``check_vectorised``): other trainers and agents, and the rare gradient
diagnostic (``agent.grad_diagnostic_every``), which needs each seed's own backward pass.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from sacflow.agents.vectorised_sac import VectorisedSAC
from sacflow.config_checks import ConfigError
from sacflow.logging.progress import Progress, status_of
from sacflow.trainers.online import OnlineTrainer, crossed
from sacflow.utils.checkpoint import commit, discard_pending, pending_path
from sacflow.utils.device import resolve_device
from sacflow.utils.interrupt import StopSignals


def lane_config(cfg: DictConfig, seed: int) -> DictConfig:
    """The single-seed config of one lane: ``seed`` set, ``seeds`` cleared (so its checkpoint is a
    single-seed run's, resumable either way)."""
    return OmegaConf.merge(cfg, {"seed": seed, "seeds": None})


def lane_dirs(cfg: DictConfig) -> list[Path]:
    """``out_dir`` resolved per seed (``.../seed<N>`` by default); ``<out_dir>/seed<N>`` when it does not name the seed."""
    dirs = [Path(str(lane_config(cfg, s).out_dir)) for s in cfg.seeds]
    if len(set(dirs)) < len(dirs):
        dirs = [Path(str(cfg.out_dir)) / f"seed{s}" for s in cfg.seeds]
    return dirs


def settle_pending(out_dirs: list[Path]) -> None:
    """Finish or drop an interrupted two-phase save, so every lane's latest.pt is from one step."""
    complete = all(pending_path(d).exists() for d in out_dirs)
    for d in out_dirs:
        if complete:
            commit(d)
        else:
            discard_pending(d)


class VectorisedSeedsTrainer:
    def __init__(self, cfg: DictConfig, out_dir: str | Path):
        self.cfg = cfg
        seeds = list(cfg.seeds)
        dirs = lane_dirs(cfg)
        settle_pending(dirs)
        self.device = device = resolve_device(cfg.device)
        self.storage: torch.Tensor | None = None
        self.lanes: list[OnlineTrainer] = []
        for i, (seed, out) in enumerate(zip(seeds, dirs)):
            generator = torch.Generator(device).manual_seed(seed)
            self.lanes.append(OnlineTrainer(lane_config(cfg, seed), out, partial(self._replay_rows, i), generator))
        steps = {lane.step for lane in self.lanes}
        if len(steps) > 1:
            raise ConfigError("seeds", f"the lanes' checkpoints are at different steps {sorted(steps)}; "
                                       "resume them one by one (seed=N) or use a new out_dir")
        self.vec = VectorisedSAC([lane.agent for lane in self.lanes], [lane.generator for lane in self.lanes])
        self.step = self.lanes[0].step

    def _replay_rows(self, i: int, capacity: int, width: int) -> torch.Tensor:
        """Lane i's slice of one [seeds, capacity, width] tensor: one gather draws every seed's minibatch."""
        if self.storage is None:
            self.storage = torch.zeros((len(self.cfg.seeds), capacity, width), device=self.device)
        return self.storage[i]

    @property
    def logger(self):  # launch.py closes the trainer's logger on the way out; here every lane's
        return _Loggers([lane.logger for lane in self.lanes])

    def _act(self) -> np.ndarray:
        first = self.lanes[0]
        if first.step < self.cfg.learning_starts:  # each lane's own uniform warm-up draws
            return np.stack([lane._act(lane.collector.obs) for lane in self.lanes])
        obs = torch.as_tensor(np.stack([lane.collector.obs for lane in self.lanes]), dtype=torch.float32,
                              device=first.device)
        return self.vec.act(obs).cpu().numpy()

    def _update(self, count: int) -> None:
        rows_of_seed = torch.arange(len(self.lanes), device=self.storage.device)[:, None]
        for _ in range(count):
            idx = torch.stack([lane.buffer.sample_indices(self.cfg.batch_size, lane.generator) for lane in self.lanes])
            info = self.vec.update(self.lanes[0].buffer.fields(self.storage[rows_of_seed, idx]))
            for i, lane in enumerate(self.lanes):
                lane.latest.update({k: v[i] for k, v in info.items()})

    def save_checkpoint(self) -> None:
        self.vec.export_optimizer_states()
        for lane in self.lanes:
            lane.save_checkpoint(stage_only=True)
        for lane in self.lanes:
            commit(lane.out_dir)

    def _status(self) -> dict[str, str]:
        """The progress bar's status, averaged over the seeds that have each metric."""
        keys = set().union(*(lane.logger.latest for lane in self.lanes))
        return status_of({k: np.mean([lane.logger.latest[k] for lane in self.lanes if k in lane.logger.latest])
                          for k in keys})

    def run(self) -> None:
        cfg, lanes = self.cfg, self.lanes
        complete = [lane.already_complete(cfg.total_steps) for lane in lanes]  # each closes its logger if so
        if all(complete):
            return
        progress = Progress(cfg.total_steps, self.step, disable=not cfg.logger.progress, status=self._status)
        with StopSignals() as stop:
            while self.step < cfg.total_steps:
                before = self.step
                finished = [lane.collect(actions) for lane, actions in zip(lanes, self._act())]
                self.step = lanes[0].step
                self._update(lanes[0]._updates_due(before))
                for lane, done in zip(lanes, finished):
                    lane.after_step(before, done, checkpoint=False)
                if crossed(before, self.step, lanes[0].checkpoint_every):
                    self.save_checkpoint()
                progress.update(lanes[0].num_envs)
                stop.exit_if_asked(self.save_checkpoint, Path(os.path.commonpath([lane.out_dir for lane in lanes])),
                                   self.step)
        progress.close()
        self.save_checkpoint()
        for lane in lanes:
            lane.finish(save=False)
            lane.close_envs()


class _Loggers:
    def __init__(self, loggers):
        self.loggers = loggers

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()

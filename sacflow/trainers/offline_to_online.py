"""Offline-to-online training (paper Sec. 5.3, Algo. 2): N offline updates, then M env steps.

Phases share one step counter: offline updates are steps 1..N, online env steps N+1..N+M,
so every CSV row has a single x axis (``phase`` = 0 offline, 1 online).

* Offline: each iteration samples a chunk batch from the dataset and calls
  ``agent.offline_update``. Checkpoints every ``checkpoint_every`` updates; nothing else is
  needed to resume exactly.
* Online: the replay buffer holds the dataset, and every env step is appended to it. The
  policy emits an h-step chunk that is executed open loop (the queue is cleared when an
  episode ends); after ``start_training`` online steps, one ``agent.online_update`` per step.
  Episodes reset with seeds drawn from (seed, episode index), so a checkpoint taken at an
  episode end resumes exactly without any simulator state.
* Evaluation every ``eval.every`` steps of each phase and at the end of each phase:
  ``eval.episodes`` episodes (50 by default) on ``eval.workers`` parallel envs, success rate.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import get_class
from omegaconf import DictConfig

from sacflow.buffers.chunk_buffer import ChunkReplayBuffer
from sacflow.config_checks import ConfigError, check_env_dims
from sacflow.envs.manipulation import ManipulationEnvSpec, sparse_reward
from sacflow.evaluation import evaluate_chunked
from sacflow.trainers.base import Trainer, checkpoint_interval
from sacflow.utils.interrupt import StopSignals

EPISODE_SEED_STRIDE = 1_000_003


def load_dataset(cfg: DictConfig, env):
    """The offline dataset named by ``dataset``, checked against ``env``'s dimensions."""
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    if cfg.env.suite == "ogbench":
        from sacflow.datasets.ogbench_data import load_ogbench_dataset

        data = load_ogbench_dataset(cfg.env.dataset_name, dataset_dir=cfg.dataset.dir, dataset_path=cfg.dataset.path,
                                    success_timing=cfg.env.success_timing, env=env,
                                    download=cfg.dataset.get("download", False))
        dataset = data.train
    else:
        from sacflow.datasets.robomimic_data import load_robomimic_dataset

        dataset = load_robomimic_dataset(cfg.dataset.path, obs_dim=obs_dim, act_dim=act_dim)
    if cfg.env.get("sparse", False):
        dataset.data["rewards"] = sparse_reward(dataset.data["rewards"])
    return dataset


class OfflineToOnlineTrainer(Trainer):
    def __init__(self, cfg: DictConfig, out_dir: str | Path):
        super().__init__(cfg, out_dir)
        # One model seed for every copy (training env, evaluation workers, resumes): Robomimic's
        # model draws are then the same in every process.
        self.spec = dataclasses.replace(ManipulationEnvSpec.from_config(cfg.env), model_seed=cfg.seed)
        self.env = self.spec()
        obs_dim, act_dim = self.env.observation_space.shape[0], self.env.action_space.shape[0]
        check_env_dims(cfg, cfg.env.id, obs_dim, act_dim)
        self.act_dim, self.horizon = act_dim, cfg.agent.horizon
        self.agent = get_class(cfg.agent.cls).build(cfg, obs_dim, act_dim).to(self.device)
        dataset = load_dataset(cfg, self.env)
        if len(dataset) < self.horizon:
            raise ConfigError("agent.horizon", f"{self.horizon} exceeds the dataset's {len(dataset)} transitions")
        self.buffer = ChunkReplayBuffer(dataset, cfg.online_steps, self.device)
        self.eval_env = None  # built at the first evaluation (worker processes are not free)
        self.checkpoint_every = checkpoint_interval(cfg.checkpoint_every, self.total_steps)
        self.open_logger(self.resume())

    @property
    def total_steps(self) -> int:
        return self.cfg.offline_steps + self.cfg.online_steps

    # ---------------------------------------------------------------- helpers
    def _sample(self) -> dict:
        return self.buffer.sample(self.cfg.batch_size, self.horizon, self.cfg.gamma)

    def _act(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        return self.agent.act(obs_t.reshape(-1, obs.shape[-1])).cpu().numpy()

    def _evaluate(self) -> None:
        ev = self.cfg.eval
        if not ev.episodes:
            return
        self.eval_vector_env(self.spec)
        devices = [self.device] if self.device.type == "cuda" else []
        start = time.perf_counter()
        with torch.random.fork_rng(devices=devices):  # evaluation must not move the training RNG
            torch.manual_seed(self.cfg.seed * EPISODE_SEED_STRIDE + self.step)
            metrics = evaluate_chunked(self.eval_env, self._act, ev.episodes, self.horizon, self.act_dim,
                                       seed=self.cfg.seed + 10_000)
        metrics["time/eval_seconds"] = time.perf_counter() - start
        self.logger.log("eval", {**metrics, "phase": self._phase()}, self.step)

    def _phase(self) -> int:
        return int(self.step > self.cfg.offline_steps)

    def _eval_due(self, phase_step: int, phase_end: bool) -> bool:
        return phase_end or bool(self.cfg.eval.every and phase_step % self.cfg.eval.every == 0)

    def _log_updates(self, latest: dict, clock: list) -> None:
        now = time.perf_counter()
        rate = (self.step - clock[1]) / max(now - clock[0], 1e-9)
        clock[:] = [now, self.step]
        metrics = {k: float(v) for k, v in latest.items()}
        self.logger.log("update", {**metrics, "time/steps_per_second": rate, "phase": self._phase()}, self.step)

    # ---------------------------------------------------------------- loop
    def run(self) -> None:
        cfg = self.cfg
        if self.already_complete(self.total_steps):
            return
        progress = self.progress_bar(self.total_steps)
        latest: dict[str, torch.Tensor] = {}
        clock = [time.perf_counter(), self.step]
        with StopSignals() as stop:
            if self.step < cfg.offline_steps:
                self._offline_phase(progress, latest, clock, stop)
            if self.step < self.total_steps:
                self._online_phase(progress, {}, clock, stop)  # fresh: offline-only metrics do not carry over
        progress.close()
        self.finish()
        if self.eval_env is not None:
            self.eval_env.close()

    def _offline_phase(self, progress, latest, clock, stop: StopSignals) -> None:
        cfg = self.cfg
        while self.step < cfg.offline_steps:
            latest.update(self.agent.offline_update(self._sample()))
            self.step += 1
            progress.update(1)
            if self.step % cfg.log_every == 0:
                self._log_updates(latest, clock)
            if self._eval_due(self.step, self.step == cfg.offline_steps):
                self._evaluate()
            if self.step % self.checkpoint_every == 0:
                self.save_checkpoint()
            stop.exit_if_asked(self.save_checkpoint, self.out_dir, self.step)

    def _reset(self) -> np.ndarray:
        return self.env.reset(seed=self.cfg.seed * EPISODE_SEED_STRIDE + self.episode)[0]

    def _online_phase(self, progress, latest, clock, stop: StopSignals) -> None:
        cfg, offline, every = self.cfg, self.cfg.offline_steps, self.checkpoint_every
        obs, queue = self._reset(), []
        ep_return, ep_length = 0.0, 0
        next_checkpoint = (self.step // every + 1) * every
        stop.announce = "finishing this episode (online checkpoints fall between episodes)"
        while self.step < self.total_steps:
            if not queue:  # open-loop execution of a whole chunk
                queue = list(np.clip(self._act(obs), -1.0, 1.0).reshape(self.horizon, self.act_dim))
            action = queue.pop(0)
            next_obs, reward, terminated, truncated, info = self.env.step(action)
            self.buffer.add(obs, action, reward, next_obs, terminated, terminated or truncated)
            obs, ep_return, ep_length = next_obs, ep_return + float(reward), ep_length + 1
            self.step += 1
            online_step = self.step - offline
            if online_step >= cfg.start_training:
                latest.update(self.agent.online_update(self._sample()))
            progress.update(1)
            if self.step % cfg.log_every == 0:
                self._log_updates(latest, clock)
            if self._eval_due(online_step, self.step == self.total_steps):
                self._evaluate()
            if terminated or truncated:
                self.episode += 1
                self.logger.log("train", {"train/episode_return": ep_return, "train/episode_length": ep_length,
                                          "train/success": float(info["success"]), "train/episode": self.episode,
                                          "phase": 1}, self.step)
                if self.step >= next_checkpoint:
                    self.save_checkpoint()
                    next_checkpoint = (self.step // every + 1) * every
                stop.exit_if_asked(self.save_checkpoint, self.out_dir, self.step)
                obs, queue, ep_return, ep_length = self._reset(), [], 0.0, 0

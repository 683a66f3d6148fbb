"""From-scratch online training (paper Sec. 5.2): one gradient update per env step.

The paper collects with one env. ``num_envs`` > 1 steps N copies side by side (one batched
policy call per vector step) and makes ``num_envs * utd`` updates per vector step, so the
updates per env transition stay ``utd`` (1 in the paper); a departure from the paper's
protocol, docs/deviations.md. ``step`` counts env transitions, whatever ``num_envs``.

Checkpoints are written every ``checkpoint_every`` transitions, mid-episode if need be: they
hold every sub-env's simulator state (sacflow/envs/snapshot.py), so a resumed run continues
each episode bit-exactly. Evaluation runs ``eval.episodes`` episodes side by side in
``eval.workers`` sub-envs (processes when ``eval.asynchronous``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import get_class
from omegaconf import DictConfig

from sacflow.buffers.replay_buffer import ReplayBuffer
from sacflow.config_checks import check_env_dims
from sacflow.envs.collector import VectorCollector
from sacflow.envs.mujoco import MujocoEnvSpec
from sacflow.evaluation import evaluate
from sacflow.trainers.base import Trainer, checkpoint_interval
from sacflow.utils.interrupt import StopSignals
from sacflow.utils.rng import generator_state, set_generator_state


def crossed(before: int, after: int, every: int) -> bool:
    """Whether a multiple of ``every`` lies in (before, after]: the step-count cadence with N steps at a time."""
    return bool(every) and after // every > before // every


class OnlineTrainer(Trainer):
    def __init__(self, cfg: DictConfig, out_dir: str | Path, buffer_storage=None,
                 generator: torch.Generator | None = None):
        """``buffer_storage`` and ``generator`` are set by the vectorised-seeds trainer (online_seeds.py):
        the replay rows live in its [seeds, capacity, width] tensor (``buffer_storage(capacity, width)``
        returns this seed's slice), and the generator (saved in the
        checkpoint) draws this seed's minibatches and policy noise."""
        super().__init__(cfg, out_dir)
        self.generator = generator
        self.num_envs, self.utd = cfg.num_envs, cfg.utd
        self.checkpoint_every = checkpoint_interval(cfg.checkpoint_every, cfg.total_steps)
        self.env_spec = MujocoEnvSpec(cfg.env.id, cfg.env.max_episode_steps)
        self.collector = VectorCollector(self.env_spec, self.num_envs, cfg.seed)
        obs_dim = self.collector.single_observation_space.shape[0]
        act_dim = self.collector.single_action_space.shape[0]
        check_env_dims(cfg, cfg.env.id, obs_dim, act_dim)
        self.low, self.high = self.collector.single_action_space.low, self.collector.single_action_space.high
        self.agent = get_class(cfg.agent.cls).build(cfg, obs_dim, act_dim, self.low, self.high).to(self.device)
        # Uniform replay, except for agents whose recipe samples recent transitions more (FlowRL).
        self.buffer = ReplayBuffer(min(cfg.buffer_size, max(cfg.total_steps, 1)), obs_dim, act_dim, self.device,
                                   cfg.agent.get("replay_recent_fraction", 0.0), cfg.agent.get("replay_recent_window", 1),
                                   buffer_storage)
        self.action_rng = np.random.default_rng(cfg.seed)  # uniform warm-up actions
        self.eval_env = None  # built at the first evaluation (worker processes are not free)
        self.latest: dict[str, torch.Tensor] = {}  # last value of every update metric (actor ones come every policy_delay)
        checkpoint = self.resume()
        if checkpoint is None:
            self.collector.start()
        else:
            set_generator_state(self.action_rng, checkpoint["action_rng"])
            self.collector.load_state_dict(checkpoint["envs"])
            self.latest = checkpoint["latest_metrics"]
            if self.generator is not None:
                self.generator.set_state(checkpoint["generator"])
        self.open_logger(checkpoint)
        self.last_log = (time.perf_counter(), self.step)  # (time, step) of the last update row, for time/sps

    def save_checkpoint(self, stage_only: bool = False) -> None:
        extra = {} if self.generator is None else {"generator": self.generator.get_state()}
        super().save_checkpoint(stage_only, action_rng=generator_state(self.action_rng), envs=self.collector.state_dict(),
                                latest_metrics=self.latest, **extra)

    # ---------------------------------------------------------------- helpers
    def _act(self, obs: np.ndarray) -> np.ndarray:
        if self.step < self.cfg.learning_starts:
            return self.action_rng.uniform(self.low, self.high, size=(self.num_envs, len(self.low))).astype(np.float32)
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        return self.agent.act(obs_t).cpu().numpy()

    def _updates_due(self, before: int) -> int:
        """``utd`` updates for every transition of this vector step that counts from ``learning_starts`` on."""
        first_counted = max(before + 1, self.cfg.learning_starts)
        return max(0, self.step - first_counted + 1) * self.utd

    def _update(self, count: int) -> None:
        for _ in range(count):
            info = self.agent.update(self.buffer.sample(self.cfg.batch_size))
            if "grad/x0_norm" in info:  # the rare gradient diagnostic gets its own table, at its own step
                self.logger.log("grad", {k: float(v) for k, v in info.items() if k.startswith("grad/")}, self.step)
            self.latest.update(info)

    def _log_episode(self, episode) -> None:
        self.episode += 1
        row = {"train/episode_return": episode.episode_return, "train/episode_length": episode.length,
               "train/episode": self.episode}
        if self.num_envs > 1:
            row["train/env"] = episode.env
        self.logger.log("train", row, self.step)

    def _evaluate(self) -> None:
        ev, modes = self.cfg.eval, self.eval_modes()
        if not (ev.episodes and modes):
            return
        eval_env = self.eval_vector_env(self.env_spec)
        start = time.perf_counter()
        metrics = evaluate(self.agent, eval_env, ev.episodes, self.cfg.seed, self.step, modes, self.device)
        self.logger.log("eval", {**metrics, "time/eval_seconds": time.perf_counter() - start}, self.step)

    # ---------------------------------------------------------------- loop
    def collect(self, actions: np.ndarray) -> list:
        """One vector step: store its transitions; returns the episodes it finished."""
        batch, finished = self.collector.step(actions)
        for i in range(self.num_envs):
            self.buffer.add(batch.obs[i], batch.action[i], batch.reward[i], batch.next_obs[i],
                            float(batch.terminated[i]))
        self.step += self.num_envs
        return finished

    def after_step(self, before: int, finished: list, checkpoint: bool = True) -> None:
        """What follows a vector step's updates: update and eval rows, episode rows, the checkpoint."""
        cfg = self.cfg
        if crossed(before, self.step, cfg.log_every):
            now = time.perf_counter()
            sps = (self.step - self.last_log[1]) / max(now - self.last_log[0], 1e-9)
            self.last_log = (now, self.step)
            metrics = {k: float(v) for k, v in self.latest.items() if not k.startswith("grad/")}
            self.logger.log("update", {**metrics, "time/sps": sps}, self.step)
        if crossed(before, self.step, cfg.eval.every):
            self._evaluate()
        for episode in finished:
            self._log_episode(episode)
        if checkpoint and crossed(before, self.step, self.checkpoint_every):
            self.save_checkpoint()

    def run(self) -> None:
        cfg = self.cfg
        if self.already_complete(cfg.total_steps):
            return
        progress = self.progress_bar(cfg.total_steps)
        with StopSignals() as stop:
            while self.step < cfg.total_steps:
                before = self.step
                finished = self.collect(self._act(self.collector.obs))
                self._update(self._updates_due(before))
                self.after_step(before, finished)
                progress.update(self.num_envs)
                stop.exit_if_asked(self.save_checkpoint, self.out_dir, self.step)
        progress.close()
        self.finish()
        self.close_envs()

    def close_envs(self) -> None:
        self.collector.close()
        if self.eval_env is not None:
            self.eval_env.close()

"""From-scratch online training: one env, one gradient update per env step (paper Sec. 5.2).

Checkpoints are written at episode boundaries, so a resume needs no simulator state:
it restores the env's RNG and calls ``reset`` exactly as the uninterrupted run did.
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
from sacflow.envs.mujoco import make_mujoco_env
from sacflow.evaluation import evaluate
from sacflow.logging.progress import Progress
from sacflow.trainers.base import Trainer
from sacflow.utils.rng import generator_state, set_generator_state


class OnlineTrainer(Trainer):
    def __init__(self, cfg: DictConfig, out_dir: str | Path):
        super().__init__(cfg, out_dir)
        self.env = make_mujoco_env(cfg.env.id, cfg.env.max_episode_steps)
        self.eval_env = make_mujoco_env(cfg.env.id, cfg.env.max_episode_steps)
        obs_dim, act_dim = self.env.observation_space.shape[0], self.env.action_space.shape[0]
        check_env_dims(cfg, cfg.env.id, obs_dim, act_dim)
        self.low, self.high = self.env.action_space.low, self.env.action_space.high
        self.agent = get_class(cfg.agent.cls).build(cfg, obs_dim, act_dim, self.low, self.high).to(self.device)
        self.buffer = ReplayBuffer(min(cfg.buffer_size, max(cfg.total_steps, 1)), obs_dim, act_dim, self.device)
        self.action_rng = np.random.default_rng(cfg.seed)  # uniform warm-up actions
        self.episode_end_env_rng = None  # env RNG at the last episode end: replayed by reset on resume
        checkpoint = self.resume()
        if checkpoint is not None:
            set_generator_state(self.action_rng, checkpoint["action_rng"])
            self.episode_end_env_rng = checkpoint["env_rng"]
        self.open_logger(checkpoint)

    def save_checkpoint(self) -> None:
        super().save_checkpoint(action_rng=generator_state(self.action_rng),
                                env_rng=generator_state(self.env.unwrapped.np_random))
    # ---------------------------------------------------------------- loop
    def _reset_env(self) -> np.ndarray:
        if self.step == 0:
            return self.env.reset(seed=self.cfg.seed)[0]
        if self.episode_end_env_rng is not None:  # first reset after a resume
            set_generator_state(self.env.unwrapped.np_random, self.episode_end_env_rng)
            self.episode_end_env_rng = None
        return self.env.reset()[0]

    def _act(self, obs: np.ndarray) -> np.ndarray:
        if self.step < self.cfg.learning_starts:
            return self.action_rng.uniform(self.low, self.high).astype(np.float32)
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=self.device).unsqueeze(0)
        return self.agent.act(obs_t).squeeze(0).cpu().numpy()

    def _evaluate(self) -> None:
        ev = self.cfg.eval
        modes = [m for m, on in (("det", ev.deterministic), ("stoch", ev.stochastic)) if on]
        if ev.episodes and modes:
            metrics = evaluate(self.agent, self.eval_env, ev.episodes, self.cfg.seed, self.step, modes, self.device)
            self.logger.log("eval", metrics, self.step)

    def run(self) -> None:
        cfg = self.cfg
        if self.already_complete(cfg.total_steps):
            return
        progress = Progress(cfg.total_steps, self.step, disable=not cfg.logger.progress)
        obs = self._reset_env()
        ep_return, ep_length = 0.0, 0
        latest: dict[str, torch.Tensor] = {}  # last value of every update metric (actor ones come every policy_delay)
        last_log_time, last_log_step = time.perf_counter(), self.step
        next_checkpoint = (self.step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
        while self.step < cfg.total_steps:
            action = self._act(obs)
            next_obs, reward, terminated, truncated, _ = self.env.step(action)
            self.buffer.add(obs, action, reward, next_obs, float(terminated))
            obs, ep_return, ep_length = next_obs, ep_return + float(reward), ep_length + 1
            self.step += 1
            if self.step >= cfg.learning_starts:
                info = self.agent.update(self.buffer.sample(cfg.batch_size))
                if "grad/x0_norm" in info:  # the rare gradient diagnostic gets its own table, at its own step
                    self.logger.log("grad", {k: float(v) for k, v in info.items() if k.startswith("grad/")}, self.step)
                latest.update(info)
            if self.step % cfg.log_every == 0:
                now = time.perf_counter()
                sps = (self.step - last_log_step) / max(now - last_log_time, 1e-9)
                last_log_time, last_log_step = now, self.step
                metrics = {k: float(v) for k, v in latest.items() if not k.startswith("grad/")}
                self.logger.log("update", {**metrics, "time/sps": sps}, self.step)
            if cfg.eval.every and self.step % cfg.eval.every == 0:
                self._evaluate()
            progress.update(1, ret=f"{ep_return:.0f}")
            if terminated or truncated:
                self.episode += 1
                self.logger.log(
                    "train",
                    {"train/episode_return": ep_return, "train/episode_length": ep_length, "train/episode": self.episode},
                    self.step,
                )
                if self.step >= next_checkpoint:
                    self.save_checkpoint()
                    next_checkpoint = (self.step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
                obs, ep_return, ep_length = self._reset_env(), 0.0, 0
        progress.close()
        # The final checkpoint may fall mid-episode; extending such a run starts a fresh episode.
        self.finish()

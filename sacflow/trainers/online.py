"""From-scratch online training: one env, one gradient update per env step (paper Sec. 5.2).

Checkpoints are written at episode boundaries, so a resume needs no simulator state:
it restores the env's RNG and calls ``reset`` exactly as the uninterrupted run did.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from sacflow.agents.sac import SACAgent
from sacflow.buffers.replay_buffer import ReplayBuffer
from sacflow.config_checks import ConfigError, check_env_dims
from sacflow.envs.mujoco import make_mujoco_env
from sacflow.evaluation import evaluate
from sacflow.logging.logger import Logger
from sacflow.logging.progress import Progress
from sacflow.plotting import plot_learning_curve
from sacflow.utils.checkpoint import latest_path, load, save_atomic
from sacflow.utils.device import resolve_device
from sacflow.utils.rng import capture_rng_state, generator_state, restore_rng_state, seed_everything, set_generator_state
from sacflow.utils.run_info import write_run_info

# Keys a resumed run may change (e.g. to extend a run or switch logging on); any other
# difference means the run directory holds a different experiment.
RESUMABLE_KEYS = ("total_steps", "device", "eval", "log_every", "checkpoint_every", "logger")


def _differing_key(old: dict, new: dict, prefix: str = "") -> str | None:
    for key in sorted(set(old) | set(new)):
        path = f"{prefix}{key}"
        if path in RESUMABLE_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found = _differing_key(a, b, path + ".")
            if found:
                return found
        elif a != b:
            return path
    return None


class OnlineTrainer:
    def __init__(self, cfg: DictConfig, out_dir: str | Path):
        self.cfg, self.out_dir = cfg, Path(out_dir)
        self.cfg_dict = OmegaConf.to_container(cfg, resolve=True)
        self.device = resolve_device(cfg.device)
        seed_everything(cfg.seed)
        self.env = make_mujoco_env(cfg.env.id, cfg.env.max_episode_steps)
        self.eval_env = make_mujoco_env(cfg.env.id, cfg.env.max_episode_steps)
        obs_dim, act_dim = self.env.observation_space.shape[0], self.env.action_space.shape[0]
        check_env_dims(cfg, cfg.env.id, obs_dim, act_dim)
        self.low, self.high = self.env.action_space.low, self.env.action_space.high
        self.agent = SACAgent.build(cfg, obs_dim, act_dim, self.low, self.high).to(self.device)
        self.buffer = ReplayBuffer(min(cfg.buffer_size, max(cfg.total_steps, 1)), obs_dim, act_dim, self.device)
        self.action_rng = np.random.default_rng(cfg.seed)  # uniform warm-up actions
        self.step, self.episode = 0, 0
        self.episode_end_env_rng = None  # env RNG at the last episode end: replayed by reset on resume
        checkpoint = self._load_checkpoint()
        self.logger = Logger(
            self.out_dir,
            self.cfg_dict,
            use_tensorboard=cfg.logger.tensorboard,
            wandb=OmegaConf.to_container(cfg.logger.wandb, resolve=True),
            # A run killed before its first checkpoint restarts from 0: its rows are dropped too.
            resume_step=self.step,
            wandb_run_id=checkpoint["wandb_run_id"] if checkpoint else None,
        )
        write_run_info(self.out_dir, self.cfg_dict)

    # ---------------------------------------------------------------- checkpoints
    def _load_checkpoint(self) -> dict | None:
        path = latest_path(self.out_dir)
        if not path.exists():
            return None
        ckpt = load(path, map_location=self.device)
        key = _differing_key(ckpt["config"], self.cfg_dict)
        if key is not None:
            raise ConfigError(key, f"differs from the run being resumed in {self.out_dir}; use a new out_dir")
        self.agent.load_checkpoint_state(ckpt["agent"])
        self.buffer.load_state_dict(ckpt["buffer"])
        self.step, self.episode = ckpt["step"], ckpt["episode"]
        restore_rng_state(ckpt["rng"])
        set_generator_state(self.action_rng, ckpt["action_rng"])
        self.episode_end_env_rng = ckpt["env_rng"]
        print(f"[sacflow] resuming {self.out_dir} from step {self.step}")
        return ckpt

    def _save_checkpoint(self) -> None:
        state = {
            "config": self.cfg_dict,
            "agent": self.agent.checkpoint_state(),
            "buffer": self.buffer.state_dict(),
            "step": self.step,
            "episode": self.episode,
            "rng": capture_rng_state(),
            "action_rng": generator_state(self.action_rng),
            "env_rng": generator_state(self.env.unwrapped.np_random),
            "wandb_run_id": self.logger.wandb_run_id,
        }
        save_atomic(state, latest_path(self.out_dir))

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
        if self.step >= cfg.total_steps and self.step > 0:
            print(f"[sacflow] {self.out_dir} already complete at step {self.step}")
            self.logger.close()
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
                    self._save_checkpoint()
                    next_checkpoint = (self.step // cfg.checkpoint_every + 1) * cfg.checkpoint_every
                obs, ep_return, ep_length = self._reset_env(), 0.0, 0
        progress.close()
        self._finish()

    def _finish(self) -> None:
        # The final checkpoint may fall mid-episode; extending such a run starts a fresh episode.
        self._save_checkpoint()
        plot_learning_curve(self.out_dir, self.out_dir / "learning_curve.png", title=self.cfg.run_name)
        self.logger.close()
        print(f"[sacflow] done: {self.out_dir}")

"""On-policy training (PPO-style): optional flow-matching pretraining, then rollout / update iterations.

Shared by Gaussian PPO (MuJoCo, from scratch) and ReinFlow (Robomimic / OGBench, pretrained on a
dataset first). One step counter: pretraining updates are steps 1..P, env steps P+1..P+M
(``phase`` 0 / 1 in the CSVs), as the offline-to-online trainer counts.

* Rollouts: ``agent.num_envs`` envs in a gymnasium ``SyncVectorEnv`` with same-step autoreset,
  each wrapped in ``ChunkedActions`` (h = ``agent.horizon``; h = 1 is plain stepping), for
  ``agent.rollout_steps`` (chunk) steps per env. A truncated step bootstraps through the state
  the time limit cut (``final_obs``); a terminated one does not.
* Iterations start with fresh episodes when ``agent.reset_every_iteration`` (ReinFlow / DPPO on
  Robomimic; resets are seeded from (seed, iteration)); otherwise episodes continue across
  iterations, as CleanRL's PPO, and a checkpoint holds every env's simulator state
  (``sacflow.envs.snapshot``, MuJoCo only).
* Checkpoints at iteration boundaries (and every ``checkpoint_every`` pretraining updates), so a
  run killed anywhere resumes exactly; evaluation at the end of pretraining, whenever the env
  steps pass a multiple of ``eval.every``, and at the end.
"""

from __future__ import annotations

import dataclasses
import time
from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from hydra.utils import get_class
from omegaconf import DictConfig

from sacflow.agents.running_norm import RewardScaler
from sacflow.config_checks import check_env_dims
from sacflow.datasets.chunking import random_chunk_starts, sample_chunks
from sacflow.envs import snapshot
from sacflow.envs.chunked import ChunkedActions
from sacflow.envs.manipulation import SUITES, ManipulationEnvSpec
from sacflow.envs.mujoco import make_mujoco_env
from sacflow.evaluation import evaluate, evaluate_chunked
from sacflow.trainers.base import Trainer, checkpoint_interval
from sacflow.trainers.offline_to_online import EPISODE_SEED_STRIDE, load_dataset
from sacflow.utils.interrupt import StopSignals


class RolloutCarry:
    """What carries over from one iteration to the next (checkpointed in the base class's
    ``buffer`` slot): the current normalised observations, the open episodes' sums, the reward
    scaler and, when episodes continue across iterations, every env's simulator state."""

    def __init__(self, num_envs: int, gamma: float, reward_norm: bool):
        self.obs: torch.Tensor | None = None
        self.episode_return = np.zeros(num_envs)
        self.episode_length = np.zeros(num_envs, dtype=np.int64)
        self.reward_scaler = RewardScaler(num_envs, gamma, reward_norm)
        self.iteration = 0
        self.env_states: list[dict] | None = None

    def state_dict(self) -> dict:
        return {"obs": self.obs, "episode_return": torch.from_numpy(self.episode_return.copy()),
                "episode_length": torch.from_numpy(self.episode_length.copy()),
                "reward_scaler": self.reward_scaler.state_dict(), "iteration": self.iteration,
                "env_states": self.env_states}

    def load_state_dict(self, state: dict) -> None:
        self.obs, self.iteration, self.env_states = state["obs"], state["iteration"], state["env_states"]
        self.episode_return = state["episode_return"].numpy().copy()
        self.episode_length = state["episode_length"].numpy().copy()
        self.reward_scaler.load_state_dict(state["reward_scaler"])


def _step_info(info: dict, key: str, ended: np.ndarray, default) -> np.ndarray:
    """``info[key]`` per env; for envs that ended (and were reset) the value of their last step."""
    n = len(ended)
    values = np.asarray(info[key]) if key in info else np.full(n, default)
    if ended.any() and "final_info" in info and key in info["final_info"]:
        values = np.where(ended, np.asarray(info["final_info"][key]), values)
    return values


def _chunked(make, horizon: int) -> gym.Env:
    return ChunkedActions(make(), horizon)


class OnPolicyTrainer(Trainer):
    def __init__(self, cfg: DictConfig, out_dir: str | Path):
        super().__init__(cfg, out_dir)
        a = cfg.agent
        self.manipulation = cfg.env.get("suite") in SUITES
        self.num_envs, self.rollout_steps, self.horizon = a.num_envs, a.rollout_steps, a.horizon
        self.pretrain_steps = cfg.get("pretrain_steps", 0)
        makers = [self._env_maker(cfg, cfg.seed * EPISODE_SEED_STRIDE + i) for i in range(self.num_envs)]
        # the evaluation envs are built at the first evaluation (worker processes are not free)
        self.make_eval_env, self.eval_env = self._env_maker(cfg, cfg.seed + 10_000), None
        self.envs = gym.vector.SyncVectorEnv([partial(_chunked, make, self.horizon) for make in makers],
                                             autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
        inner = self.envs.envs[0].env
        obs_dim, act_dim = inner.observation_space.shape[0], inner.action_space.shape[0]
        check_env_dims(cfg, cfg.env.id, obs_dim, act_dim)
        self.act_dim = act_dim
        low, high = inner.action_space.low, inner.action_space.high
        self.agent = get_class(a.cls).build(cfg, obs_dim, act_dim, low, high).to(self.device)
        self.dataset = load_dataset(cfg, inner) if self.pretrain_steps else None
        self.buffer = RolloutCarry(self.num_envs, cfg.gamma, a.get("reward_norm", False))
        self.checkpoint_every = checkpoint_interval(cfg.checkpoint_every, self.total_steps)
        self.open_logger(self.resume())

    def _env_maker(self, cfg, model_seed: int):
        """A picklable env factory; ``model_seed`` fixes robosuite's model draws (ManipulationEnvSpec)."""
        if not self.manipulation:
            return partial(make_mujoco_env, cfg.env.id, cfg.env.max_episode_steps)
        return dataclasses.replace(ManipulationEnvSpec.from_config(cfg.env), model_seed=model_seed)

    @property
    def total_steps(self) -> int:
        return self.pretrain_steps + self.cfg.total_steps

    @property
    def env_steps(self) -> int:
        return self.step - self.pretrain_steps

    # ---------------------------------------------------------------- loop
    def run(self) -> None:
        if self.already_complete(self.total_steps):
            return
        progress = self.progress_bar(self.total_steps)
        with StopSignals() as stop:
            if self.step < self.pretrain_steps:
                self._pretrain(progress, stop)
            stop.announce = "finishing this iteration (fine-tuning checkpoints fall between iterations)"
            while self.env_steps < self.cfg.total_steps:
                self._iteration(progress)
                stop.exit_if_asked(self.save_checkpoint, self.out_dir, self.step)
        progress.close()
        self.finish()
        self.envs.close()
        if self.eval_env is not None:
            self.eval_env.close()

    def _pretrain(self, progress, stop: StopSignals) -> None:
        cfg, clock = self.cfg, [time.perf_counter(), self.step]
        size, batch_size = len(self.dataset), cfg.agent.pretrain_batch_size
        while self.step < self.pretrain_steps:
            idx = random_chunk_starts(size, batch_size, self.horizon, device=self.device)
            info = self.agent.pretrain_update(sample_chunks(self.dataset, idx, self.horizon, cfg.gamma, check=False))
            self.step += 1
            progress.update(1)
            if self.step % cfg.log_every == 0:
                self._log_update(info, clock, phase=0)
            if self.step == self.pretrain_steps:
                self._evaluate()
                self.agent.start_finetuning()
            if self.step % self.checkpoint_every == 0 or self.step == self.pretrain_steps:
                self.save_checkpoint()
            stop.exit_if_asked(self.save_checkpoint, self.out_dir, self.step)

    def _log_update(self, info: dict, clock: list, phase: int) -> None:
        now = time.perf_counter()
        rate = (self.step - clock[1]) / max(now - clock[0], 1e-9)
        clock[:] = [now, self.step]
        metrics = {k: float(v) for k, v in info.items()}
        self.logger.log("update", {**metrics, "time/steps_per_second": rate, "phase": phase}, self.step)

    def _start_observations(self) -> torch.Tensor:
        """Normalised observations at the start of an iteration: fresh episodes (seeded from the
        seed and the iteration), or the carried ones, putting the simulators back after a resume."""
        carry, n = self.buffer, self.num_envs
        if self.cfg.agent.reset_every_iteration or carry.obs is None:
            first = self.cfg.seed * EPISODE_SEED_STRIDE + carry.iteration * n
            raw, _ = self.envs.reset(seed=[first + i for i in range(n)])
            carry.episode_return[:], carry.episode_length[:] = 0.0, 0
            return self.agent.normalize(self._tensor(raw), update=True)
        if carry.env_states is not None:  # resumed mid-episode
            self.envs.reset()  # the wrappers must have seen a reset before the snapshot is restored
            for env, state in zip(self.envs.envs, carry.env_states):
                snapshot.restore(env, state)
            carry.env_states = None
        return carry.obs

    def _tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=torch.float32, device=self.device)

    def _iteration(self, progress) -> None:
        cfg, carry, n, T = self.cfg, self.buffer, self.num_envs, self.rollout_steps
        clock, steps_before = [time.perf_counter(), self.step], self.env_steps
        obs = self._start_observations()
        rollout: dict[str, list] = {k: [] for k in ("obs", "samples", "log_probs", "rewards", "terminated", "ended",
                                                    "next_obs")}
        for _ in range(T):
            action, sample, log_prob = self.agent.explore(obs)
            raw, reward, terminated, truncated, info = self.envs.step(action.cpu().numpy())
            ended = terminated | truncated
            env_steps = _step_info(info, "env_steps", ended, 1)
            next_obs = self.agent.normalize(self._tensor(raw), update=True)
            boot = next_obs
            if ended.any():
                final = np.stack([info["final_obs"][i] if ended[i] else raw[i] for i in range(n)])
                boot = torch.where(self._tensor(ended)[:, None] > 0, self.agent.normalize(self._tensor(final)), next_obs)
            rewards = self._tensor(reward)
            for key, value in (("obs", obs), ("samples", sample), ("log_probs", log_prob),
                               ("rewards", carry.reward_scaler(rewards, self._tensor(ended))),
                               ("terminated", self._tensor(terminated)), ("ended", self._tensor(ended)),
                               ("next_obs", boot)):
                rollout[key].append(value)
            self.step += int(env_steps.sum())
            progress.update(int(env_steps.sum()))
            self._account_episodes(reward, env_steps, ended, info)
            obs = next_obs
        batch = {k: torch.stack(v) for k, v in rollout.items()}
        info = self.agent.update(batch, carry.iteration, min(self.env_steps / cfg.total_steps, 1.0))
        carry.iteration += 1
        carry.obs = obs
        info["ppo/iteration"] = carry.iteration
        self._log_update(info, clock, phase=1)
        done = self.env_steps >= cfg.total_steps
        if done or (cfg.eval.every and self.env_steps // cfg.eval.every > steps_before // cfg.eval.every):
            self._evaluate()
        if done or self.env_steps // self.checkpoint_every > steps_before // self.checkpoint_every:
            self.save_checkpoint()

    def _account_episodes(self, reward, env_steps, ended, info) -> None:
        carry = self.buffer
        carry.episode_return += reward
        carry.episode_length += env_steps
        if not ended.any():
            return
        success = _step_info(info, "success", ended, np.nan) if self.manipulation else None
        for i in np.flatnonzero(ended):
            self.episode += 1
            row = {"train/episode_return": float(carry.episode_return[i]),
                   "train/episode_length": int(carry.episode_length[i]), "train/episode": self.episode, "phase": 1}
            if success is not None:
                row["train/success"] = float(success[i])
            self.logger.log("train", row, self.step)
            carry.episode_return[i], carry.episode_length[i] = 0.0, 0

    def save_checkpoint(self) -> None:
        carry = self.buffer
        if carry.obs is not None and not self.cfg.agent.reset_every_iteration:
            carry.env_states = [snapshot.capture(env) for env in self.envs.envs]
        super().save_checkpoint()
        carry.env_states = None

    # ---------------------------------------------------------------- evaluation
    def _evaluate(self) -> None:
        ev, modes = self.cfg.eval, self.eval_modes()
        if not (ev.episodes and modes):
            return
        self.eval_vector_env(self.make_eval_env)
        start = time.perf_counter()
        if self.manipulation:  # success rate of chunked episodes, the policy chosen by eval.deterministic
            devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):  # evaluation must not move the training RNG
                torch.manual_seed(self.cfg.seed * EPISODE_SEED_STRIDE + self.step)
                metrics = evaluate_chunked(self.eval_env, self._eval_act, ev.episodes, self.horizon, self.act_dim,
                                           seed=self.cfg.seed + 10_000)
        else:
            metrics = evaluate(self.agent, self.eval_env, ev.episodes, self.cfg.seed, self.step, modes, self.device)
        metrics["time/eval_seconds"] = time.perf_counter() - start
        self.logger.log("eval", {**metrics, "phase": int(self.step > self.pretrain_steps)}, self.step)

    def _eval_act(self, obs: np.ndarray) -> np.ndarray:
        action = self.agent.act(self._tensor(obs), deterministic=self.cfg.eval.deterministic)
        return action.cpu().numpy()


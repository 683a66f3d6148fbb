"""Stop bad configuration values before any training starts, with one line naming the key."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf


class ConfigError(ValueError):
    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key = key


def _get(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None)


# (key, predicate, reason). Keys that a config does not have are skipped.
RULES = [
    ("total_steps", lambda v: isinstance(v, int) and v >= 0, "must be a non-negative integer"),
    ("learning_starts", lambda v: isinstance(v, int) and v >= 0, "must be a non-negative integer"),
    ("batch_size", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("buffer_size", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("agent.replay_recent_fraction", lambda v: 0.0 <= v < 1.0, "must lie in [0, 1)"),
    ("agent.replay_recent_window", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("gamma", lambda v: 0.0 <= v <= 1.0, "must lie in [0, 1]"),
    ("eval.every", lambda v: isinstance(v, int) and v >= 0, "must be a non-negative integer (0 disables)"),
    ("eval.episodes", lambda v: isinstance(v, int) and v >= 0, "must be a non-negative integer"),
    ("eval.workers", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("num_envs", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("utd", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer (updates per env transition)"),
    ("log_every", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("checkpoint_every", lambda v: v == "auto" or (isinstance(v, int) and v >= 1),
     "must be a positive integer or auto (every 10% of the run, at most 10k steps apart)"),
    ("agent.actor.steps", lambda v: isinstance(v, int) and v >= 1, "K (flow steps) must be an integer >= 1"),
    ("agent.actor_lr", lambda v: v > 0, "must be positive"),
    ("agent.alpha_init", lambda v: v > 0, "must be positive"),
    ("critic.lr", lambda v: v > 0, "must be positive"),
    ("critic.policy_delay", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("critic.actor_updates", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("critic.network.n", lambda v: isinstance(v, int) and v >= 1, "must be a positive integer"),
    ("critic.tau", lambda v: 0.0 < v <= 1.0, "must lie in (0, 1]"),
    ("seeds", lambda v: len(v) >= 1 and all(isinstance(s, int) and s >= 0 for s in v) and len(set(v)) == len(v),
     "must be a non-empty list of distinct non-negative integers (or null for one seed)"),
]

VECTORISED_AGENT = "sacflow.agents.sac.SACAgent"
VECTORISED_ACTORS = ("sacflow.policies.flow.FlowPolicy", "sacflow.policies.gaussian.GaussianPolicy")


def check_vectorised(cfg: DictConfig) -> None:
    """``seeds=[...]`` trains the SAC family from scratch only; anything else is refused, not run one by one."""
    if cfg.trainer != "online":
        raise ConfigError("seeds", f"vectorised seeds need trainer=online (the from-scratch regime), got {cfg.trainer!r}")
    if cfg.agent.cls != VECTORISED_AGENT:
        raise ConfigError("seeds", f"vectorised seeds train the SAC family ({VECTORISED_AGENT}: sac_flow_t, "
                                   f"sac_flow_g, sac_flow_mlp, sac_gaussian), got agent.cls {cfg.agent.cls}")
    if cfg.agent.actor._target_ not in VECTORISED_ACTORS:  # DIME runs SAC's agent with a diffusion sampler
        raise ConfigError("seeds", f"vectorised seeds take a flow or Gaussian actor {VECTORISED_ACTORS}, "
                                   f"got agent.actor {cfg.agent.actor._target_}")
    if cfg.agent.get("grad_diagnostic_every"):
        raise ConfigError("seeds", "the gradient diagnostic needs each seed's own backward pass; "
                                   "set agent.grad_diagnostic_every=0 or run seeds one by one")


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError on the first value that cannot be right."""
    for key, ok, reason in RULES:
        value = _get(cfg, key)
        if value is None:
            continue
        try:
            valid = ok(value)
        except TypeError:
            valid = False
        if not valid:
            raise ConfigError(key, f"{reason} (got {value!r})")


def check_env_dims(cfg: DictConfig, env_id: str, obs_dim: int, act_dim: int) -> None:
    """The optional ``env.obs_dim``/``env.action_dim`` keys must match the real environment."""
    for key, actual in (("env.obs_dim", obs_dim), ("env.action_dim", act_dim)):
        expected = _get(cfg, key)
        if expected is not None and expected != actual:
            raise ConfigError(key, f"{expected} does not match {env_id}, which has {actual}")

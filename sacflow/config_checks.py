"""The config error every refusal raises, and the checks that need more than the schemas (sacflow.schema):
vectorised seeds, and the env's real dimensions once it is built."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

_NO_VALUE = object()


class ConfigError(ValueError):
    """``<key>=<value>: <reason>`` (or ``<key>: <reason>`` where no value applies), printed as one line."""

    def __init__(self, key: str, reason: str, value=_NO_VALUE):
        super().__init__(f"{key}: {reason}" if value is _NO_VALUE else f"{key}={show(value)}: {reason}")
        self.key = key


def show(value) -> str:
    """A value as it is typed on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _get(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=None)


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


def check_env_dims(cfg: DictConfig, env_id: str, obs_dim: int, act_dim: int) -> None:
    """The optional ``env.obs_dim``/``env.action_dim`` keys must match the real environment."""
    for key, actual in (("env.obs_dim", obs_dim), ("env.action_dim", act_dim)):
        expected = _get(cfg, key)
        if expected is not None and expected != actual:
            raise ConfigError(key, f"does not match {env_id}, which has {actual}", expected)

"""Field declarations for the config schemas: type (OmegaConf converts and checks it), presence and value rule.

``req``: the key must be set. ``opt``: the key may be absent (another regime's or a preset's key);
OmegaConf needs such fields ``Optional``, so whether ``null`` is a legal value is declared here.
``sub`` hands a nested mapping to another schema, or to a function that picks one from the mapping
(its ``_target_``, ``cls`` or ``suite``).
A rule returns ``None`` when the value is fine, else the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import field
from typing import Any

from omegaconf import MISSING

Rule = Callable[[Any], "str | None"]


def req(rule: Rule | None = None, *, null: bool = False) -> Any:
    return field(default=MISSING, metadata={"required": True, "rule": rule, "null": null})


def opt(rule: Rule | None = None, *, null: bool = False) -> Any:
    return field(default=None, metadata={"required": False, "rule": rule, "null": null})


def sub(schema: type | Callable[[Any, str], type], *, required: bool = True) -> Any:
    """A nested mapping checked by ``schema`` (declared ``Any`` so each level is merged on its own)."""
    return field(default=None, metadata={"required": required, "schema": schema, "null": False})


def at_least(low: float) -> Rule:
    return lambda v: None if v >= low else f"must be >= {low:g}"


def positive(v) -> str | None:
    return None if v > 0 else "must be positive"


def finite_positive(v) -> str | None:
    return None if math.isfinite(v) and v > 0 else "must be a positive finite number"


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Rule:
    def rule(v):
        above = v > low if low_open else v >= low
        below = v < high if high_open else v <= high
        if above and below:
            return None
        return f"must lie in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return rule


def one_of(*names: str) -> Rule:
    return lambda v: None if v in names else f"must be one of {', '.join(names)}"


def widths(v) -> str | None:
    """Hidden layer sizes: a list of positive integers (an empty list is a linear map)."""
    return None if all(w >= 1 for w in v) else "every width must be a positive integer"


def non_empty_widths(v) -> str | None:
    return "needs at least one hidden layer" if len(v) == 0 else widths(v)


def bounds(v) -> str | None:
    if len(v) != 2 or not v[0] < v[1]:
        return "must be [low, high] with low < high"
    return None


def all_of(*rules: Rule) -> Rule:
    def rule(v):
        return next((reason for r in rules if (reason := r(v))), None)
    return rule

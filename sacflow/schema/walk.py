"""Check a resolved config mapping against a schema: OmegaConf converts and type-checks each level,
then presence, null, value rules, nested schemas and the schema's relations are checked in order.

The result holds the converted values of the keys the config has (an optional key stays absent),
so ``no`` becomes ``False`` and ``"10"`` becomes ``10`` exactly as OmegaConf's typed nodes would.
"""

from __future__ import annotations

import difflib
import typing
from dataclasses import fields, is_dataclass

from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from sacflow.config_checks import ConfigError

TYPE_WORDS = {int: "an integer", float: "a number", bool: "a boolean (true/false, yes/no, on/off)", str: "a string"}
LIST_WORDS = {int: "a list of integers", float: "a list of numbers", bool: "a list of booleans", str: "a list of strings"}


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path and not key.startswith("[") else f"{path}{key}"


def check_mapping(node, schema: type, path: str, root: dict) -> dict:
    """The converted mapping, or ConfigError naming the first key that is wrong."""
    if not isinstance(node, dict):
        raise ConfigError(path, f"must be a mapping of keys ({schema.__name__})", node)
    converted = _merge(schema, node, path)
    out = {}
    for f in fields(schema):
        key, meta = join(path, f.name), f.metadata
        if f.name not in node:
            if meta["required"]:
                raise ConfigError(key, f"missing: {_what(schema)} must set it")
            continue
        nested = meta.get("schema")
        value = node[f.name] if nested else converted[f.name]
        if value is None:
            if not meta["null"]:
                raise ConfigError(key, "must not be null", None)
        elif nested:
            value = check_mapping(value, nested if is_dataclass(nested) else nested(value, key), key, root)
        elif meta["rule"] is not None and (reason := meta["rule"](value)):
            raise ConfigError(key, reason, value)
        out[f.name] = value
    for relation in getattr(schema, "relations", ()):
        if found := relation(out, root):
            subkey, reason = found
            raise ConfigError(join(path, subkey), reason, _select(out, subkey))
    return out


def _merge(schema: type, node: dict, path: str) -> dict:
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), node)
    except ConfigKeyError as err:
        known = [f.name for f in fields(schema)]
        close = difflib.get_close_matches(str(err.key), known, n=1)
        hint = f"; did you mean {join(path, close[0])}?" if close else ""
        raise ConfigError(join(path, str(err.key)), f"no such key in {_what(schema)}{hint}", node.get(err.key)) from None
    except ValidationError as err:
        top = str(err.full_key).split(".")[0].split("[")[0]
        raise ConfigError(join(path, str(err.full_key)), f"must be {_expected(schema, top)}",
                          _select(node, str(err.full_key))) from None
    return OmegaConf.to_container(merged)


def _expected(schema: type, name: str) -> str:
    kind = typing.get_type_hints(schema).get(name)
    optional = [a for a in typing.get_args(kind) if a is not type(None)]
    kind = optional[0] if typing.get_origin(kind) is not list and optional else kind  # T | None -> T
    if typing.get_origin(kind) is list:
        return LIST_WORDS.get(typing.get_args(kind)[0], "a list")
    return TYPE_WORDS.get(kind, "of the declared type")


def _what(schema: type) -> str:
    return (schema.__doc__ or schema.__name__).strip().splitlines()[0].rstrip(".")


def _select(node: dict, dotted: str):
    value = node
    for part in dotted.replace("[", ".").replace("]", "").split("."):
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return value

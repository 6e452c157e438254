"""Configs are dataclasses; a run composes them into one nested config.

Each component (a model, a task's data options, the engine) owns a dataclass with its defaults.
A run is ``{"task": ..., "model_name": ..., "model": ModelCfg, "data": DataCfg, "train": TrainConfig}``
and accepts dotted overrides from the command line (``--set model.hidden=256``) and from a YAML
file (``--config run.yaml``, with the same nesting). Unknown keys are a :class:`UserError` that
lists the valid ones; values are parsed to the field's type.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError


def to_dict(cfg) -> dict:
    """A dataclass (possibly nested) as a plain JSON-able dict; tuples become lists."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(value: Any, typ: Any, key: str) -> Any:
    """Turn ``value`` (a string from the command line, or a YAML/JSON value) into ``typ``."""
    origin = typing.get_origin(typ)
    args = typing.get_args(typ)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except (ValueError, UserError) as e:
                errors.append(str(e))
        raise UserError(f"{key}: cannot read {value!r} as {typ}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(",") if v.strip()]
        inner = args[0] if args else str
        seq = [_coerce(v, inner, key) for v in value]
        return tuple(seq) if origin is tuple else seq
    if typ is bool:
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise UserError(f"{key}: expected true or false; found {value!r}")
    if typ is int:
        try:
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        except (ValueError, TypeError):
            raise UserError(f"{key}: expected a whole number; found {value!r}") from None
    if typ is float:
        try:
            return float(value)
        except (ValueError, TypeError):
            raise UserError(f"{key}: expected a number; found {value!r}") from None
    if typ is str:
        return str(value)
    return value


def from_dict(cls, data: dict | None, prefix: str = ""):
    """Build dataclass ``cls`` from a (possibly partial) dict; unknown keys raise UserError."""
    data = dict(data or {})
    types = _field_types(cls)
    kwargs = {}
    for k, v in data.items():
        if k not in types:
            valid = ", ".join(sorted(types))
            raise UserError(f"unknown config key {prefix}{k}; valid keys under {prefix or 'the top level'}: {valid}")
        t = types[k]
        if dataclasses.is_dataclass(t):
            kwargs[k] = from_dict(t, v, prefix=f"{prefix}{k}.")
        else:
            kwargs[k] = _coerce(v, t, prefix + k)
    try:
        return cls(**kwargs)
    except ValueError as e:
        raise UserError(f"bad value in {prefix.rstrip('.') or 'config'}: {e}") from None


def valid_keys(cfg, prefix: str = "") -> list[str]:
    out = []
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if dataclasses.is_dataclass(v):
            out += valid_keys(v, prefix + f.name + ".")
        else:
            out.append(prefix + f.name)
    return out


def apply_overrides(cfg, overrides: dict[str, Any], section: str):
    """Return a copy of dataclass ``cfg`` with ``{"hidden": "256", ...}`` applied and re-validated."""
    if not overrides:
        return cfg
    types = _field_types(type(cfg))
    changes = {}
    for k, v in overrides.items():
        if k not in types:
            valid = ", ".join(f"{section}.{x}" for x in sorted(types))
            raise UserError(f"--set {section}.{k}: unknown key; valid keys: {valid}")
        changes[k] = _coerce(v, types[k], f"{section}.{k}")
    try:
        return dataclasses.replace(cfg, **changes)
    except ValueError as e:
        raise UserError(f"--set {section}: {e}") from None


def parse_set(items: list[str] | tuple[str, ...], sections: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Parse ``["model.hidden=256", "train.lr=1e-3"]`` into ``{"model": {"hidden": "256"}, ...}``."""
    out: dict[str, dict[str, str]] = {s: {} for s in sections}
    for item in items:
        if "=" not in item:
            raise UserError(f"--set expects KEY=VALUE such as model.hidden=256; found {item!r}")
        key, value = item.split("=", 1)
        sec, _, name = key.strip().partition(".")
        if sec not in out or not name:
            raise UserError(f"--set {key}: keys start with one of {', '.join(s + '.' for s in sections)} (e.g. model.hidden=256)")
        out[sec][name] = value.strip()
    return out


def read_config_file(path: str | Path) -> dict:
    """Read a YAML or JSON config file laid out like config.json (sections model, data, train)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--config {path}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise UserError(f"--config {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping with sections model/data/train; found {type(data).__name__}")
    return data

"""Checked parameters of ``builtin:NAME?key=value`` sources."""

from __future__ import annotations

from ..errors import UserError


def int_param(params: dict, key: str, default: int, lo: int = 1, hi: int = 10**7) -> int:
    """``params[key]`` as a whole number in [lo, hi] (``default`` when absent); else a UserError."""
    v = params.get(key, default)
    try:
        n = int(v)
    except (TypeError, ValueError):
        raise UserError(f"builtin parameter {key} must be a whole number; found {v!r}") from None
    if not lo <= n <= hi:
        raise UserError(f"builtin parameter {key} must be between {lo} and {hi}; found {n}")
    return n

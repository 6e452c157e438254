"""Checks every forecasting config shares: the window's sizes are positive and the targets fit the channels."""

from __future__ import annotations


def check_window(cfg, *positive: str) -> None:
    """Raise ValueError unless lookback, horizon, n_channels, n_targets and ``positive`` are all >= 1
    and n_targets <= n_channels (the targets are the leading channels)."""
    for name in ("lookback", "horizon", "n_channels", "n_targets", *positive):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    if cfg.n_targets > cfg.n_channels:
        raise ValueError(f"n_targets ({cfg.n_targets}) must be <= n_channels ({cfg.n_channels})")

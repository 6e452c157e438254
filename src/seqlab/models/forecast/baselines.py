"""Baselines every forecast is reported beside. No parameters, nothing to train.

    naive         : y_{L+h} = x_L                       (tomorrow = today; optimal for a random walk)
    seasonal_naive: y_{L+h} = x_{L+h-m*ceil(h/m)}       (the value one season m earlier)

Shapes: x (B, L, C) -> y (B, H, C_target).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_window


@dataclass
class BaselineConfig:
    lookback: int = 96     # L: past steps available (seasonal_naive needs L >= season)
    horizon: int = 24      # H: future steps predicted
    n_channels: int = 1    # C: input channels (targets first)
    n_targets: int = 1     # C_target: how many leading channels are forecast
    season: int = 24       # m: season length in steps for seasonal_naive (24 for hourly data)

    def __post_init__(self):
        check_window(self, "season")


class Naive(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        self.cfg = cfg

    @classmethod
    def from_config(cls, cfg: BaselineConfig):
        return cls(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) -> (B, H, C_target): the last observed value repeated H times."""
        last = x[:, -1:, : self.cfg.n_targets]                 # (B, 1, C_target)
        return last.expand(-1, self.cfg.horizon, -1).clone()   # (B, H, C_target)


class SeasonalNaive(nn.Module):
    def __init__(self, cfg: BaselineConfig):
        super().__init__()
        if cfg.season > cfg.lookback:
            raise ValueError(f"season ({cfg.season}) must be <= lookback ({cfg.lookback})")
        self.cfg = cfg

    @classmethod
    def from_config(cls, cfg: BaselineConfig):
        return cls(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) -> (B, H, C_target): the last full season, repeated to cover H steps."""
        m, L = self.cfg.season, x.shape[1]
        h = torch.arange(self.cfg.horizon, device=x.device)   # (H,)
        idx = L - m + h % m                                    # step h copies x at L - m + (h mod m)
        return x[:, idx, : self.cfg.n_targets]                 # (B, H, C_target)

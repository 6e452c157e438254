"""LTSF-Linear (Zeng et al., "Are Transformers Effective for Time Series Forecasting?", 2023):
one linear map from the lookback window to the horizon, per channel.

    Linear : y = W x + b                       x: the L past values of one channel, y: its H next
    NLinear: y = W (x - x_L) + b + x_L          subtract the last value, add it back
    DLinear: x = trend + season, trend = moving_average_k(x);  y = W_t trend + W_s season + b

All three are channel-independent: every channel goes through the same W (or its own W with
``individual=True``), so covariate channels are forecast too and the first ``n_targets`` are
returned. ``revin=True`` (the default) adds RevIN instance normalisation (RLinear, Li et al. 2023);
``revin=False`` gives the papers' exact models.

Shapes: x (B, L, C) -> y (B, H, C_target). Batch first; L lookback, H horizon, C channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..fast_dropout import Dropout
from .checks import check_window
from .patchtst import RevIN


@dataclass
class LinearConfig:
    lookback: int = 512    # L: past steps seen (capped at 1/8 of the training rows); on ETTh1 512 beat 336 and 720
                           # on validation MSE at every horizon (the LTSF-Linear paper used 336)
    horizon: int = 96      # H: future steps predicted at once
    n_channels: int = 1    # C: input channels (targets first, then covariates)
    n_targets: int = 1     # C_target: how many leading channels are forecast
    individual: bool = False  # one W per channel (True) or one shared W (False, the paper's ETT choice)
    kernel: int = 25       # DLinear moving-average window (odd); the paper's value
    revin: bool = True     # RevIN instance normalisation (RLinear); robust to level shifts such as
                           # prices leaving the training range. The papers' models: revin=false
    dropout: float = 0.0   # dropout on the input window; 0 = the paper's model

    def __post_init__(self):
        check_window(self, "kernel")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd so the moving average is centred, got {self.kernel}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class _TimeLinear(nn.Module):
    """Linear(L -> H) along time for every channel: shared, or one per channel."""

    def __init__(self, cfg: LinearConfig):
        super().__init__()
        n = cfg.n_channels if cfg.individual else 1
        self.weight = nn.Parameter(torch.empty(n, cfg.horizon, cfg.lookback))
        self.bias = nn.Parameter(torch.zeros(n, cfg.horizon))
        nn.init.uniform_(self.weight, -1 / cfg.lookback ** 0.5, 1 / cfg.lookback ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x (B, L, C) -> (B, H, C); weight (C or 1, H, L)
        return torch.einsum("blc,chl->bhc", x, self.weight.expand(x.shape[-1], -1, -1)) \
            + self.bias.T  # bias.T (H, C or 1)


class _Base(nn.Module):
    def __init__(self, cfg: LinearConfig):
        super().__init__()
        self.cfg = cfg
        self.revin = RevIN(cfg.n_channels) if cfg.revin else None
        self.drop = Dropout(cfg.dropout)

    @classmethod
    def from_config(cls, cfg: LinearConfig):
        return cls(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> forecast (B, H, C_target) float32, in the units of x.

        Example: ``DLinear(LinearConfig(lookback=48, horizon=12))(torch.randn(4, 48, 1)).shape``
        is ``(4, 12, 1)``.
        """
        if self.revin is not None:
            x = self.revin.normalize(x)
        y = self.map(self.drop(x))  # (B, H, C)
        if self.revin is not None:
            y = self.revin.denormalize(y)
        return y[:, :, : self.cfg.n_targets]  # (B, H, C_target)


class Linear(_Base):
    """y = W x + b along time, per channel."""

    def __init__(self, cfg: LinearConfig):
        super().__init__(cfg)
        self.linear = _TimeLinear(cfg)

    def map(self, x):
        return self.linear(x)


class NLinear(_Base):
    """Subtract the last observed value, map, add it back: robust to level shifts."""

    def __init__(self, cfg: LinearConfig):
        super().__init__(cfg)
        self.linear = _TimeLinear(cfg)

    def map(self, x):
        last = x[:, -1:, :]  # (B, 1, C)
        return self.linear(x - last) + last


class MovingAverage(nn.Module):
    """Centred moving average along time with edge replication, as in the DLinear code."""

    def __init__(self, kernel: int):
        super().__init__()
        self.kernel = kernel
        self.pool = nn.AvgPool1d(kernel, stride=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = (self.kernel - 1) // 2
        x = torch.cat([x[:, :1].expand(-1, pad, -1), x, x[:, -1:].expand(-1, pad, -1)], dim=1)  # (B, L+2p, C)
        return self.pool(x.transpose(1, 2)).transpose(1, 2)  # (B, C, L+2p) -> (B, C, L) -> (B, L, C)


class DLinear(_Base):
    """Decompose into trend (moving average) and remainder, one linear map for each, sum."""

    def __init__(self, cfg: LinearConfig):
        super().__init__(cfg)
        self.decompose = MovingAverage(cfg.kernel)
        self.trend = _TimeLinear(cfg)
        self.season = _TimeLinear(cfg)

    def map(self, x):
        trend = self.decompose(x)  # (B, L, C)
        return self.trend(trend) + self.season(x - trend)

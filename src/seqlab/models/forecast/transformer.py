"""A Transformer encoder over time steps (one token per step, all channels mixed):

    e_t = W_in x_t + p_t                  x_t: the C values at step t, p_t: learned position
    h   = Encoder(e_1 .. e_L)             n_layer pre-norm blocks (self-attention + FFN)
    u_t = W_out h_t                       (C_target values per step)
    y   = V u + b  along time             a linear map from the L steps to the H future steps

Attention is unmasked: every token is a past value already known at the forecast origin.
RevIN normalises each window first (as PatchTST does). For long lookbacks prefer ``patchtst``:
attention over L steps costs O(L^2), over N patches O((L/S)^2).

Shapes: x (B, L, C) -> y (B, H, C_target); inside (B, L, d_model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .checks import check_window
from .patchtst import RevIN


@dataclass
class TimeTransformerConfig:
    lookback: int = 96     # L: past steps, one token each (cost grows as L^2)
    horizon: int = 24      # H: future steps predicted at once
    n_channels: int = 1    # C: input channels (targets first, then covariates)
    n_targets: int = 1     # C_target: how many leading channels are forecast
    d_model: int = 64      # token width
    n_head: int = 4        # attention heads
    n_layer: int = 2       # encoder blocks
    d_ff: int = 128        # feed-forward width
    dropout: float = 0.1   # attention/FFN dropout
    revin: bool = True     # per-window normalisation, undone on the forecast

    def __post_init__(self):
        check_window(self, "d_model", "n_head", "n_layer", "d_ff")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class TimeTransformer(nn.Module):
    def __init__(self, cfg: TimeTransformerConfig):
        super().__init__()
        self.cfg = cfg
        self.revin = RevIN(cfg.n_channels) if cfg.revin else None
        self.W_in = nn.Linear(cfg.n_channels, cfg.d_model)
        self.pos = nn.Parameter(torch.empty(cfg.lookback, cfg.d_model).normal_(0, 0.02))
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.n_head, cfg.d_ff, cfg.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.n_layer, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.W_out = nn.Linear(cfg.d_model, cfg.n_targets)
        self.time_map = nn.Linear(cfg.lookback, cfg.horizon)

    @classmethod
    def from_config(cls, cfg: TimeTransformerConfig):
        return cls(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> forecast (B, H, C_target) float32, in the units of x.

        Example: ``TimeTransformer(TimeTransformerConfig(lookback=48, horizon=6))(torch.randn(2, 48, 1))``
        has shape ``(2, 6, 1)``. No mask: every input step is a known past value.
        """
        if self.revin is not None:
            x = self.revin.normalize(x)
        h = self.W_in(x) + self.pos                     # (B, L, d)
        h = self.norm(self.encoder(h))                  # (B, L, d)
        u = self.W_out(h)                               # (B, L, C_target)
        y = self.time_map(u.transpose(1, 2)).transpose(1, 2)  # (B, C_target, L) -> (B, C_target, H) -> (B, H, C_target)
        if self.revin is not None:
            y = self.revin.denormalize(y)
        return y

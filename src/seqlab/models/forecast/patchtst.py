"""PatchTST (Nie et al., "A Time Series is Worth 64 Words", ICLR 2023).

Each channel is forecast on its own (channel independence) by the same Transformer encoder:

    1. RevIN: z = (x - mean(x)) / std(x) per window and channel (statistics of the input only)
    2. patches: the L values are cut into N = (L - P) / S + 2 overlapping patches of length P,
       stride S (the last value repeated S times at the end: "padding_patch='end'")
    3. tokens: e_n = W_P p_n + W_pos[n]               (N tokens of width d_model)
    4. encoder: n_layers x [MHA -> add -> BatchNorm -> FFN(GELU) -> add -> BatchNorm]
    5. head: flatten the N tokens, one linear map to the H future values, undo RevIN

Shapes: x (B, L, C) -> y (B, H, C_target); inside, (B * C, N, d_model), heads (B*C, nh, N, hs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..fast_dropout import Dropout
from .checks import check_window


@dataclass
class PatchTSTConfig:
    lookback: int = 336    # L; the paper's PatchTST/42 uses 336, PatchTST/64 uses 512
    horizon: int = 96      # H: future steps predicted at once
    n_channels: int = 1    # C: input channels (targets first, then covariates)
    n_targets: int = 1     # C_target: how many leading channels are forecast
    patch_len: int = 16    # P: steps per patch (token); the paper's value
    stride: int = 8        # S: step between patch starts; half a patch, as in the paper
    d_model: int = 16      # token width; the paper uses 16 for the small ETTh datasets
    n_head: int = 4        # attention heads (d_model must divide by it)
    n_layer: int = 3       # encoder layers
    d_ff: int = 128        # feed-forward width
    dropout: float = 0.3   # attention/FFN dropout; the paper's ETTh value (small data overfits)
    head_dropout: float = 0.0  # dropout before the flatten head
    revin: bool = True     # RevIN instance normalisation; the paper's default

    def __post_init__(self):
        check_window(self, "patch_len", "stride", "d_model", "n_head", "n_layer", "d_ff")
        if self.patch_len > self.lookback:
            raise ValueError(f"patch_len ({self.patch_len}) must be <= lookback ({self.lookback})")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        for name in ("dropout", "head_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def n_patches(self) -> int:
        return (self.lookback - self.patch_len) // self.stride + 2


class RevIN(nn.Module):
    """Reversible instance normalisation (Kim et al., ICLR 2022): normalise each window and
    channel by its own mean and std (with a learnable affine), undo it on the forecast.
    Uses only the input window, so it cannot see the future."""

    def __init__(self, n_channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(n_channels))
        self.beta = nn.Parameter(torch.zeros(n_channels))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) -> normalised (B, L, C); remembers mean/std (B, 1, C) for ``denormalize``."""
        self.mean = x.mean(1, keepdim=True).detach()
        self.std = (x.var(1, keepdim=True, unbiased=False) + self.eps).sqrt().detach()
        return (x - self.mean) / self.std * self.gamma + self.beta

    def denormalize(self, y: torch.Tensor) -> torch.Tensor:
        """y (B, H, C') with C' <= C leading channels -> in the units of the input."""
        c = y.shape[-1]
        y = (y - self.beta[:c]) / (self.gamma[:c] + self.eps * self.eps)
        return y * self.std[..., :c] + self.mean[..., :c]


class _BatchNormTokens(nn.Module):
    """BatchNorm1d over d_model for token tensors (B, N, d); PatchTST's choice over LayerNorm."""

    def __init__(self, d: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(d)

    def forward(self, x):
        return self.bn(x.transpose(1, 2)).transpose(1, 2)  # (B, N, d) -> (B, d, N) -> (B, N, d)


class EncoderLayer(nn.Module):
    def __init__(self, cfg: PatchTSTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.norm1 = _BatchNormTokens(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), Dropout(cfg.dropout),
                                nn.Linear(cfg.d_ff, cfg.d_model))
        self.norm2 = _BatchNormTokens(cfg.d_model)
        self.drop = Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)  # 3 x (B, N, d)
        q, k, v = (t.view(B, N, self.n_head, d // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, N, hs)
        a = F.scaled_dot_product_attention(q, k, v)  # (B, nh, N, hs); every patch sees every patch (all past)
        a = a.transpose(1, 2).reshape(B, N, d)       # (B, N, d)
        x = self.norm1(x + self.drop(self.proj(a)))
        return self.norm2(x + self.drop(self.ff(x)))


class PatchTST(nn.Module):
    def __init__(self, cfg: PatchTSTConfig):
        super().__init__()
        self.cfg = cfg
        self.revin = RevIN(cfg.n_channels) if cfg.revin else None
        self.W_P = nn.Linear(cfg.patch_len, cfg.d_model)
        self.W_pos = nn.Parameter(torch.empty(cfg.n_patches, cfg.d_model).uniform_(-0.02, 0.02))
        self.drop = Dropout(cfg.dropout)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layer))
        self.head_drop = Dropout(cfg.head_dropout)
        self.head = nn.Linear(cfg.n_patches * cfg.d_model, cfg.horizon)

    @classmethod
    def from_config(cls, cfg: PatchTSTConfig):
        return cls(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> forecast (B, H, C_target) float32, in the units of x.

        Example: ``PatchTST(PatchTSTConfig(lookback=64, horizon=8))(torch.randn(2, 64, 1)).shape``
        is ``(2, 8, 1)``. No mask: every input step is a known past value.
        """
        cfg = self.cfg
        B, L, C = x.shape
        if self.revin is not None:
            x = self.revin.normalize(x)
        z = x.transpose(1, 2)                                      # (B, C, L)
        z = torch.cat([z, z[:, :, -1:].expand(-1, -1, cfg.stride)], dim=2)  # (B, C, L + S)
        z = z.unfold(2, cfg.patch_len, cfg.stride)                 # (B, C, N, P)
        z = z.reshape(B * C, cfg.n_patches, cfg.patch_len)          # (B*C, N, P)
        h = self.drop(self.W_P(z) + self.W_pos)                    # (B*C, N, d)
        for layer in self.layers:
            h = layer(h)                                           # (B*C, N, d)
        h = h.reshape(B, C, cfg.n_patches * cfg.d_model)           # (B, C, N*d)
        y = self.head(self.head_drop(h)).transpose(1, 2)           # (B, C, H) -> (B, H, C)
        y = y[:, :, : cfg.n_targets]                               # (B, H, C_target)
        return self.revin.denormalize(y) if self.revin is not None else y

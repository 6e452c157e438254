"""Recurrent forecasters (the lecture notes' "predict tomorrow's price with an RNN"):

    direct : h_L = RNN(x_1 .. x_L);  y_{1..H} = W h_L + b            (all H steps at once)
    seq2seq: encoder h_L = RNN_enc(x_1 .. x_L); decoder rolls out the horizon one step at a time,
             s_0 = h_L, s_h = RNN_dec(y_{h-1}, s_{h-1}), y_h = W s_h + b, y_0 = last observed target

``cell`` is "rnn" (tanh), "lstm" or "gru" (torch.nn implementations). Unlike the linear and
patch models, the recurrent cell mixes every input channel, so covariates help the targets.

``norm="revin"`` (default) normalises each window by its own mean/std first; without it a
recurrent model trained on one price level extrapolates badly to another.

Shapes: x (B, L, C) -> y (B, H, C_target); the RNN state (n_layer, B, hidden).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..fast_dropout import Dropout
from .checks import check_window
from .patchtst import RevIN

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@dataclass
class RecurrentConfig:
    lookback: int = 96     # L: past steps read by the encoder (longer windows slow an RNN linearly)
    horizon: int = 24      # H: future steps predicted
    n_channels: int = 1    # C: input channels (targets first, then covariates)
    n_targets: int = 1     # C_target: how many leading channels are forecast
    cell: str = "lstm"     # rnn | lstm | gru
    hidden: int = 64       # hidden units per layer; small data overfits larger
    n_layer: int = 2       # stacked recurrent layers
    dropout: float = 0.1   # between stacked layers and before the head
    decoder: str = "direct"  # direct (one linear head for all H steps) | seq2seq (roll out step by step)
    norm: str = "revin"    # revin (per-window mean/std) | last (subtract last value) | none

    def __post_init__(self):
        check_window(self, "hidden", "n_layer")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.decoder not in ("direct", "seq2seq"):
            raise ValueError(f"decoder must be direct or seq2seq, got {self.decoder!r}")
        if self.norm not in ("revin", "last", "none"):
            raise ValueError(f"norm must be revin, last or none, got {self.norm!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class RecurrentForecaster(nn.Module):
    def __init__(self, cfg: RecurrentConfig):
        super().__init__()
        self.cfg = cfg
        rnn = CELLS[cfg.cell]
        drop = cfg.dropout if cfg.n_layer > 1 else 0.0
        self.encoder = rnn(cfg.n_channels, cfg.hidden, cfg.n_layer, batch_first=True, dropout=drop)
        self.revin = RevIN(cfg.n_channels) if cfg.norm == "revin" else None
        self.drop = Dropout(cfg.dropout)
        if cfg.decoder == "direct":
            self.head = nn.Linear(cfg.hidden, cfg.horizon * cfg.n_targets)
        else:
            self.decoder = rnn(cfg.n_targets, cfg.hidden, cfg.n_layer, batch_first=True, dropout=drop)
            self.head = nn.Linear(cfg.hidden, cfg.n_targets)

    @classmethod
    def from_config(cls, cfg: RecurrentConfig):
        return cls(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, L, C) float32 -> forecast (B, H, C_target) float32, in the units of x.

        Example: ``RecurrentForecaster(RecurrentConfig(lookback=30, horizon=5))(torch.randn(8, 30, 1))``
        has shape ``(8, 5, 1)``. No mask: every input step is a known past value.
        """
        cfg = self.cfg
        B = x.shape[0]
        last = x[:, -1:, :]  # (B, 1, C)
        if self.revin is not None:
            x = self.revin.normalize(x)
        elif cfg.norm == "last":
            x = x - last
        out, state = self.encoder(x)  # out (B, L, hidden); state (n_layer, B, hidden) (a pair for LSTM)
        if cfg.decoder == "direct":
            y = self.head(self.drop(out[:, -1]))        # (B, H * C_target)
            y = y.view(B, cfg.horizon, cfg.n_targets)   # (B, H, C_target)
        else:
            y_prev = x[:, -1:, : cfg.n_targets]         # (B, 1, C_target): last observed, normalised
            steps = []
            for _ in range(cfg.horizon):
                o, state = self.decoder(y_prev, state)  # o (B, 1, hidden)
                y_prev = self.head(self.drop(o)) + y_prev  # (B, 1, C_target): predict the change
                steps.append(y_prev)
            y = torch.cat(steps, dim=1)                 # (B, H, C_target)
        if self.revin is not None:
            return self.revin.denormalize(y)
        return y + last[:, :, : cfg.n_targets] if cfg.norm == "last" else y

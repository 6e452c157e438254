"""Forecasting data in and numbers out, shared by training (``forecast.py``) and a loaded run
(``forecast_run.py``): windows gathered on a device, and the model scored
beside the naive baselines on the same windows.

Shapes: a window is (L + H, C) rows of the standardised series; ``Windows.get`` returns inputs
(B, L, C) and targets (B, H, C_target).
"""

from __future__ import annotations

import numpy as np
import torch

from ..metrics import forecast as fm
from ..data.series import read_frame  # noqa: F401  (re-exported for the task and the loaded run)
from ..data.timeseries import Scaler
from ..models.forecast import BASELINES, MODELS


def build_model(name: str, cfg) -> torch.nn.Module:
    return MODELS[name][1].from_config(cfg)




class Windows:
    """The standardised series as one tensor; batches are window start rows gathered on demand."""

    def __init__(self, z: np.ndarray, lookback: int, horizon: int, n_targets: int):
        self.z = torch.from_numpy(z)  # (N, C)
        self.L, self.H, self.T = lookback, horizon, n_targets
        self._ar = torch.arange(lookback + horizon)
        self._on = {}

    def get(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        dev = starts.device
        if dev not in self._on:
            self._on[dev] = (self.z.to(dev), self._ar.to(dev))
        z, ar = self._on[dev]
        w = z[starts[:, None] + ar]                     # (B, L + H, C)
        return w[:, : self.L], w[:, self.L:, : self.T]   # (B, L, C), (B, H, C_target)


@torch.inference_mode()
def predict_windows(model, win: Windows, starts: np.ndarray, device, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Scaled predictions and truths for windows at ``starts``: two (B, H, C_target) arrays."""
    preds, trues = [], []
    model.eval()
    for i in range(0, len(starts), batch):
        x, y = win.get(torch.as_tensor(starts[i: i + batch], device=device))
        preds.append(model(x).float().cpu().numpy())
        trues.append(y.cpu().numpy())
    return np.concatenate(preds), np.concatenate(trues)


def compare(model, name, cfg, win: Windows, starts, scaler: Scaler, mase_scale, device, season: int,
            steps: bool = True) -> dict:
    """Metrics of the model and both baselines on the same windows: {name: report, naive: ..., ...}."""
    out = {}
    T = win.T
    contenders = [(name, model)] + [(b, build_model(b, _baseline_cfg(b, cfg, season))) for b in BASELINES if b != name]
    for label, m in contenders:
        p, y = predict_windows(m.to(device), win, starts, device)
        out[label] = fm.report(p, y, scaler.inverse(p, T), scaler.inverse(y, T), mase_scale, steps=steps)
    return out


def _baseline_cfg(name, cfg, season: int):
    return MODELS[name][0](lookback=cfg.lookback, horizon=cfg.horizon, n_channels=cfg.n_channels,
                           n_targets=cfg.n_targets, season=max(1, min(season, cfg.lookback)))

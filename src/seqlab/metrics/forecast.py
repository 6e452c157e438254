"""Forecast error metrics on arrays ``pred``, ``true`` of shape (B, H, C): B windows, H horizon
steps, C target channels. Every metric averages over all windows, steps and channels, the
LTSF-Linear/PatchTST convention, unless it says ``per_step``.

    MSE   = mean (y - yhat)^2                MAE = mean |y - yhat|
    MAPE  = 100 mean |y - yhat| / |y|        (points with y = 0 are left out)
    sMAPE = 100 mean 2 |y - yhat| / (|y| + |yhat|)
    MASE  = MAE / mean |x_t - x_{t-m}| over the training part (the in-sample seasonal naive MAE;
            < 1 means better than the seasonal naive forecast made in-sample)
    pinball_q = mean max(q (y - yhat), (q - 1) (y - yhat))   (the quantile loss)
"""

from __future__ import annotations

import numpy as np
import torch


def mse(pred, true) -> float:
    return float(np.mean((np.asarray(pred, np.float64) - true) ** 2))


def mae(pred, true) -> float:
    return float(np.mean(np.abs(np.asarray(pred, np.float64) - true)))


def mape(pred, true) -> float:
    true = np.asarray(true, np.float64)
    keep = np.abs(true) > 1e-8
    if not keep.any():
        return float("nan")
    return float(100 * np.mean(np.abs(pred - true)[keep] / np.abs(true[keep])))


def smape(pred, true) -> float:
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    denom = np.abs(true) + np.abs(pred)
    ratio = np.where(denom > 1e-8, 2 * np.abs(pred - true) / np.where(denom > 1e-8, denom, 1), 0.0)
    return float(100 * np.mean(ratio))


def mase_scale(train: np.ndarray, season: int = 1) -> np.ndarray:
    """Per-channel MAE of the in-sample seasonal naive forecast on ``train`` (N, C) -> (C,)."""
    train = np.asarray(train, np.float64)
    m = season if len(train) > season else 1
    scale = np.mean(np.abs(train[m:] - train[:-m]), axis=0)  # (C,)
    return np.where(scale > 1e-12, scale, 1.0)


def mase(pred, true, scale: np.ndarray) -> float:
    """MAE per channel divided by that channel's ``mase_scale``, averaged over channels."""
    err = np.abs(np.asarray(pred, np.float64) - true).mean(axis=(0, 1))  # (C,)
    return float(np.mean(err / scale))


def per_step(pred, true) -> dict[str, list[float]]:
    """MSE and MAE at each horizon step h = 1..H (averaged over windows and channels)."""
    d = np.asarray(pred, np.float64) - true  # (B, H, C)
    return {"mse": (d ** 2).mean(axis=(0, 2)).tolist(), "mae": np.abs(d).mean(axis=(0, 2)).tolist()}


def report(pred_scaled, true_scaled, pred, true, scale: np.ndarray | None = None,
           steps: bool = True) -> dict:
    """All metrics for one model: ``*_scaled`` on standardised data (the papers' numbers), the
    rest on the original scale. ``scale`` from ``mase_scale`` (original units) enables MASE."""
    out = {"mse_scaled": mse(pred_scaled, true_scaled), "mae_scaled": mae(pred_scaled, true_scaled),
           "mse": mse(pred, true), "mae": mae(pred, true), "mape": mape(pred, true),
           "smape": smape(pred, true)}
    if scale is not None:
        out["mase"] = mase(pred, true, scale)
    if steps:
        out["per_step"] = per_step(pred, true)
    return out


# ---------------------------------------------------------------------------- losses (torch)
def pinball_loss(pred: torch.Tensor, true: torch.Tensor, q: float) -> torch.Tensor:
    """Quantile (pinball) loss at level q in (0, 1); q = 0.5 gives half the MAE."""
    d = true - pred
    return torch.maximum(q * d, (q - 1) * d).mean()


def point_loss(name: str, pred: torch.Tensor, true: torch.Tensor, quantile: float = 0.5) -> torch.Tensor:
    """The training loss by name: mse (default), mae, huber or quantile (pinball at ``quantile``)."""
    if name == "mse":
        return torch.nn.functional.mse_loss(pred, true)
    if name == "mae":
        return torch.nn.functional.l1_loss(pred, true)
    if name == "huber":
        return torch.nn.functional.huber_loss(pred, true, delta=1.0)
    if name == "quantile":
        return pinball_loss(pred, true, quantile)
    raise ValueError(f"loss must be mse, mae, huber or quantile, got {name!r}")


LOSSES = ("mse", "mae", "huber", "quantile")

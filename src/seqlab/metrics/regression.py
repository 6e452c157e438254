"""Regression metrics: MAE, RMSE, R², Spearman's rank correlation (plain numpy, no scikit-learn/scipy).

Inputs are equal-length sequences of floats; with several outputs (N, K) every metric is computed per
output column and also averaged ("uniform average", as scikit-learn does).

    MAE  = mean |y - ŷ|
    RMSE = sqrt(mean (y - ŷ)^2)
    R²   = 1 - sum (y - ŷ)^2 / sum (y - ȳ)^2        (0 for a constant prediction of the mean; can be < 0)
    Spearman rho = Pearson correlation of the ranks (ties get their average rank)
"""

from __future__ import annotations

import numpy as np


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array; tied values get the mean of the ranks they span."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    # boundaries of runs of equal values in the sorted array
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0  # mean of ranks start+1 .. end
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def spearman(y_true, y_pred) -> float:
    """Spearman's rho of two 1-D sequences (0.0 when either is constant)."""
    return _pearson(rankdata(np.asarray(y_true)), rankdata(np.asarray(y_pred)))


def _one(y: np.ndarray, p: np.ndarray) -> dict:
    err = p - y
    ss_res = float((err ** 2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err ** 2).mean())),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0,
        "spearman": spearman(y, p),
    }


def regression_report(y_true, y_pred, names: list[str] | None = None) -> dict:
    """MAE, RMSE, R², Spearman and n for 1-D (N,) or multi-output (N, K) targets and predictions.

    Multi-output: the top-level numbers are averages over the K outputs and ``per_output`` holds each
    output's own numbers under ``names`` (default ``y0, y1, ...``).
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if y.shape != p.shape:
        raise ValueError(f"targets {y.shape} and predictions {p.shape} must have the same shape")
    if y.ndim == 1:
        y, p = y[:, None], p[:, None]
    if len(y) == 0:
        return {"mae": 0.0, "rmse": 0.0, "r2": 0.0, "spearman": 0.0, "n": 0}
    per = [_one(y[:, k], p[:, k]) for k in range(y.shape[1])]
    out = {key: float(np.mean([m[key] for m in per])) for key in per[0]}
    out["n"] = int(len(y))
    if y.shape[1] > 1:
        names = names or [f"y{k}" for k in range(y.shape[1])]
        out["per_output"] = dict(zip(names, per))
    return out

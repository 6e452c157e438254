"""Sequence regression: the classifiers' heads with real-valued outputs instead of class logits.

Every sequence classifier in :mod:`seqlab.models.classifier` (rnn, lstm, gru, textcnn, transformer)
and BERT ends in a linear layer ``W pool(h) + b`` of width ``n_classes``; built with
``n_classes = n_outputs`` that layer *is* a regression head: its K outputs are the predicted
(standardised) targets. Nothing else in the model changes, so every model gets regression for free:

    y_hat = W dropout(pool(h_{1:T})) + b        (B, K)
    loss  = MSE(y_hat, z)  or  Huber_delta(y_hat, z),   z = (y - mean_train) / std_train

Targets are standardised on the training set (:class:`Standardizer`) so one learning rate and one
initialisation fit targets of any scale; predictions are mapped back with ``inverse``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOSSES = ("mse", "huber")


@dataclass
class RegressionConfig:
    loss: str = "mse"  # mse | huber (less pulled by outliers)
    huber_delta: float = 1.0  # Huber: quadratic within delta (in standardised units), linear beyond
    standardize: bool = True  # fit mean/std of the targets on train, train on z-scores, restore on output

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"regression loss must be one of {LOSSES}; got {self.loss!r}")
        if not self.huber_delta > 0:
            raise ValueError(f"huber_delta must be > 0; got {self.huber_delta}")


class Standardizer:
    """Per-output z-scores: z = (y - mean) / std, fitted on training targets (N, K) or (N,).

    A constant output gets std 1 (so it maps to 0, not to inf). ``state()`` / ``from_state`` are
    plain lists, for config.json / meta.json.
    """

    def __init__(self, mean: list[float], std: list[float]):
        self.mean = torch.tensor(mean, dtype=torch.float32)  # (K,)
        self.std = torch.tensor(std, dtype=torch.float32)  # (K,)

    @classmethod
    def fit(cls, targets, enabled: bool = True) -> "Standardizer":
        y = torch.as_tensor(targets, dtype=torch.float64)
        if y.ndim == 1:
            y = y.unsqueeze(1)  # (N, 1)
        K = y.shape[1]
        if not enabled or len(y) == 0:
            return cls([0.0] * K, [1.0] * K)
        mean = y.mean(0)
        std = y.std(0, unbiased=False)
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        return cls(mean.tolist(), std.tolist())

    @property
    def n_outputs(self) -> int:
        return int(self.mean.numel())

    def transform(self, y: Tensor) -> Tensor:
        """(N, K) or (N,) targets -> z-scores of the same shape."""
        y = torch.as_tensor(y, dtype=torch.float32)
        mean, std = self.mean.to(y.device), self.std.to(y.device)
        return (y - mean) / std if y.ndim == 2 else (y - mean[0]) / std[0]

    def inverse(self, z: Tensor) -> Tensor:
        """z-scores (N, K) or (N,) -> targets in the original units."""
        mean, std = self.mean.to(z.device), self.std.to(z.device)
        return z * std + mean if z.ndim == 2 else z * std[0] + mean[0]

    def state(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> "Standardizer":
        return cls(list(state["mean"]), list(state["std"]))


def regression_loss(pred: Tensor, target: Tensor, loss: str = "mse", huber_delta: float = 1.0) -> Tensor:
    """Mean loss between predictions (B, K) and standardised targets (B, K) (or (B,) each)."""
    pred, target = pred.float(), target.float()
    if target.ndim == 1 and pred.ndim == 2 and pred.shape[1] == 1:
        target = target.unsqueeze(1)
    if loss == "mse":
        return F.mse_loss(pred, target)
    if loss == "huber":
        return F.huber_loss(pred, target, delta=huber_delta)
    raise ValueError(f"regression loss must be one of {LOSSES}; got {loss!r}")


def build_regressor(build, cfg, vocab_size: int, n_outputs: int, pad_id: int = 0) -> nn.Module:
    """Any classifier builder ``build(cfg, vocab_size, n_classes, pad_id)`` with K = n_outputs outputs."""
    if n_outputs < 1:
        raise ValueError(f"n_outputs must be >= 1; got {n_outputs}")
    return build(cfg, vocab_size, n_outputs, pad_id)


def suggests_regression(labels: list[str], min_distinct: int = 20) -> bool:
    """True when every label parses as a number and there are many distinct values: a score column,
    probably meant as a regression target rather than ``min_distinct``+ classes."""
    values = set()
    for s in labels:
        try:
            values.add(float(s))
        except (TypeError, ValueError):
            return False
    return len(values) >= min_distinct

"""Per-feature standardisation z = (v - mean) / std with statistics from training data only.

Used for forecasting series (one row per time step) and for numeric feature sequences in classify
(every step of every training sequence is a row). A constant feature gets std 1 (it stays constant
instead of blowing up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Scaler:
    mean: np.ndarray  # (C,)
    std: np.ndarray   # (C,), 1 where a feature is constant

    @classmethod
    def fit(cls, rows: np.ndarray, ddof: int = 0) -> "Scaler":
        """Fit on training rows (N, C); ``ddof=1`` for the sample standard deviation."""
        mean = rows.mean(0, dtype=np.float64)
        std = rows.std(0, dtype=np.float64, ddof=ddof) if len(rows) > ddof else np.zeros_like(mean)
        std = np.where(std > 1e-8, std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32))

    @classmethod
    def fit_train(cls, values: np.ndarray, split) -> "Scaler":
        """Fit on a series' training rows [0, split.train_end) only: valid/test values never leak in."""
        return cls.fit(values[: split.train_end])

    @classmethod
    def fit_sequences(cls, seqs: list) -> "Scaler":
        """Fit on every step of every sequence (a list of (T_i, C) lists), sample standard deviation."""
        return cls.fit(np.asarray([step for s in seqs for step in s], dtype=np.float64), ddof=1)

    def transform(self, v: np.ndarray) -> np.ndarray:
        return ((v - self.mean) / self.std).astype(np.float32)

    def transform_sequences(self, seqs: list) -> list:
        return [self.transform(np.asarray(s, dtype=np.float64)).tolist() for s in seqs]

    def inverse(self, z: np.ndarray, channels: int | None = None) -> np.ndarray:
        """Undo ``transform`` for arrays whose last axis is the first ``channels`` features."""
        c = z.shape[-1] if channels is None else channels
        return (z * self.std[:c] + self.mean[:c]).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Scaler":
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))

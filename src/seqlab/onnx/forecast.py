"""Forecasting through ``model.onnx``: ``forecast(values)`` as ``seqlab.load(run).forecast``, from arrays.

``values`` are the latest rows of the run's columns (targets first, then covariates), oldest first:
an array (N, C) with N >= lookback, or a dict {column: list}. Longer horizons than the trained H
roll the model forward on its own forecasts, possible only when every column is forecast.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .runtime import Runner


class OnnxForecaster(Runner):
    task = "forecast"

    def __init__(self, path, manifest, threads=None):
        super().__init__(path, manifest, threads)
        self.settings = manifest["forecast"]
        self.columns: list[str] = self.settings["columns"]
        self.targets: list[str] = self.settings["targets"]
        self.mean = np.asarray(self.settings["scaler"]["mean"], np.float32)
        self.std = np.asarray(self.settings["scaler"]["std"], np.float32)

    def predict_scaled(self, x: np.ndarray) -> np.ndarray:
        """x (B, L, C) scaled float32 -> (B, H, C_target) scaled."""
        return self.run("model", {"x": x.astype(np.float32)})["y"]

    def _matrix(self, values) -> np.ndarray:
        if isinstance(values, dict):
            missing = [c for c in self.columns if c not in values]
            if missing:
                raise UserError(f"expected the column(s) this run was trained on ({', '.join(self.columns)}); "
                                f"missing: {', '.join(missing)}")
            values = np.stack([np.asarray(values[c], np.float64) for c in self.columns], 1)
        v = np.asarray(values, np.float64)
        if v.ndim == 1:
            v = v[:, None]
        if v.ndim != 2 or v.shape[1] != len(self.columns):
            raise UserError(f"expected values of shape (rows, {len(self.columns)}) for columns "
                            f"{', '.join(self.columns)}; found shape {v.shape}")
        return v

    def forecast(self, values, horizon: int | None = None) -> dict:
        """``{"model", "forecast": {target: [...]}, "horizon"}`` for the rows after the last of ``values``."""
        s = self.settings
        L, H, n_t = s["lookback"], s["horizon"], s["n_targets"]
        v = self._matrix(values)
        horizon = horizon or H
        if horizon < 1:
            raise UserError(f"expected --horizon ≥ 1; found {horizon}")
        if len(v) < L:
            raise UserError(f"expected at least lookback = {L} rows to forecast from; found {len(v)}")
        if horizon > H and n_t != len(self.columns):
            raise UserError(f"expected --horizon ≤ {H} for a run with covariates: their future is unknown")
        z = ((v[-L:] - self.mean) / self.std).astype(np.float32)[None]  # (1, L, C)
        steps: list[np.ndarray] = []
        while sum(p.shape[1] for p in steps) < horizon:
            p = self.predict_scaled(z)  # (1, H, C_target)
            steps.append(p)
            if sum(q.shape[1] for q in steps) < horizon:
                z = np.concatenate([z, p], 1)[:, -L:]
        pred = np.concatenate(steps, 1)[0, :horizon]  # (horizon, C_target)
        out = (pred * self.std[:n_t] + self.mean[:n_t]).astype(np.float32)
        return {"model": self.manifest["model_name"], "horizon": horizon,
                "forecast": {c: out[:, j].tolist() for j, c in enumerate(self.targets)}}

    def predict(self, inputs: list) -> list[dict]:
        return [self.forecast(x) for x in inputs]

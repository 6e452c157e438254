"""A trained forecasting run: evaluate (with baselines and a rolling-origin backtest) and
forecast beyond the end of new data.

    run = seqlab.load("runs/etth1-dlinear")
    run.evaluate("etth1")                          # test part: model vs naive vs seasonal naive
    run.evaluate("etth1", backtest=10)             # + errors at 10 origins through the test part
    run.forecast("latest.csv", horizon=24)         # {"times": [...], "forecast": {col: [...]}}
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from ..data.timeseries import Scaler, TimeSeries, prepare_series, split_series
from ..errors import UserError
from .loaded import LoadedRun
from .forecast_io import Windows, compare, predict_windows, read_frame

log = logging.getLogger(__name__)


class LoadedForecaster(LoadedRun):
    task = "forecast"
    predict_options = {"horizon": "steps to forecast (default: the run's horizon; longer rolls forward)"}
    evaluate_options = {"backtest": "errors at N origins through the test part",
                        "plot": "PNG path: history, forecast and actuals of the last test window"}
    column_options = ("time_col",)

    def __init__(self, run, module, config, meta, comp, device="auto"):
        super().__init__(run, module, config, device)
        self.meta, self.comp = meta, comp
        self.data = comp.data
        self.scaler = Scaler.from_dict(meta["scaler"])
        self.columns: list[str] = meta["columns"]
        self.targets: list[str] = meta["targets"]

    # ---- reading new data with the run's settings
    def _series(self, src: str, time_col: str | None = None) -> tuple[TimeSeries, str | None]:
        df, _, dataset = read_frame(src)
        tcol = time_col or self.data.time_col
        absent = [c for c in self.columns if c not in map(str, df.columns)]
        if absent:
            raise UserError(f"expected the column(s) this run was trained on ({', '.join(self.columns)}) in {src}; "
                            f"missing: {', '.join(absent)} (found: {', '.join(map(str, df.columns))})")
        ts = self._prepare(df, tcol, src)
        return ts, dataset

    def _prepare(self, df, tcol, src) -> TimeSeries:
        n_t = self.meta["n_targets"]
        feats = self.columns[n_t:] or None
        return prepare_series(df, self.columns[:n_t], feats, tcol, self.data.missing, source=str(src))

    def _windows(self, ts: TimeSeries):
        return Windows(self.scaler.transform(ts.values), self.data.lookback, self.data.horizon, self.meta["n_targets"])

    # ---- evaluation
    def evaluate(self, src: str, write: bool = False, backtest: int = 0, plot=None, series=None,
                 time_col: str | None = None) -> dict:
        """Test-part metrics of the model and the baselines on ``src`` split as in training.

        ``backtest=N``: also the errors at N forecast origins spread evenly through the test part
        (the model is fixed; each origin forecasts H steps from the data known then).
        """
        ts = series if series is not None else self._series(src, time_col)[0]
        d = self.data
        split = split_series(ts, d.lookback, d.horizon, d.split)
        starts = split.starts("test")
        if len(starts) == 0:
            raise UserError(f"expected at least one test window of {d.lookback} + {d.horizon} rows in {src}; the test part "
                            f"has {split.test_end - split.valid_end} rows (give more data or a smaller --horizon)")
        win = self._windows(ts)
        scale = np.asarray(self.meta["mase_scale"])
        name = self.config["model_name"]
        res = compare(self.module, name, self.comp.model, win, starts, self.scaler, scale, self.device, d.season)
        out = {"model": name, **{k: v for k, v in res[name].items()}, "n_windows": len(starts),
               "horizon": d.horizon, "lookback": d.lookback, "targets": self.targets,
               "baselines": {k: v for k, v in res.items() if k != name},
               "test_start": str(ts.times[split.valid_end]), "test_end": str(ts.times[split.test_end - 1])}
        if backtest:
            out["backtest"] = self._backtest(ts, split, win, starts, backtest, scale)
        if plot or write:
            out["plot"] = str(self._plot_test(ts, win, starts, plot or self.run.file("forecast_test.png")))
        if write:
            self.run.write_json("test_metrics.json", out)
        return out

    def _backtest(self, ts, split, win, starts, n: int, scale) -> list[dict]:
        if n < 1:
            raise UserError(f"expected --backtest N ≥ 1; found {n}")
        picks = np.unique(np.linspace(0, len(starts) - 1, min(n, len(starts))).round().astype(int))
        rows = []
        for i in picks:
            s = starts[i: i + 1]
            res = compare(self.module, self.config["model_name"], self.comp.model, win, s, self.scaler, scale,
                          self.device, self.data.season, steps=False)
            row = {"origin": str(ts.times[s[0] + self.data.lookback - 1])}
            for label, r in res.items():
                row[label] = {k: r[k] for k in ("mse", "mae", "mse_scaled", "mae_scaled", "smape")}
            rows.append(row)
        return rows

    def _plot_test(self, ts, win, starts, path):
        from ..plots import forecast as forecast_plot

        s = starts[-1:]  # the last test window: its history, forecast and what happened
        p, y = predict_windows(self.module, win, s, self.device)
        L, H = self.data.lookback, self.data.horizon
        hist = ts.values[s[0]: s[0] + L, : self.meta["n_targets"]]
        times = ts.times[s[0]: s[0] + L + H]
        return forecast_plot(times[:L], hist, times[L:], self.scaler.inverse(p[0], p.shape[-1]), path,
                             self.targets, actual=self.scaler.inverse(y[0], y.shape[-1]),
                             title=f"{self.config['model_name']}: last test window", season=self.data.season)

    # ---- forecasting beyond the data
    @torch.inference_mode()
    def forecast(self, src: str, horizon: int | None = None, plot=None, time_col: str | None = None) -> dict:
        """Forecast ``horizon`` steps (default: the trained H) after the last row of ``src``.

        Longer than the trained H rolls the model forward on its own forecasts, possible only
        when every input channel is forecast (no covariates)."""
        ts = self._series(src, time_col)[0] if isinstance(src, str) else src
        L, H = self.data.lookback, self.data.horizon
        if horizon is None:
            horizon = H
        if horizon < 1:
            raise UserError(f"expected --horizon ≥ 1; found {horizon}")
        if len(ts.times) < L:
            raise UserError(f"expected at least lookback = {L} rows in {src} to forecast from; found {len(ts.times)}")
        n_t = self.meta["n_targets"]
        if horizon > H and n_t != len(self.columns):
            raise UserError(f"expected --horizon ≤ {H} for a run with covariates ({', '.join(self.columns[n_t:])}): their "
                            "future is unknown (retrain with a longer --horizon)")
        z = torch.from_numpy(self.scaler.transform(ts.values[-L:]))[None].to(self.device)  # (1, L, C)
        self.module.eval()
        steps = []
        while sum(p.shape[1] for p in steps) < horizon:
            p = self.module(z).float()                     # (1, H, C_target)
            steps.append(p)
            if sum(q.shape[1] for q in steps) < horizon:
                z = torch.cat([z, p], dim=1)[:, -L:]      # roll: (1, L, C), only when C == C_target
        pred = torch.cat(steps, dim=1)[0, :horizon].cpu().numpy()  # (horizon, C_target)
        values = self.scaler.inverse(pred, n_t)
        times = ts.future_times(horizon)
        out = {"model": self.config["model_name"], "origin": str(ts.times[-1]), "freq": ts.freq,
               "times": [str(t) for t in times], "forecast": {c: values[:, j].tolist() for j, c in enumerate(self.targets)},
               "notes": ts.notes}
        if plot:
            from ..plots import forecast as forecast_plot

            k = min(len(ts.times), max(3 * horizon, L))
            out["plot"] = str(forecast_plot(ts.times[-k:], ts.values[-k:, :n_t], times, values, plot, self.targets,
                                            title=f"{self.config['model_name']} forecast from {ts.times[-1]}"))
        return out

    # ---- `seqlab predict RUN --data FILE` is a forecast of each file
    def read_inputs(self, src: str, id_col: str | None = None, **columns) -> tuple[list, list | None]:
        if id_col:
            raise UserError("--id-col: a forecast reads one series per file; its rows carry their times")
        self._columns = columns
        return [src], None

    def predict(self, inputs, horizon: int | None = None) -> list[dict]:
        if isinstance(inputs, str):
            inputs = [inputs]
        return [self.forecast(x, horizon=horizon, **getattr(self, "_columns", {})) for x in inputs]

    def format_prediction(self, inp, pred: dict) -> str:
        return "\n".join(forecast_lines(pred))

    def format_metrics(self, metrics: dict) -> list[str]:
        """The model beside the baselines, then the backtest origins."""
        keys = ("mse_scaled", "mae_scaled", "mse", "mae", "mape", "smape", "mase")
        rows = {metrics["model"]: metrics, **metrics["baselines"]}
        lines = [f"{'':>16}" + "".join(k.rjust(11) for k in keys)]
        for name, r in rows.items():
            lines.append(f"{name:>16}" + "".join(f"{r.get(k, float('nan')):11.4f}" for k in keys))
        for row in metrics.get("backtest", []):
            lines.append(f"origin {row['origin']}: " + ", ".join(f"{n} mse {r['mse']:.4f}" for n, r in row.items()
                                                                  if n != "origin"))
        return lines


def forecast_lines(res: dict) -> list[str]:
    """A forecast result as a table: a header, then one line per future time."""
    cols = list(res["forecast"])
    lines = [f"{res['model']} forecast from {res['origin']} (step {res['freq']})",
             "time".ljust(20) + "".join(c[:14].rjust(15) for c in cols)]
    for i, t in enumerate(res["times"]):
        lines.append(t.ljust(20) + "".join(f"{res['forecast'][c][i]:15.4f}" for c in cols))
    return lines


def to_frame(result: dict) -> pd.DataFrame:
    """A forecast result as a table: one row per future time, one column per target."""
    return pd.DataFrame({"time": result["times"], **result["forecast"]})

"""Time-series forecasting: the notes' "predict tomorrow's stock price from the past ones".

Input: a CSV (or .gz) with a date/time column and numeric columns, ``etth1``, or a generated
``builtin:sine|seasonal|random_walk``. The series is sorted, checked and split by time
(train/valid/test, see :mod:`seqlab.data.timeseries`); standardised with training statistics
only; cut into windows ``x (L, C) -> y (H, C_target)``. A model (``linear``, ``nlinear``,
``dlinear``, ``sparsetsf``, ``patchtst``, ``transformer``, ``rnn``/``lstm``/``gru`` and their ``_seq2seq``
variants, or the baselines ``naive``/``seasonal_naive``) learns the map with an MSE loss
(or mae/huber/quantile) on the standardised values.

Every evaluation reports the model beside the naive and seasonal-naive baselines: MSE/MAE on
standardised data (the papers' numbers) and in original units, MAPE, sMAPE, MASE, per-step.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..metrics import forecast as fm
from ..data.timeseries import Scaler, TimeSeries, find_time_column, prepare_series, split_series
from ..device import pick_device
from ..errors import UserError
from ..models.forecast import BASELINES, MODELS as FORECASTERS, PRESETS
from ..train.engine import TrainConfig
from .base import TrainRequest
from .forecast_io import Windows, predict_windows, read_frame
from .protocol import ModelSpec, Prepared, TaskBase

log = logging.getLogger(__name__)

MODELS = {name: ModelSpec(cfg_cls, model_cls.from_config, presets=PRESETS.get(name, {}),
                          capabilities=frozenset({"no_training"}) if name in BASELINES else frozenset())
          for name, (cfg_cls, model_cls) in FORECASTERS.items()}

# one natural cycle per sampling frequency: the default horizon and seasonal-naive season
SEASON_BY_FREQ = {"1h": 24, "1D": 7, "B": 5, "15min": 96, "30min": 48, "10min": 144, "1min": 60, "7D": 52}


@dataclass
class ForecastData:
    time_col: str | None = None  # the date/time column (auto: a date-like name, else the first column of dates)
    target: str = ""  # column(s) to forecast, comma-separated, or "all" ("" = the only numeric column; OT for etth1)
    features: str = ""  # covariate columns read as inputs only, comma-separated
    lookback: int = 0  # L, input steps (0 = the model's preferred length, capped to fit the training part)
    horizon: int = 0  # H, steps forecast at once (0 = one season: 24 hourly, 7 daily, 5 business days)
    stride: int = 1  # step between training windows (1 = every window, as the benchmarks do)
    season: int = 0  # seasonal-naive season and MASE lag (0 = from the frequency, as for the horizon)
    missing: str = "error"  # error | ffill | interpolate
    split: str = ""  # "0.7,0.1,0.2" ratios | "ett" (12/4/4 months) | "VALID_START,TEST_START" ("" = ett for etth1, else ratios)
    loss: str = "mse"  # mse | mae | huber | quantile (pinball at data.quantile)
    quantile: float = 0.5  # the quantile the quantile loss targets

    def __post_init__(self):
        if self.lookback < 0 or self.horizon < 0 or self.season < 0 or self.stride < 1:
            raise ValueError("lookback, horizon and season must be ≥ 0 (0 = auto) and stride ≥ 1")
        if self.missing not in ("error", "ffill", "interpolate"):
            raise ValueError(f"missing must be error, ffill or interpolate; found {self.missing!r}")
        if self.loss not in fm.LOSSES:
            raise ValueError(f"loss must be one of {', '.join(fm.LOSSES)}; found {self.loss!r}")
        if not 0 < self.quantile < 1:
            raise ValueError(f"quantile must be in (0, 1); found {self.quantile}")


def default_train(model: str) -> TrainConfig:
    """Per-family defaults that train well on ETTh1-sized data on a CPU in minutes."""
    if model in ("linear", "nlinear", "dlinear"):
        # the LTSF-Linear recipe: Adam-like (no decay), batch 32, lr 5e-3 halved after every epoch, patience 3;
        # on ETTh1 it beat warmup + cosine with patience 5 on validation MSE at every horizon (benchmarks/RESULTS.md #5)
        return TrainConfig(epochs=20, batch_size=32, lr=5e-3, weight_decay=0.0, warmup=0.0, schedule="exponential",
                           gamma=0.5, min_lr_ratio=0.0, patience=3, metric="mse", mode="min", precision="fp32")
    if model == "sparsetsf":
        # the SparseTSF paper's ETTh1 recipe: Adam, batch 256, lr 0.02 decayed by 0.9 per epoch, 30 epochs, patience 5
        return TrainConfig(epochs=30, batch_size=256, lr=0.02, weight_decay=0.0, warmup=0.0, schedule="exponential",
                           gamma=0.9, min_lr_ratio=0.0, patience=5, metric="mse", mode="min", precision="fp32")
    if model == "patchtst":
        return TrainConfig(epochs=20, batch_size=128, lr=1e-3, weight_decay=0.0, warmup=0.05, patience=5,
                           metric="mse", mode="min", precision="fp32")
    return TrainConfig(epochs=30, batch_size=64, lr=1e-3, weight_decay=0.01, warmup=0.03, patience=6,
                       metric="mse", mode="min", precision="fp32")


MIN_STEPS = 1000  # small series still get this many optimizer steps (unless --epochs is given)
PATIENCE_STEPS = 300  # and early stopping waits at least this many steps without improvement


def _scale_to_data(train: TrainConfig, req: TrainRequest, n_windows: int) -> TrainConfig:
    """Epochs and patience count passes over the data; on a short series a pass is a few steps,
    so unless the user chose them, stretch both to a minimum number of optimizer steps (and slow an
    exponential schedule's per-epoch decay so that the whole run still decays by the same factor)."""
    steps = max(1, -(-n_windows // train.batch_size))

    def given(k):
        return req.given("train", k)

    changes = {}
    if not given("epochs") and train.epochs * steps < MIN_STEPS:
        changes["epochs"] = -(-MIN_STEPS // steps)
        if train.schedule == "exponential" and not given("gamma"):  # the same total decay over the longer run
            changes["gamma"] = train.gamma ** (train.epochs / changes["epochs"])
    if not given("patience") and train.patience and train.patience * steps < PATIENCE_STEPS:
        changes["patience"] = -(-PATIENCE_STEPS // steps)
    return dataclasses.replace(train, **changes) if changes else train


def load_series(src: str, data: ForecastData, flag: str = "--data") -> tuple[TimeSeries, str | None]:
    df, _, dataset = read_frame(src, flag)
    target = data.target
    if not target:
        if dataset == "etth1":
            target = "OT"
        else:
            tcol = find_time_column(df, data.time_col)
            numeric = [str(c) for c in df.columns if c != tcol and np.issubdtype(df[c].dtype, np.number)]
            if len(numeric) != 1:
                raise UserError(f"expected --target naming the column(s) to forecast; found numeric columns: "
                                f"{', '.join(numeric) or '(none)'} (use --target COL, --target A,B or --target all)")
            target = numeric[0]
    ts = prepare_series(df, target, data.features or None, data.time_col, data.missing, source=str(src))
    return ts, dataset


def resolve(data: ForecastData, model_cfg, ts: TimeSeries, dataset: str | None, n_rows_train: int | None = None):
    """Fill the data config's automatic values (0 / "") from the series and the model."""
    season = data.season or SEASON_BY_FREQ.get(ts.freq, 1)
    horizon = data.horizon or max(SEASON_BY_FREQ.get(ts.freq, 24), 1)
    if not data.horizon:
        log.info("horizon 0 = auto: %d steps (one season of %s data; set --horizon H to choose)", horizon, ts.freq)
    split = data.split or ("ett" if dataset == "etth1" else "0.7,0.1,0.2")
    lookback = data.lookback
    if not lookback:
        probe = split_series(ts, 1, 1, split) if n_rows_train is None else None
        n_train = n_rows_train or probe.train_end
        room = max(1, min((n_train - horizon) // 2, n_train // 8))  # leave most of the training part as windows
        lookback = max(1, min(getattr(model_cfg, "lookback", 96), room))
        lookback = max(lookback, min(season, room))
    return dataclasses.replace(data, season=season, horizon=horizon, split=split, lookback=lookback,
                               target=",".join(ts.targets), features=",".join(ts.columns[ts.n_targets:]))


def shape_model_cfg(model_cfg, data: ForecastData, ts: TimeSeries):
    changes = {"lookback": data.lookback, "horizon": data.horizon, "n_channels": len(ts.columns),
               "n_targets": ts.n_targets}
    if hasattr(model_cfg, "season"):
        changes["season"] = min(data.season, data.lookback)
    if hasattr(model_cfg, "patch_len") and model_cfg.patch_len > data.lookback // 2:
        changes["patch_len"] = max(2, data.lookback // 4)  # short windows: smaller patches
        changes["stride"] = max(1, changes["patch_len"] // 2)
    try:
        return dataclasses.replace(model_cfg, **changes)
    except ValueError as e:
        raise UserError(f"bad model settings for this data: {e}") from None


# ---------------------------------------------------------------- the task
class ForecastTask(TaskBase):
    name = "forecast"
    default_model = "linear"  # RevIN + one linear map: strong at every horizon, needs no season length
    data_config = ForecastData
    models = MODELS

    def default_train(self, model_name: str) -> TrainConfig:
        return default_train(model_name)

    def prepare(self, comp, req, run) -> Prepared:
        spec = self.models[comp.model_name]
        resume = run is not None
        if req.valid or req.test:
            raise UserError("forecast splits one series by time; drop --valid/--test and use --set data.split=... "
                            "(ratios like 0.7,0.1,0.2, 'ett', or two dates VALID_START,TEST_START)")
        ts, dataset = load_series(req.data, comp.data)
        data = comp.data if resume else resolve(comp.data, comp.model, ts, dataset)
        split = split_series(ts, data.lookback, data.horizon, data.split)
        model_cfg = comp.model if resume else shape_model_cfg(comp.model, data, ts)
        comp.data, comp.model = data, model_cfg
        scaler = Scaler.fit_train(ts.values, split)
        win = Windows(scaler.transform(ts.values), data.lookback, data.horizon, ts.n_targets)
        train_starts = split.starts("train", data.stride)
        valid_starts = split.starts("valid")
        if len(valid_starts) == 0:
            raise UserError(f"expected at least one validation window (horizon {data.horizon}); the validation part has "
                            f"{split.valid_end - split.train_end} rows (use a shorter --horizon or a larger split)")
        n_train = ts.values[: split.train_end, : ts.n_targets]
        meta = {"columns": ts.columns, "n_targets": ts.n_targets, "targets": ts.targets, "freq": ts.freq,
                "scaler": scaler.to_dict(), "notes": ts.notes, "dataset": dataset,
                "split_rows": [split.train_end, split.valid_end, split.test_end], "n_rows": len(ts.times),
                "first_time": str(ts.times[0]), "last_time": str(ts.times[-1]),
                "mase_scale": fm.mase_scale(n_train, data.season).tolist(),
                "n_windows": {"train": len(train_starts), "valid": len(valid_starts), "test": len(split.starts("test"))}}
        for note in ts.notes:
            log.warning("%s: %s", req.data, note)
        tcfg = comp.train = comp.train if resume else _scale_to_data(comp.train, req, len(train_starts))
        device = pick_device(tcfg.device)

        def train_batches(epoch):
            g = torch.Generator().manual_seed(tcfg.seed * 1000 + epoch)
            perm = torch.from_numpy(train_starts)[torch.randperm(len(train_starts), generator=g)]
            return [{"idx": b} for b in perm.split(tcfg.batch_size)]

        def loss_fn(m, batch):
            x, y = win.get(batch["idx"])
            pred = m(x).float()
            return fm.point_loss(data.loss, pred, y, data.quantile), y.numel()

        def eval_fn(m):
            p, y = predict_windows(m, win, valid_starts, device)
            return {"mse": fm.mse(p, y), "mae": fm.mae(p, y)}

        def fit_baseline(model, run):  # nothing to learn: save the (empty) weights and score validation
            run.save_weights("model.safetensors", model.state_dict())
            p, y = predict_windows(model.to(device), win, valid_starts, device)
            return {"stop_reason": "no_training", "best_mse": fm.mse(p, y), "steps": 0, "epochs_done": 0,
                    "wall_s": 0.0, "tokens_per_s": 0.0, "precision": "fp32", "best_step": 0}

        has_test = len(split.starts("test")) > 0
        return Prepared(lambda: spec.build(model_cfg), loss_fn, eval_fn, train_batches, meta,
                        test_source=req.data if has_test else None, test_options={"series": ts},
                        summary_extra={"windows": meta["n_windows"], "notes": ts.notes},
                        fit=fit_baseline if spec.has("no_training") else None)

    def load_run(self, run, device: str = "auto"):
        from .base import restore_composed
        from .forecast_run import LoadedForecaster
        from .loader import build_and_load, model_spec

        cfg = run.read_json("config.json")
        meta = run.read_json("meta.json")
        spec = model_spec(self, run, cfg)
        comp = restore_composed(run, spec.config_cls, ForecastData)
        module = build_and_load(run, spec, comp.model)
        return LoadedForecaster(run, module, cfg, meta, comp, device)


TASK = ForecastTask()

"""One loaded run behind the server: its description for ``/v1/models`` and its task's predict call.

Requests are checked here (against :class:`Limits`, so messages name the limit) before anything is
queued, then classify / seq2seq / forecast / mlm inputs go through the run's :class:`MicroBatcher`.
Only that batcher's worker thread touches the run's module, so the module is never run by two
threads at once. Language models are served by ``generation.py``.

Only the stable loaded-run API is used (``seqlab.load``: ``.predict``, ``.fill_mask``, ``.forecast``,
``.labels``, ``.tokenizer``, ``.src_tok``/``.tgt_tok``, ``.config``, ``.path``, ``.module``), plus one
documented exception for the attention matrix (see :func:`_translate_with_attention`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from ..errors import UserError
from .batcher import MicroBatcher
from .errors import ApiError
from .limits import Limits
from .metrics import Metrics
from .schemas import PredictRequest

log = logging.getLogger(__name__)

BATCHED_TASKS = ("classify", "seq2seq", "forecast", "mlm")
FIELDS = {"classify": {"texts", "text"}, "seq2seq": {"texts", "text", "beam", "n_best", "attention"},
          "mlm": {"texts", "text", "top_k"}, "forecast": {"csv", "columns", "data", "horizon", "history"}}


def check_texts(texts: list[str], limits: Limits, what: str = "texts", allow_empty: bool = False) -> None:
    """Count, emptiness and length of a request's texts; raises ApiError (413 for a limit, 422 otherwise)."""
    if not texts:
        raise ApiError(422, "invalid_request", f"expected at least one text in {what}; found an empty list")
    if len(texts) > limits.max_texts:
        raise ApiError(413, "too_large", f"expected at most {limits.max_texts} {what} per request (the server's "
                                         f"--max-texts); found {len(texts)} (split the request)")
    for i, t in enumerate(texts):
        if not allow_empty and not t.strip():
            raise ApiError(422, "invalid_request", f"expected non-empty text in {what}[{i}]; found {t!r}")
        if len(t) > limits.max_chars:
            raise ApiError(413, "too_large", f"expected at most {limits.max_chars} characters in {what}[{i}] "
                                             f"(the server's limit); found {len(t)} (shorten it)")


class ServedModel:
    """A run loaded once, named, described, warmed up and (for batched tasks) fed by a micro-batcher."""

    def __init__(self, name: str, run, limits: Limits, metrics: Metrics, engine: str = "torch"):
        self.name, self.run, self.limits, self.metrics = name, run, limits, metrics
        self.task: str = run.task
        self.engine_mode, self.engine = engine, None  # classify: a ClassifyEngine, made at warm-up
        self.batcher = None
        if self.task in BATCHED_TASKS:
            self.batcher = MicroBatcher(self._run_batch, limits.max_batch, limits.max_wait_ms, name=f"batch-{name}",
                                        on_batch=lambda n: metrics.batch_size(name, n))
        if self.task == "classify" and getattr(run, "tokenizer", None) is None:
            raise UserError(f"{run.path}: a classifier of numeric sequences cannot be served (it takes "
                            "feature rows, not text); serve a text classifier")

    # ---- description
    def info(self) -> dict:
        cfg, data = self.run.config, self.run.config.get("data", {})
        out = {"name": self.name, "task": self.task, "model": cfg.get("model_name"), "path": str(self.run.path),
               "parameters": sum(p.numel() for p in self.run.module.parameters()),
               "metrics": _summary_metrics(Path(self.run.path))}
        if self.task == "classify":
            out.update(labels=list(self.run.labels), tokenizer=_tok_kind(self.run.tokenizer), max_length=data.get("max_len"),
                       engine=self.engine.info if self.engine is not None else {"engine": "torch", "reason": "not warmed up"})
        elif self.task == "seq2seq":
            out.update(tokenizer={"source": _tok_kind(self.run.src_tok), "target": _tok_kind(self.run.tgt_tok)},
                       max_length=data.get("max_src_len"), beam=data.get("beam"),
                       attention=bool(getattr(self.run, "has_attention",
                                              cfg.get("model", {}).get("attention", "n/a") not in ("none", None))))
        elif self.task == "lm":
            out.update(tokenizer=_tok_kind(self.run.tokenizer), max_length=cfg.get("model", {}).get("block_size"))
        elif self.task == "mlm":
            out.update(tokenizer=_tok_kind(self.run.tokenizer), max_length=data.get("max_len"))
        elif self.task == "forecast":
            meta = _meta(Path(self.run.path))
            out.update(tokenizer=None, max_length=data.get("lookback"), lookback=data.get("lookback"),
                       horizon=data.get("horizon"), season=data.get("season"), targets=meta.get("targets"),
                       columns=meta.get("columns"), freq=meta.get("freq"), dataset=meta.get("dataset"),
                       trained_on=(cfg.get("sources") or {}).get("data"))
        return out

    def warmup(self) -> None:
        """One tiny call through the real path, so the first request pays no lazy setup."""
        if self.task == "classify":
            from .engine import ClassifyEngine

            self.engine = ClassifyEngine(self.run, self.engine_mode, self.limits.max_batch)
            self.engine.predict(["warm up"])
        elif self.task == "seq2seq":
            self.run.predict(["warm up"], beam=1)
        elif self.task == "mlm":
            self.run.fill_mask(["[MASK]"], top_k=1)
        # forecast: nothing lazy; lm: generation.py warms each replica

    def close(self):
        if self.batcher is not None:
            self.batcher.close()
        if self.engine is not None:
            self.engine.close()

    # ---- a request -> (batch key, inputs); the batcher calls _run_batch(key, inputs)
    def plan(self, req: PredictRequest) -> tuple[tuple, list]:
        stray = sorted(req.model_fields_set - FIELDS[self.task])
        if stray:
            raise ApiError(422, "invalid_request", f"expected the fields of a {self.task} run ({', '.join(sorted(FIELDS[self.task]))}); "
                                                   f"found {', '.join(stray)}, which {'do' if len(stray) > 1 else 'does'} not apply")
        texts = req.texts if req.texts is not None else ([req.text] if req.text is not None else None)
        if self.task == "forecast":
            return self._plan_forecast(req)
        if req.texts is not None and req.text is not None:
            raise ApiError(422, "invalid_request", "expected either texts (a list) or text (one string); found both")
        if texts is None:
            raise ApiError(422, "invalid_request", f"expected texts: a list of strings to {_verb(self.task)}; found neither texts nor text")
        check_texts(texts, self.limits)
        if self.task == "classify":
            return ("classify",), texts
        if self.task == "mlm":
            for i, t in enumerate(texts):
                if "[MASK]" not in t:
                    raise ApiError(422, "invalid_request", f"expected [MASK] in texts[{i}] (the token to fill); found {t!r}")
            return ("mlm", req.top_k), texts
        beam = req.beam or self.run.config.get("data", {}).get("beam") or 1
        if beam > self.limits.max_beam:
            raise ApiError(422, "invalid_request", f"expected beam <= {self.limits.max_beam} (the server's cap); found {beam}")
        if req.n_best > beam:
            raise ApiError(422, "invalid_request", f"expected n_best between 1 and the beam width {beam}; found {req.n_best}")
        if req.attention:
            if len(texts) != 1:
                raise ApiError(422, "invalid_request", f"expected one text with attention: true (the matrix is per "
                                                       f"input); found {len(texts)}")
            return ("seq2seq-attention", beam, req.n_best, id(req)), texts  # never shares a batch
        return ("seq2seq", beam, req.n_best), texts

    def _run_batch(self, key: tuple, items: list) -> list:
        kind = key[0]
        if kind == "classify":
            res = (self.engine.predict if self.engine is not None else self.run.predict)(items)
            max_len = self.run.config.get("data", {}).get("max_len")
            if max_len:  # the model reads at most max_len tokens: say when a text was cut
                for r, t in zip(res, items):
                    r["truncated"] = len(self.run.tokenizer.encode(t)) > max_len
            return res
        if kind == "mlm":
            return self.run.fill_mask(items, top_k=key[1])
        if kind == "seq2seq":
            return self.run.predict(items, beam=key[1], n_best=key[2])
        if kind == "seq2seq-attention":
            return [_translate_with_attention(self.run, items[0], key[1], key[2])]
        if kind == "forecast":
            return [self._forecast(job) for job in items]
        raise RuntimeError(f"unknown batch kind {kind}")

    # ---- forecasting
    def _plan_forecast(self, req: PredictRequest) -> tuple[tuple, list]:
        given = [k for k in ("csv", "columns", "data") if getattr(req, k) is not None]
        if len(given) > 1:
            raise ApiError(422, "invalid_request", f"expected one of csv, columns or data; found {', '.join(given)}")
        if req.csv is not None and len(req.csv) > self.limits.max_body_bytes:
            raise ApiError(413, "too_large", f"expected a CSV of at most {self.limits.max_body_bytes} characters; found {len(req.csv)}")
        if req.data is not None and not _is_builtin_or_dataset(req.data):
            raise ApiError(422, "invalid_request", f"expected data to be builtin:NAME?k=v or a known dataset name "
                                                   f"(the server reads no paths); found {req.data!r}")
        horizon = req.horizon or self.run.config.get("data", {}).get("horizon")
        if horizon > self.limits.max_horizon:
            raise ApiError(422, "invalid_request", f"expected horizon <= {self.limits.max_horizon} (the server's cap); found {horizon}")
        own = None
        if not given:  # the run's own data: the source it was trained on (its config records it)
            own = (self.run.config.get("sources") or {}).get("data") or _meta(Path(self.run.path)).get("dataset")
            if not own:
                raise ApiError(422, "invalid_request", "expected a series: csv (CSV text), columns ({name: [values]}) or "
                                                       "data (builtin:NAME); this run records no training data to use instead")
        return ("forecast",), [(req.csv, req.columns, req.data, own, horizon, req.history)]

    def _forecast(self, job) -> dict:
        csv, columns, data, own, horizon, history = job
        df = _series_frame(csv, columns, data or own, self.limits.max_series_rows, own_path=own is not None)
        if len(df) > self.limits.max_series_rows:
            raise ApiError(413, "too_large", f"expected at most {self.limits.max_series_rows} rows in the series; found {len(df)}")
        # The loaded forecaster reads a source string (a CSV path), so the series goes through a
        # temporary CSV file, removed right after.
        fd, path = tempfile.mkstemp(suffix=".csv", prefix="seqlab-serve-")
        os.close(fd)
        try:
            df.to_csv(path, index=False)
            out = self.run.forecast(path, horizon=horizon)
        except UserError as e:  # say "the request's series", not the temporary file's name
            raise UserError(str(e).replace(path, "the request's series")) from None
        finally:
            os.unlink(path)
        out["history"] = _history(df, self.run.config.get("data", {}).get("time_col"), list(out["forecast"]), history)
        out["baselines"] = _baselines(df, list(out["forecast"]), horizon, self.run.config.get("data", {}).get("season"))
        out.pop("plot", None)
        return out


def _verb(task: str) -> str:
    return {"classify": "classify", "seq2seq": "translate", "mlm": "fill"}.get(task, "predict")


def _tok_kind(tok) -> str | None:
    if tok is None:
        return None
    return getattr(tok, "kind", None) or type(tok).__name__


def _meta(path: Path) -> dict:
    try:
        return json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _summary_metrics(path: Path) -> dict:
    """The run's summary.json numbers (best metric, stop reason; a forecast's test errors and baselines)."""
    try:
        s = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {k: v for k, v in s.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)
           and k not in ("device", "precision")}
    test = s.get("test")
    if isinstance(test, dict):
        out["test"] = {k: v for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if isinstance(test.get("baselines"), dict):
            out["test"]["baselines"] = {b: {k: v for k, v in m.items() if isinstance(v, (int, float))}
                                        for b, m in test["baselines"].items() if isinstance(m, dict)}
    return out


def _is_builtin_or_dataset(src: str) -> bool:
    if src.startswith("builtin:"):
        return True
    from ..data import datasets

    try:
        return datasets.get(src.split("?")[0]).task == "forecast"
    except UserError:
        return False


def _series_frame(csv: str | None, columns: dict | None, data: str | None, max_rows: int,
                  own_path: bool = False) -> pd.DataFrame:
    """The request's series as a DataFrame (CSV text, JSON columns, or a built-in/known source). A file path
    is read only when it is the run's own training data (``own_path``), never one a client names."""
    if csv is not None:
        if not csv.strip():
            raise ApiError(422, "invalid_request", "expected CSV text with a header row in csv; found an empty string")
        try:
            return pd.read_csv(io.StringIO(csv))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ApiError(422, "invalid_request", f"expected comma-separated CSV text with a header row in csv; {msg}") from None
    if columns is not None:
        lengths = {k: len(v) for k, v in columns.items()}
        if not columns or len(set(lengths.values())) != 1:
            raise ApiError(422, "invalid_request", f"expected columns of equal length ({{name: [values]}}); found lengths {lengths}")
        return pd.DataFrame(columns)
    if data.startswith("builtin:"):
        from ..data.builtin_series import SERIES, make_series

        head, _, query = data[len("builtin:"):].partition("?")
        if head not in SERIES:
            raise ApiError(422, "invalid_request", f"expected a built-in series among {', '.join(SERIES)}; found {head!r}")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        n = params.get("n", "0")
        if n.isdigit() and int(n) > max_rows:  # checked before the series is made
            raise ApiError(413, "too_large", f"expected at most {max_rows} rows in the series; found n={n}")
        return make_series(head, **params)
    from ..data import datasets
    from ..data.timeseries import read_table

    if _is_builtin_or_dataset(data):
        return read_table(datasets.fetch(data.split("?")[0], "train"))
    if own_path and Path(data).is_file():
        return read_table(data)
    raise ApiError(422, "invalid_request", f"expected a series in the request: the run's own data ({data}) is not "
                                           "readable on this server; send csv, columns or data")


def _numeric(df: pd.DataFrame, col: str) -> list[float]:
    return pd.to_numeric(df[col], errors="coerce").dropna().astype(float).tolist() if col in df.columns else []


def _history(df: pd.DataFrame, time_col: str | None, targets: list[str], k: int) -> dict:
    """The last ``k`` rows of the targets, with their times, for plotting before the forecast."""
    from ..data.timeseries import find_time_column

    try:
        tcol = find_time_column(df, time_col)
        times = [str(t) for t in pd.to_datetime(df[tcol].tail(k), errors="coerce")]
    except UserError:
        times = [str(i) for i in range(max(0, len(df) - k), len(df))]
    return {"times": times, "values": {c: [None if (isinstance(v, float) and math.isnan(v)) else v
                                           for v in pd.to_numeric(df[c].tail(k), errors="coerce").astype(float).tolist()]
                                       for c in targets if c in df.columns}}


def _baselines(df: pd.DataFrame, targets: list[str], horizon: int, season: int | None) -> dict:
    """Naive (repeat the last value) and seasonal-naive (repeat the last season) forecasts of each target."""
    out = {"naive": {}, "seasonal_naive": {}}
    for c in targets:
        y = _numeric(df, c)
        if not y:
            continue
        out["naive"][c] = [y[-1]] * horizon
        if season and len(y) >= season:
            out["seasonal_naive"][c] = [y[len(y) - season + (h % season)] for h in range(horizon)]
    if not out["seasonal_naive"]:
        del out["seasonal_naive"]
    return out


def _translate_with_attention(run, text: str, beam: int, n_best: int) -> dict:
    """Translate one text and return its attention matrix with source and target tokens
    (``{"source", "target", "weights"}``, target x source)."""
    return run.predict([text], beam=beam, n_best=n_best, return_attention=True)[0]

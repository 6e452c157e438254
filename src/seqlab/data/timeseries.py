"""Time series for forecasting: load, check, sort, fill, split, scale and cut into windows.

The pipeline, each step a plain function so a test can poke at it:

    df = read_table("prices.csv")                     # pandas DataFrame, every column as read
    ts = prepare_series(df, targets="close")          # TimeSeries: sorted, checked, numeric
    split = split_series(ts, lookback=96, horizon=24) # chronological borders (LTSF convention)
    scaler = Scaler.fit_train(ts.values, split)      # statistics from training rows only
    x, y = make_windows(scaler.transform(ts.values), split.starts("test"), 96, 24, ts.n_targets)

Shapes: a series is ``(N, C)`` float32, rows in time order, channels = targets first, then
covariates (``--features``). A window is ``x (L, C)`` (lookback) and ``y (H, C_target)``
(horizon); a batch of windows is ``(B, L, C)`` / ``(B, H, C_target)``.

Splits follow the LTSF-Linear/PatchTST code: the train/valid/test parts partition the rows,
and a window belongs to the part that holds its *first forecast step*; its lookback may reach
back into the part before (that history is known at the forecast origin, so nothing leaks).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .scaling import Scaler  # noqa: F401  (per-channel standardisation, shared with numeric sequences)
from ..errors import UserError
from .readers import is_number

log = logging.getLogger(__name__)

TIME_NAMES = ("date", "datetime", "time", "timestamp", "ds", "day", "month")  # tried first
MISSING_POLICIES = ("error", "ffill", "interpolate")


def read_table(path) -> pd.DataFrame:
    """Read a CSV/TSV (optionally .gz) into a DataFrame of strings-or-numbers, header required."""
    path = str(path)
    sep = "\t" if path.removesuffix(".gz").endswith((".tsv", ".tab")) else ","
    try:
        return pd.read_csv(path, sep=sep)
    except FileNotFoundError:
        raise UserError(f"expected a CSV file; found nothing at {path} (check the path)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"expected a comma-separated table with a header in {path}; {msg}") from None


def find_time_column(df: pd.DataFrame, time_col: str | None = None) -> str:
    """The column holding timestamps: ``time_col`` if given, else a date-like name, else the
    first text column whose values parse as dates."""
    cols = [str(c) for c in df.columns]
    if time_col is not None:
        if time_col not in df.columns:
            raise UserError(f"expected a time column {time_col!r}; found columns: {', '.join(cols)} "
                            "(fix --time-col)")
        return time_col
    by_name = sorted(df.columns, key=lambda c: str(c).lower() not in TIME_NAMES)
    for c in by_name:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            return c
        if (s.dtype == object or pd.api.types.is_string_dtype(s)) and _parse_times(s.head(50)).notna().mean() >= 0.9:
            return c
    raise UserError(f"expected a date/time column; found no parsable one among: {', '.join(cols)} "
                    "(use --time-col NAME)")


def _parse_times(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce", format="mixed")


@dataclass
class TimeSeries:
    """A checked, time-sorted multichannel series."""

    times: pd.DatetimeIndex   # (N,) timestamps, strictly increasing
    values: np.ndarray        # (N, C) float32, targets first then covariates
    columns: list[str]        # C channel names, in the order of ``values``
    n_targets: int            # the first n_targets channels are forecast
    freq: str                 # "B" (business days) or a pandas Timedelta string, e.g. "1h"
    notes: list[str] = field(default_factory=list)  # what was reordered, dropped, filled

    @property
    def targets(self) -> list[str]:
        return self.columns[: self.n_targets]

    def future_times(self, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` timestamps after the last row, one inferred step apart."""
        step = pd.offsets.BDay() if self.freq == "B" else pd.Timedelta(self.freq)
        return pd.DatetimeIndex([self.times[-1] + step * (i + 1) for i in range(horizon)])


def prepare_series(df: pd.DataFrame, targets="all", features=None, time_col: str | None = None,
                   missing: str = "error", source: str = "data") -> TimeSeries:
    """Check and sort a table into a TimeSeries.

    targets: column name, comma list, list, or "all" (every numeric column but the time column).
    features: extra input-only columns (covariates), same forms as targets except "all".
    missing: "error" (name the column and first row), "ffill" or "interpolate" (in time).
    """
    if missing not in MISSING_POLICIES:
        raise UserError(f"expected --missing to be one of {', '.join(MISSING_POLICIES)}; found {missing!r}")
    notes: list[str] = []
    tcol = find_time_column(df, time_col)
    times = _parse_times(df[tcol])
    if times.isna().any():
        i = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise UserError(f"expected a timestamp in every row of column {tcol!r} of {source}; "
                        f"found {df[tcol].iloc[i]!r} in data row {i + 1} (fix or remove the row)")
    others = [c for c in df.columns if c != tcol]
    tgt = _column_list(targets, others, df, tcol, "target")
    feat = [c for c in _column_list(features, others, df, tcol, "feature") if c not in tgt] if features else []
    cols = tgt + feat
    data = pd.DataFrame({c: _to_numeric(df[c], c, source, notes) for c in cols})
    data.index = pd.DatetimeIndex(times)

    # order: newest-first files (common for stock prices) are reversed, others sorted stably
    if len(data) > 1 and not data.index.is_monotonic_increasing:
        newest_first = data.index.is_monotonic_decreasing
        data = data.iloc[::-1] if newest_first else data.sort_index(kind="stable")
        notes.append("rows were newest-first; reversed into time order" if newest_first
                     else "rows were not in time order; sorted by time")
    dup = data.index.duplicated(keep="last")
    if dup.any():
        notes.append(f"{int(dup.sum())} duplicate timestamp(s), first {data.index[dup][0]}; kept the last row of each")
        data = data[~dup]
    if len(data) < 2:
        raise UserError(f"expected at least 2 time steps in {source}; found {len(data)}")
    freq, gaps = _infer_freq(data.index)
    if gaps:
        notes.append(f"{len(gaps)} gap(s) longer than one step ({freq}), first after {gaps[0]}; "
                     "windows span them as if contiguous")
    data = _fill_missing(data, missing, source, notes)
    for n in notes:
        log.info("%s: %s", source, n)
    return TimeSeries(pd.DatetimeIndex(data.index), data.to_numpy(np.float32), [str(c) for c in cols],
                      len(tgt), freq, notes)


def _column_list(spec, others, df, tcol, what) -> list:
    if spec is None:
        return []
    if isinstance(spec, str) and spec.strip().lower() == "all":
        numeric = [c for c in others if pd.api.types.is_numeric_dtype(df[c])]
        if not numeric:
            raise UserError(f"expected numeric columns besides {tcol!r}; found none among: "
                            f"{', '.join(map(str, others))}")
        return numeric
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    names = [n for n in names if n != ""]
    by_str = {str(c): c for c in others}
    absent = [n for n in names if str(n) not in by_str]
    if absent or not names:
        raise UserError(f"expected {what} column(s) {', '.join(map(str, absent)) or '(none given)'}; "
                        f"found columns: {', '.join(map(str, others))} (fix --{what}s)".replace("--targets", "--target"))
    return [by_str[str(n)] for n in names]


def _to_numeric(s: pd.Series, name, source, notes) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(np.float64)
    out = pd.to_numeric(s, errors="coerce")
    bad = out.isna() & s.notna()
    if bad.any():  # "1,234.50" and "$12.3" are common in exported price tables
        cleaned = pd.to_numeric(s.astype(str).str.replace(r"[,$%\s]", "", regex=True), errors="coerce")
        if not (cleaned.isna() & s.notna()).any():
            notes.append(f"column {name!r}: removed thousands separators/currency signs to read numbers")
            return cleaned.astype(np.float64)
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise UserError(f"expected numbers in column {name!r} of {source}; found {s.iloc[i]!r} in data "
                        f"row {i + 1} (choose numeric columns with --target/--features)")
    return out.astype(np.float64)


def _infer_freq(index: pd.DatetimeIndex) -> tuple[str, list]:
    """Most common step; daily data without weekends counts as business days ("B")."""
    diffs = index[1:] - index[:-1]
    step = pd.Series(diffs).mode().iloc[0]
    gap_at = [index[i] for i in np.flatnonzero(diffs > step)]
    if step == pd.Timedelta("1D") and not (index.day_of_week >= 5).any() and len(index) >= 10:
        gap_at = [index[i] for i in np.flatnonzero(diffs > pd.Timedelta("1D")) if index[i].day_of_week != 4
                  or diffs[i] > pd.Timedelta("3D")]  # Friday -> Monday is no gap in business days
        return "B", gap_at
    return _timedelta_str(step), gap_at


def _timedelta_str(td: pd.Timedelta) -> str:
    for unit, size in (("D", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        secs = td.total_seconds()
        if secs % size == 0:
            return f"{int(secs // size)}{unit}"
    return str(td)


def _fill_missing(data: pd.DataFrame, missing: str, source: str, notes: list) -> pd.DataFrame:
    na = data.isna()
    if not na.any().any():
        return data
    if missing == "error":
        col = next(c for c in data.columns if na[c].any())
        i = int(np.flatnonzero(na[col].to_numpy())[0])
        raise UserError(f"expected no missing values; found {int(na.sum().sum())} in {source}, first in "
                        f"column {col!r} at {data.index[i]} (use --missing ffill or --missing interpolate)")
    if missing == "ffill":
        filled = data.ffill()
    else:
        filled = data.interpolate(method="time", limit_direction="forward")
    filled = filled.bfill()  # leading gaps have nothing before them: take the first known value
    if filled.isna().any().any():
        col = next(c for c in data.columns if filled[c].isna().any())
        raise UserError(f"expected some values in column {col!r} of {source}; found only missing values")
    notes.append(f"filled {int(na.sum().sum())} missing value(s) by {missing}")
    return filled


# ---------------------------------------------------------------------------- split and windows
@dataclass
class Split:
    """Chronological borders: rows [0, train_end) train, [train_end, valid_end) valid, rest test."""

    n_rows: int
    train_end: int
    valid_end: int
    test_end: int
    lookback: int
    horizon: int

    def bounds(self, part: str) -> tuple[int, int]:
        """(first input row, end row) of the windows whose forecast starts inside ``part``."""
        lo, hi = {"train": (0, self.train_end), "valid": (self.train_end, self.valid_end),
                  "test": (self.valid_end, self.test_end)}[part]
        return max(lo - self.lookback, 0), hi

    def starts(self, part: str, stride: int = 1) -> np.ndarray:
        """Start rows of every window of ``part``; window i covers rows [s, s + L + H)."""
        first, end = self.bounds(part)
        return np.arange(first, end - self.lookback - self.horizon + 1, stride, dtype=np.int64)


def split_series(ts: TimeSeries, lookback: int, horizon: int, split="0.7,0.1,0.2") -> Split:
    """Borders from ratios ("0.7,0.1,0.2"), "ett" (12/4/4 months of 30 days from the first
    timestamp, the ETT benchmark convention) or two dates "VALID_START,TEST_START"."""
    n = len(ts.times)
    if lookback < 1 or horizon < 1:
        raise UserError(f"expected --lookback and --horizon >= 1; found {lookback} and {horizon}")
    if n < lookback + horizon:
        raise UserError(f"expected at least lookback + horizon = {lookback + horizon} rows for one window; "
                        f"found {n} rows (use a shorter --lookback/--horizon or more data)")
    spec = split if isinstance(split, str) else ",".join(map(str, split))
    parts = [p.strip() for p in spec.split(",")]
    if spec.strip().lower() == "ett":
        t0 = ts.times[0]
        days = [360, 480, 600]
        train_end, valid_end, test_end = (int(np.searchsorted(ts.times, t0 + pd.Timedelta(days=d))) for d in days)
    elif len(parts) == 3 and all(is_number(p) for p in parts):
        r = [float(p) for p in parts]
        if any(x < 0 for x in r) or abs(sum(r) - 1) > 1e-6 or r[0] <= 0:
            raise UserError(f"expected split ratios train,valid,test summing to 1; found {spec!r}")
        train_end, test_n = int(n * r[0]), int(n * r[2])  # the LTSF code's rounding
        valid_end, test_end = n - test_n, n
    elif len(parts) == 2:
        try:
            d = [pd.Timestamp(p) for p in parts]
        except ValueError:
            raise UserError(f"expected --split as ratios, 'ett' or two dates; found {spec!r}") from None
        train_end, valid_end = (int(np.searchsorted(ts.times, x)) for x in d)
        test_end = n
    else:
        raise UserError(f"expected --split as ratios '0.7,0.1,0.2', 'ett' or dates 'VALID_START,TEST_START'; "
                        f"found {spec!r}")
    s = Split(n, train_end, valid_end, test_end, lookback, horizon)
    if train_end < lookback + horizon:
        raise UserError(f"expected the training part ({train_end} rows) to hold lookback + horizon = "
                        f"{lookback + horizon} rows; (use a shorter --lookback/--horizon or a larger train split)")
    return s



def make_windows(values: np.ndarray, starts: np.ndarray, lookback: int, horizon: int,
                 n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut windows: x (B, L, C) rows [s, s+L), y (B, H, C_target) rows [s+L, s+L+H) of the targets."""
    idx = starts[:, None] + np.arange(lookback + horizon)[None, :]  # (B, L + H) row numbers
    w = values[idx]                                                   # (B, L + H, C)
    return w[:, :lookback], w[:, lookback:, :n_targets]


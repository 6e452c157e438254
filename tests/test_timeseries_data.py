"""Time-series loading, checking, splitting, scaling and windowing (seqlab.data.timeseries)."""

import gzip

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data.builtin_series import make_series
from seqlab.data.timeseries import (Scaler, make_windows, prepare_series, read_table,
                                    split_series)
from seqlab.errors import UserError


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"when": pd.date_range("2022-01-01", periods=n, freq="h").astype(str),
                         "y": rng.standard_normal(n).cumsum(), "x": rng.standard_normal(n)})


def test_time_column_detected_by_values_and_name():
    ts = prepare_series(_frame(), targets="y")
    assert ts.columns == ["y"] and ts.freq == "1h" and ts.notes == []
    assert prepare_series(_frame().rename(columns={"when": "Date"}), "y").n_targets == 1


def test_no_parsable_time_column_lists_columns():
    df = pd.DataFrame({"a": ["x", "y", "z"], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(UserError, match=r"date/time column.*a, b.*--time-col"):
        prepare_series(df, "b")
    with pytest.raises(UserError, match=r"time column 'nope'.*a, b"):
        prepare_series(df, "b", time_col="nope")


def test_targets_all_features_and_absent_column():
    ts = prepare_series(_frame(), targets="all")
    assert ts.columns == ["y", "x"] and ts.n_targets == 2
    ts = prepare_series(_frame(), targets="y", features="x")
    assert ts.columns == ["y", "x"] and ts.n_targets == 1 and ts.targets == ["y"]
    with pytest.raises(UserError, match=r"target column\(s\) close; found columns: y, x \(fix --target\)"):
        prepare_series(_frame(), targets="close")


def test_non_numeric_target_names_column_and_row():
    df = _frame(20)
    df["y"] = df["y"].astype(object)
    df.loc[5, "y"] = "n/a?"
    with pytest.raises(UserError, match=r"numbers in column 'y'.*'n/a\?' in data row 6"):
        prepare_series(df, "y")


def test_thousands_separators_are_read():
    df = pd.DataFrame({"date": ["2024-01-02", "2024-01-03", "2024-01-04"], "close": ["1,234.5", "$1,240.0", "1,250"]})
    ts = prepare_series(df, "close")
    np.testing.assert_allclose(ts.values[:, 0], [1234.5, 1240.0, 1250.0])
    assert any("separators" in n for n in ts.notes)


def test_missing_values_error_ffill_interpolate():
    df = _frame(30)
    df.loc[[0, 7, 8], "y"] = np.nan
    with pytest.raises(UserError, match=r"column 'y' at 2022-01-01 00:00:00.*--missing ffill"):
        prepare_series(df, "y")
    f = prepare_series(df, "y", missing="ffill").values[:, 0]
    assert f[7] == f[6] == f[8] and f[0] == f[1]  # leading NaN takes the first known value
    i = prepare_series(df, "y", missing="interpolate").values[:, 0]
    y = df["y"].to_numpy()
    np.testing.assert_allclose(i[7], y[6] + (y[9] - y[6]) / 3, rtol=1e-5)
    with pytest.raises(UserError, match="--missing"):
        prepare_series(df, "y", missing="drop")


def test_newest_first_same_as_sorted_and_reported():
    df = _frame()
    a = prepare_series(df, "y", features="x")
    b = prepare_series(df.iloc[::-1].reset_index(drop=True), "y", features="x")
    np.testing.assert_array_equal(a.values, b.values)
    assert (a.times == b.times).all()
    assert b.notes == ["rows were newest-first; reversed into time order"]
    c = prepare_series(df.sample(frac=1, random_state=0), "y", features="x")
    np.testing.assert_array_equal(a.values, c.values)
    assert "sorted by time" in c.notes[0]


def test_duplicates_and_gaps_reported():
    df = _frame(50)
    df = pd.concat([df, df.iloc[[10]]]).drop(index=[20, 21, 22])
    ts = prepare_series(df, "y")
    assert len(ts.times) == 47 and ts.times.is_unique
    assert any("1 duplicate" in n for n in ts.notes)
    assert any("1 gap" in n and "2022-01-01 19:00:00" in n for n in ts.notes)


def test_business_days_weekends_are_not_gaps_and_future_times():
    ts = prepare_series(make_series("random_walk", n=60), "close")
    assert ts.freq == "B" and ts.notes == []
    fut = ts.future_times(3)
    assert ts.times[-1].day_of_week < 5 and all(t.day_of_week < 5 for t in fut) and fut[0] > ts.times[-1]
    hourly = prepare_series(_frame(10), "y").future_times(2)
    assert list(hourly.astype(str)) == ["2022-01-01 10:00:00", "2022-01-01 11:00:00"]


def test_read_gz_and_missing_file(tmp_path):
    p = tmp_path / "d.csv.gz"
    with gzip.open(p, "wt") as f:
        _frame(12).to_csv(f, index=False)
    assert prepare_series(read_table(p), "y").values.shape == (12, 1)
    with pytest.raises(UserError, match="found nothing"):
        read_table(tmp_path / "nope.csv")


def test_window_counts_ratio_split():
    ts = prepare_series(_frame(1000), "y")
    s = split_series(ts, lookback=24, horizon=6)
    assert (s.train_end, s.valid_end, s.test_end) == (700, 800, 1000)
    assert len(s.starts("train")) == 700 - 24 - 6 + 1
    assert len(s.starts("valid")) == 100 - 6 + 1   # lookback reaches back into train
    assert len(s.starts("test")) == 200 - 6 + 1
    assert len(s.starts("test", stride=4)) == len(range(0, 195, 4))
    first = s.starts("test")[0]
    assert first + 24 == s.valid_end              # the first test forecast starts the test part


def test_ett_split_matches_the_benchmark_borders():
    df = pd.DataFrame({"date": pd.date_range("2016-07-01", periods=17420, freq="h"), "v": np.arange(17420.0)})
    s = split_series(prepare_series(df, "v"), lookback=336, horizon=96, split="ett")
    assert (s.train_end, s.valid_end, s.test_end) == (8640, 11520, 14400)
    assert len(s.starts("test")) == 2785  # the count the LTSF-Linear code gives for ETTh1, L=336, H=96


def test_date_split():
    ts = prepare_series(_frame(100), "y")
    s = split_series(ts, 10, 2, split="2022-01-03,2022-01-04")
    assert (s.train_end, s.valid_end, s.test_end) == (48, 72, 100)


def test_too_long_windows_and_too_few_rows():
    ts = prepare_series(_frame(100), "y")
    with pytest.raises(UserError, match=r"training part \(70 rows\).*lookback \+ horizon = 80"):
        split_series(ts, 60, 20)
    with pytest.raises(UserError, match=r"lookback \+ horizon = 120 rows for one window; found 100"):
        split_series(ts, 100, 20)
    with pytest.raises(UserError, match="summing to 1"):
        split_series(ts, 10, 2, split="0.5,0.1,0.1")


def test_scaler_sees_only_training_rows():
    ts = prepare_series(_frame(300), "y", features="x")
    s = split_series(ts, 24, 6)
    a = Scaler.fit_train(ts.values, s)
    changed = ts.values.copy()
    changed[s.train_end:] = 1e6
    b = Scaler.fit_train(changed, s)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)
    z = a.transform(ts.values[: s.train_end])
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4), min_size=2, max_size=40), st.floats(-1e3, 1e3))
def test_inverse_scaling_round_trip(vals, shift):
    v = np.stack([np.asarray(vals, np.float32), np.full(len(vals), shift, np.float32)], 1)  # (N, 2)
    sc = Scaler.fit(v)
    assert sc.std[1] == 1.0  # a constant channel is only shifted
    back = Scaler.from_dict(sc.to_dict()).inverse(sc.transform(v))
    np.testing.assert_allclose(back, v, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(sc.inverse(sc.transform(v)[:, :1], channels=1), v[:, :1], rtol=1e-4, atol=1e-2)


def test_make_windows_content():
    v = np.arange(20, dtype=np.float32).reshape(10, 2)  # (N, C) row r = [2r, 2r+1]
    x, y = make_windows(v, np.array([0, 3]), lookback=4, horizon=2, n_targets=1)
    assert x.shape == (2, 4, 2) and y.shape == (2, 2, 1)
    np.testing.assert_array_equal(x[1, :, 0], [6, 8, 10, 12])
    np.testing.assert_array_equal(y[1, :, 0], [14, 16])


def test_builtin_series_parameters():
    df = make_series("seasonal", n="500", seed="3")
    assert list(df.columns) == ["date", "load", "temp"] and len(df) == 500
    assert make_series("sine", n=100)["value"].between(-2, 2).all()
    with pytest.raises(UserError, match="among sine, seasonal, random_walk"):
        make_series("cosine")
    with pytest.raises(UserError, match="parameters of builtin:sine"):
        make_series("sine", length=5)

"""The forecast task through the real CLI: train -> evaluate --json (--backtest) -> forecast --plot,
and every bad input named in the issue."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import SHARED_DATA

FAST = ["--epochs", "3", "--precision", "fp32", "--lookback", "48", "--horizon", "12"]


def _csv(path, n=400, newest_first=False, **extra):
    t = np.arange(n)
    df = pd.DataFrame({"Date": pd.date_range("2023-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
                       "close": 100 + 5 * np.sin(2 * np.pi * t / 7) + 0.05 * t, "volume": 1000 + t % 7, **extra})
    (df.iloc[::-1] if newest_first else df).to_csv(path, index=False)
    return path


def test_train_evaluate_backtest_forecast_plot(cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = cli("-q", "train", "forecast", "--data", "builtin:seasonal?n=1200", "--target", "load",
                            "--model", "dlinear", "--out", out, *FAST)
    assert code == 0, err
    for f in ("config.json", "meta.json", "model.safetensors", "summary.json", "test_metrics.json", "forecast_test.png"):
        assert (out / f).is_file(), f
    code, stdout, err = cli("evaluate", out, "--data", "builtin:seasonal?n=1200", "--json", "--backtest", "4")
    assert code == 0, err
    m = json.loads(stdout)
    assert {"mse_scaled", "mae_scaled", "mse", "mae", "mape", "smape", "mase", "per_step"} <= set(m)
    assert set(m["baselines"]) == {"naive", "seasonal_naive"} and len(m["per_step"]["mse"]) == 12
    assert m["mse"] < m["baselines"]["naive"]["mse"]  # a seasonal series: the model beats "tomorrow = today"
    assert len(m["backtest"]) == 4 and {"dlinear", "naive", "seasonal_naive", "origin"} == set(m["backtest"][0])
    assert m["n_windows"] == 240 - 12 + 1  # 20% of 1200 rows, stride 1
    png = tmp_path / "next.png"
    code, stdout, err = cli("forecast", out, "--data", "builtin:seasonal?n=1200", "--horizon", "30", "--plot", png, "--json")
    assert code == 0, err
    f = json.loads(stdout)
    assert len(f["times"]) == 30 and len(f["forecast"]["load"]) == 30 and png.stat().st_size > 5000
    assert f["times"][0] == "2021-02-20 00:00:00" and f["origin"] == "2021-02-19 23:00:00"  # 1200 hourly steps on


def test_csv_newest_first_same_as_sorted_and_business_days(cli, tmp_path):
    a, b = _csv(tmp_path / "a.csv"), _csv(tmp_path / "b.csv", newest_first=True)
    res = []
    for p, name in ((a, "ra"), (b, "rb")):
        code, stdout, err = cli("-q", "train", "forecast", "--data", p, "--target", "close", "--model", "nlinear",
                                "--out", tmp_path / name, *FAST, "--json")
        assert code == 0, err
        res.append(json.loads(stdout))
    assert res[1]["notes"] == ["rows were newest-first; reversed into time order"] and res[0]["notes"] == []
    assert res[0]["test"]["mse"] == pytest.approx(res[1]["test"]["mse"], rel=1e-6)
    code, stdout, err = cli("forecast", tmp_path / "rb", "--data", b, "--json")
    assert code == 0, err
    assert json.loads(stdout)["times"][0] == "2024-02-05 00:00:00"  # the day after the newest row, whatever the order


def test_baseline_model_needs_no_training(cli, tmp_path):
    code, stdout, err = cli("-q", "train", "forecast", "--data", "builtin:random_walk?n=300", "--target", "close",
                            "--model", "naive", "--out", tmp_path / "n", "--json")
    assert code == 0, err
    s = json.loads(stdout)
    assert s["stop_reason"] == "no_training"
    assert s["test"]["model"] == "naive" and set(s["test"]["baselines"]) == {"seasonal_naive"}


@pytest.mark.parametrize("args,msg", [
    (["--data", "{nodate}", "--target", "y"], "date/time column; found no parsable one among: a, y"),
    (["--data", "{text}", "--target", "close"], "expected numbers in column 'close'"),
    (["--data", "{nan}", "--target", "close"], "column 'close' at 2023-01-05"),
    (["--data", "{good}", "--target", "close", "--lookback", "300", "--horizon", "10"], "training part (280 rows)"),
    (["--data", "{short}", "--target", "close", "--lookback", "20", "--horizon", "5"], "for one window; found 10 rows"),
    (["--data", "{good}", "--target", "price"], "target column(s) price; found columns: close, volume"),
    (["--data", "{good}"], "expected --target naming the column(s) to forecast; found numeric columns: close, volume"),
    (["--data", "{good}", "--target", "close", "--model", "prophet"], "--model prophet: not a model for task forecast"),
])
def test_bad_inputs(cli, tmp_path, args, msg):
    files = {"good": _csv(tmp_path / "g.csv"), "short": _csv(tmp_path / "s.csv", n=10),
             "text": _csv(tmp_path / "t.csv", n=30).with_name("t.csv")}
    pd.DataFrame({"a": ["x", "y", "z"], "y": [1, 2, 3]}).to_csv(tmp_path / "nd.csv", index=False)
    files["nodate"] = tmp_path / "nd.csv"
    df = pd.read_csv(files["text"]).astype({"close": object})
    df.loc[3, "close"] = "N/A-ish"
    df.to_csv(files["text"], index=False)
    df = pd.read_csv(files["good"])
    df.loc[4, "close"] = np.nan
    df.to_csv(tmp_path / "nan.csv", index=False)
    files["nan"] = tmp_path / "nan.csv"
    args = [str(files[a[1:-1]]) if a.startswith("{") else a for a in args]
    if "--model" not in args:
        args += ["--model", "dlinear"]
    code, _, err = cli("-q", "train", "forecast", *args, "--out", tmp_path / "bad", "--epochs", "1")
    assert code == 2 and msg in err and err.count("\n") == 1, err


def test_forecast_data_missing_a_target_column(cli, tmp_path):
    out = tmp_path / "r"
    code, _, err = cli("-q", "train", "forecast", "--data", _csv(tmp_path / "g.csv"), "--target", "close",
                       "--features", "volume", "--model", "linear", "--out", out, *FAST)
    assert code == 0, err
    pd.read_csv(tmp_path / "g.csv").drop(columns=["close"]).to_csv(tmp_path / "latest.csv", index=False)
    code, _, err = cli("forecast", out, "--data", tmp_path / "latest.csv")
    assert code == 2 and "missing: close" in err
    code, _, err = cli("forecast", out, "--data", tmp_path / "g.csv", "--horizon", "20")
    assert code == 2 and "covariates (volume)" in err  # their future is unknown: no roll-out past H
    code, stdout, err = cli("forecast", out, "--data", tmp_path / "g.csv")
    assert code == 0 and "linear forecast from 2024-02-04" in stdout


@pytest.mark.skipif(not (SHARED_DATA / "ett" / "ETTh1.csv").is_file(), reason="no ETTh1 mirror beside the clone (../shared/data)")
def test_etth1_known_dataset_uses_ett_split(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_MIRROR", str(SHARED_DATA))
    code, stdout, err = cli("-q", "train", "forecast", "--data", "etth1", "--model", "naive", "--horizon", "24",
                            "--out", tmp_path / "e", "--json")
    assert code == 0, err
    s = json.loads(stdout)
    assert s["windows"]["test"] == 2880 - 24 + 1 and s["test"]["targets"] == ["OT"]


def test_short_series_get_enough_steps_and_resume(cli, tmp_path):
    """Default epochs/patience are stretched to >= 1000 steps / 300 steps on a short series;
    an explicit --epochs is kept; --resume continues the run with its saved config."""
    out = tmp_path / "s"
    code, _, err = cli("-q", "train", "forecast", "--data", "builtin:sine?n=600", "--model", "nlinear", "--out", out,
                       "--time-budget", "0.01")
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    steps_per_epoch = -(-json.loads((out / "meta.json").read_text())["n_windows"]["train"] // 32)
    assert cfg["train"]["epochs"] * steps_per_epoch >= 1000 and cfg["train"]["patience"] * steps_per_epoch >= 300
    # the linear family's lr halves every epoch of 20; stretched, the run as a whole still decays by 0.5**20
    assert cfg["train"]["schedule"] == "exponential"
    assert cfg["train"]["gamma"] ** cfg["train"]["epochs"] == pytest.approx(0.5 ** 20)
    assert cfg["data"]["lookback"] == 600 * 7 // 10 // 8 and cfg["data"]["horizon"] == 24  # auto: 1/8 of train, one day
    code, _, err = cli("-q", "train", "forecast", "--data", "builtin:sine?n=600", "--model", "nlinear", "--out", out, "--resume")
    assert code == 0, err
    code, _, err = cli("-q", "train", "forecast", "--data", "builtin:sine?n=600", "--model", "nlinear", "--out", tmp_path / "e",
                       "--epochs", "2")
    assert code == 0 and json.loads((tmp_path / "e" / "config.json").read_text())["train"]["epochs"] == 2

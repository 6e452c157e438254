"""Forecast models: shapes, no look-ahead, batch independence, baselines by hand, configs."""

import numpy as np
import pytest
import torch

from seqlab.data.builtin_series import make_series
from seqlab.data.timeseries import Scaler, make_windows, prepare_series, split_series
from seqlab.models.forecast import MODELS, build
from seqlab.models.forecast.linear import LinearConfig, MovingAverage
from seqlab.models.forecast.patchtst import PatchTSTConfig
from seqlab.models.forecast.recurrent import RecurrentConfig

L, H = 48, 12


def _model(name, C=3, T=2, **kw):
    torch.manual_seed(0)
    cfg, m = build(name, lookback=L, horizon=H, n_channels=C, n_targets=T, **kw)
    return m.eval()


@pytest.mark.parametrize("name", list(MODELS))
def test_shapes(name):
    y = _model(name)(torch.randn(5, L, 3))
    assert y.shape == (5, H, 2) and y.dtype == torch.float32


@pytest.mark.parametrize("name", list(MODELS))
def test_no_look_ahead_through_the_pipeline(name):
    """Changing any value after a forecast origin leaves that forecast unchanged."""
    ts = prepare_series(make_series("seasonal", n=600), "load", features="temp")
    split = split_series(ts, L, H)
    m = _model(name, C=2, T=1)
    origin = split.valid_end + 30  # a forecast made at this row (its first predicted row)

    def forecast_at(values):
        z = Scaler.fit_train(values, split).transform(values)
        starts = split.starts("test")
        x, _ = make_windows(z, starts, L, H, 1)
        i = int(np.flatnonzero(starts + L == origin)[0])
        with torch.no_grad():
            return m(torch.from_numpy(x))[i]  # (H, 1)

    before = forecast_at(ts.values)
    changed = ts.values.copy()
    changed[origin:] = np.random.default_rng(1).normal(50, 10, changed[origin:].shape)
    assert torch.equal(before, forecast_at(changed))
    changed[origin - 1] += 5.0  # the last known value does move it (the test can fail)
    if name != "seasonal_naive" or H > 24:
        assert not torch.equal(before, forecast_at(changed))


@pytest.mark.parametrize("name", list(MODELS))
def test_batch_independence_in_eval(name):
    m = _model(name)
    x = torch.randn(6, L, 3)
    with torch.no_grad():
        full, one = m(x), m(x[2:3])
    torch.testing.assert_close(full[2:3], one, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["nlinear", "sparsetsf", "patchtst", "transformer", "lstm", "gru_seq2seq"])
def test_level_shift_equivariance(name):
    """Instance normalisation (RevIN, subtract-last): a shifted input gives a shifted forecast."""
    m = _model(name)
    x = torch.randn(4, L, 3)
    with torch.no_grad():
        torch.testing.assert_close(m(x + 100.0), m(x) + 100.0, rtol=1e-4, atol=2e-3)


def test_naive_and_seasonal_naive_by_hand():
    x = torch.tensor([1.0, 2, 3, 4, 5, 6, 7]).view(1, 7, 1)  # (B, L, C)
    naive = build("naive", lookback=7, horizon=3)[1]
    assert naive(x).flatten().tolist() == [7, 7, 7]
    seas = build("seasonal_naive", lookback=7, horizon=5, season=3)[1]
    assert seas(x).flatten().tolist() == [5, 6, 7, 5, 6]  # the last season 5, 6, 7, repeated
    with pytest.raises(ValueError, match="season"):
        build("seasonal_naive", lookback=7, horizon=5, season=8)


def test_dlinear_moving_average_replicates_edges():
    x = torch.tensor([0.0, 3, 6, 9]).view(1, 4, 1)
    ma = MovingAverage(3)(x).flatten().tolist()
    assert ma == pytest.approx([1.0, 3.0, 6.0, 8.0])  # (0+0+3)/3, (0+3+6)/3, (3+6+9)/3, (6+9+9)/3


def test_linear_models_learn_a_sine_better_than_naive():
    ts = prepare_series(make_series("sine", n=1500), "value")
    split = split_series(ts, L, H)
    z = Scaler.fit_train(ts.values, split).transform(ts.values)
    x, y = (torch.from_numpy(a) for a in make_windows(z, split.starts("train"), L, H, 1))
    xt, yt = (torch.from_numpy(a) for a in make_windows(z, split.starts("test"), L, H, 1))
    naive = torch.mean((build("naive", lookback=L, horizon=H)[1](xt) - yt) ** 2).item()
    for name in ("dlinear", "nlinear"):
        torch.manual_seed(0)
        m = build(name, lookback=L, horizon=H)[1]
        opt = torch.optim.Adam(m.parameters(), lr=0.01)
        for step in range(150):
            i = torch.randint(0, len(x), (64,))
            loss = torch.mean((m(x[i]) - y[i]) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            mse = torch.mean((m(xt) - yt) ** 2).item()
        assert mse < 0.2 * naive, (name, mse, naive)


def test_seq2seq_rolls_out_step_by_step():
    """The seq2seq decoder's step h depends on its own step h-1 output: cutting the horizon
    to k steps gives the first k steps of the longer forecast."""
    torch.manual_seed(0)
    _, long = build("gru_seq2seq", lookback=L, horizon=H)
    short = type(long)(RecurrentConfig(lookback=L, horizon=4, cell="gru", decoder="seq2seq"))
    short.load_state_dict(long.state_dict())
    x = torch.randn(3, L, 1)
    with torch.no_grad():
        torch.testing.assert_close(short.eval()(x), long.eval()(x)[:, :4])


@pytest.mark.parametrize("cls,kw,msg", [
    (LinearConfig, {"kernel": 24}, "odd"),
    (LinearConfig, {"n_targets": 3, "n_channels": 2}, "n_targets"),
    (PatchTSTConfig, {"d_model": 10, "n_head": 4}, "divisible"),
    (PatchTSTConfig, {"patch_len": 400}, "patch_len"),
    (RecurrentConfig, {"cell": "tcn"}, "cell"),
    (RecurrentConfig, {"dropout": 1.0}, "dropout"),
    (RecurrentConfig, {"horizon": 0}, "horizon"),
])
def test_config_validation(cls, kw, msg):
    with pytest.raises(ValueError, match=msg):
        cls(**kw)


@pytest.mark.parametrize("lookback", [72, 80])  # a whole number of cycles, and 8 steps more
def test_sparsetsf_repeating_the_last_cycle_is_seasonal_naive(lookback):
    """With the smoothing off and W picking the last cycle for every future cycle, SparseTSF is exactly
    the seasonal-naive forecast: it proves the phase/cycle reshapes put every value back in its hour."""
    x = torch.randn(3, lookback, 2)
    cfg, m = build("sparsetsf", lookback=lookback, horizon=30, n_channels=2, n_targets=2, season=12)
    assert (cfg.cycles_in, cfg.cycles_out) == (lookback // 12, 3)
    with torch.no_grad():
        m.smooth.weight.zero_()
        m.cycles.weight.zero_()
        m.cycles.weight[:, -1] = 1.0
        y = m(x)
    seas = build("seasonal_naive", lookback=lookback, horizon=30, n_channels=2, n_targets=2, season=12)[1]
    torch.testing.assert_close(y, seas(x), rtol=1e-5, atol=1e-5)


def test_sparsetsf_is_small_and_rejects_a_window_shorter_than_a_cycle():
    _, m = build("sparsetsf", lookback=720, horizon=720, n_channels=7, n_targets=7, season=24)
    assert sum(p.numel() for p in m.parameters()) == 30 * 30 + 25  # W (m, n) and the smoothing kernel
    with pytest.raises(ValueError, match="season"):
        build("sparsetsf", lookback=20, horizon=12, season=24)

"""Forecast metrics against hand-computed values."""

import numpy as np
import pytest
import torch

from seqlab.metrics import forecast as fm

TRUE = np.array([1.0, 2.0, 4.0]).reshape(1, 3, 1)   # (B, H, C)
PRED = np.array([2.0, 2.0, 2.0]).reshape(1, 3, 1)


def test_point_metrics_by_hand():
    assert fm.mse(PRED, TRUE) == pytest.approx((1 + 0 + 4) / 3)
    assert fm.mae(PRED, TRUE) == pytest.approx((1 + 0 + 2) / 3)
    assert fm.mape(PRED, TRUE) == pytest.approx(100 * (1 / 1 + 0 + 2 / 4) / 3)
    assert fm.smape(PRED, TRUE) == pytest.approx(100 * (2 / 3 + 0 + 4 / 6) / 3)


def test_mape_skips_zeros_and_smape_handles_zero_zero():
    t = np.array([0.0, 2.0]).reshape(1, 2, 1)
    p = np.array([0.0, 1.0]).reshape(1, 2, 1)
    assert fm.mape(p, t) == pytest.approx(50.0)
    assert fm.smape(p, t) == pytest.approx(100 * (0 + 2 / 3) / 2)
    assert np.isnan(fm.mape(p, np.zeros_like(t)))


def test_mase_scale_and_value():
    train = np.array([[1.0, 10.0], [3.0, 10.0], [2.0, 10.0], [5.0, 10.0]])  # (N, C)
    scale = fm.mase_scale(train, season=1)
    np.testing.assert_allclose(scale, [(2 + 1 + 3) / 3, 1.0])  # constant channel -> 1
    np.testing.assert_allclose(fm.mase_scale(train, season=2), [(1 + 2) / 2, 1.0])
    pred, true = np.full((1, 2, 2), 1.0), np.zeros((1, 2, 2))
    assert fm.mase(pred, true, scale) == pytest.approx((1 / 2 + 1 / 1) / 2)


def test_per_step_and_report():
    steps = fm.per_step(PRED, TRUE)
    assert steps["mse"] == [1.0, 0.0, 4.0] and steps["mae"] == [1.0, 0.0, 2.0]
    r = fm.report(PRED / 2, TRUE / 2, PRED, TRUE, scale=np.array([1.0]))
    assert r["mse_scaled"] == pytest.approx(r["mse"] / 4) and r["mase"] == pytest.approx(1.0)
    assert set(r) == {"mse_scaled", "mae_scaled", "mse", "mae", "mape", "smape", "mase", "per_step"}


def test_losses():
    p, t = torch.tensor([0.0, 0.0]), torch.tensor([1.0, -1.0])
    assert fm.pinball_loss(p, t, 0.9).item() == pytest.approx((0.9 + 0.1) / 2)
    assert fm.point_loss("quantile", p, t, 0.5).item() == pytest.approx(0.5 * fm.point_loss("mae", p, t).item())
    assert fm.point_loss("mse", p, t).item() == pytest.approx(1.0)
    assert fm.point_loss("huber", p, t).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="loss"):
        fm.point_loss("l3", p, t)

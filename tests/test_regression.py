"""Sequence regression: metrics against scipy/hand values, the standardiser, the loss, builtin:frames,
and every classifier architecture used as a regressor (n_outputs) learning builtin:frames."""

import math

import numpy as np
import pytest
import torch

from seqlab.data.builtin import generate
from seqlab.metrics.regression import rankdata, regression_report, spearman
from seqlab.models.classifier import CLASSIFIERS
from seqlab.models.regression import (RegressionConfig, Standardizer, build_regressor, regression_loss,
                                      suggests_regression)


ONE_THREAD = True  # small models: one thread beats two contended ones (conftest.one_thread)


def test_metrics_by_hand():
    y, p = [1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.0, 5.0]
    r = regression_report(y, p)
    assert r["mae"] == pytest.approx((0.5 + 0 + 1 + 1) / 4)
    assert r["rmse"] == pytest.approx(math.sqrt((0.25 + 0 + 1 + 1) / 4))
    assert r["r2"] == pytest.approx(1 - 2.25 / 5.0)
    assert r["n"] == 4
    assert regression_report(y, [2.5] * 4)["r2"] == pytest.approx(0.0)


def test_spearman_and_ranks_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 50).astype(float)  # many ties
    b = a + rng.normal(0, 2, 50)
    assert np.allclose(rankdata(a), stats.rankdata(a))
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)


def test_multi_output_report():
    y = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    r = regression_report(y, y + np.array([0.0, 3.0]), names=["a", "b"])
    assert r["per_output"]["a"]["mae"] == 0 and r["per_output"]["b"]["mae"] == pytest.approx(3.0)
    assert r["mae"] == pytest.approx(1.5)


def test_standardizer_roundtrip():
    y = torch.tensor([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    s = Standardizer.fit(y)
    z = s.transform(y)
    assert torch.allclose(z[:, 0].mean(), torch.tensor(0.0)) and torch.allclose(z[:, 0].std(unbiased=False), torch.tensor(1.0))
    assert torch.all(z[:, 1] == 0)  # constant column: std 1, not inf
    assert torch.allclose(s.inverse(z), y)
    s2 = Standardizer.from_state(s.state())
    assert torch.allclose(s2.inverse(s2.transform(y)), y)
    one = Standardizer.fit([2.0, 4.0])
    assert torch.allclose(one.inverse(one.transform(torch.tensor([2.0, 4.0]))), torch.tensor([2.0, 4.0]))


def test_losses():
    p, t = torch.tensor([[0.0], [3.0]]), torch.tensor([0.0, 0.0])
    assert float(regression_loss(p, t, "mse")) == pytest.approx(4.5)
    assert float(regression_loss(p, t, "huber", 1.0)) == pytest.approx((0 + (3 - 0.5)) / 2)
    with pytest.raises(ValueError):
        RegressionConfig(loss="l3")


def test_suggestion():
    assert suggests_regression([str(v / 10) for v in range(50)])
    assert not suggests_regression(["0", "1"] * 30)
    assert not suggests_regression(["pos", "neg"])


def test_frames_deterministic_and_shaped():
    a = generate("frames", {"n": "20"}, seed=3)
    b = generate("frames", {"n": "20"}, seed=3)
    assert a == b and a != generate("frames", {"n": "20"}, seed=4)
    assert len(a["sequences"]) == len(a["targets"]) == 20 and a["numeric"]
    assert all(12 <= len(s) <= 40 and len(s[0]) == 3 for s in a["sequences"])


def _batches(d):
    T = max(len(s) for s in d["sequences"])
    x = torch.zeros(len(d["sequences"]), T, 3)
    mask = torch.zeros(x.shape[:2], dtype=torch.bool)
    for i, s in enumerate(d["sequences"]):
        x[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = True
    return x, mask, torch.tensor(d["targets"])


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_every_classifier_regresses_frames(name):
    torch.manual_seed(0)
    tr, te = generate("frames", {"n": "300"}, seed=0), generate("frames", {"n": "100"}, seed=1)
    x, mask, y = _batches(tr)
    xt, mt, yt = _batches(te)
    cfg_cls, build = CLASSIFIERS[name]
    small = {"embed_dim": 16, "input_dim": 3, "dropout": 0.0}
    small.update({"rnn": {"hidden": 16, "bidirectional": False, "pool": "mean", "embed_dropout": 0.0},
                  "lstm": {"hidden": 16, "pool": "mean", "embed_dropout": 0.0},
                  "gru": {"hidden": 16, "pool": "mean", "embed_dropout": 0.0},
                  "textcnn": {"n_maps": 16, "widths": (3,)},
                  "transformer": {"n_head": 2, "n_layer": 1, "d_ff": 32, "embed_dropout": 0.0}}[name])
    model = build_regressor(build, cfg_cls(**small), 1, n_outputs=1)
    std = Standardizer.fit(y)
    z = std.transform(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(60):
        i = torch.randint(0, len(y), (64,))
        loss = regression_loss(model(x[i], mask[i]), z[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = std.inverse(model(xt, mt)[:, 0])
    assert torch.isfinite(pred).all()
    r = regression_report(yt.tolist(), pred.tolist())
    assert r["r2"] > 0.3, r  # predicting the mean scores 0

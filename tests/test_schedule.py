"""Learning-rate schedules: the per-epoch exponential decay, its validation, and the engine applying it."""

import json

import pytest

from seqlab.config import apply_overrides
from seqlab.errors import UserError
from seqlab.tasks import get_task
from seqlab.tasks.base import TrainRequest
from seqlab.train.engine import TrainConfig
from seqlab.train.schedule import lr_factor


def test_exponential_multiplies_by_gamma_per_completed_epoch():
    assert [lr_factor(0.5, "exponential", 0.0, 0.0, e, 0.5) for e in range(4)] == [1.0, 0.5, 0.25, 0.125]
    assert lr_factor(0.9, "exponential", 0.0, 0.0, 2, 0.9) == pytest.approx(0.81)
    assert lr_factor(0.9, "exponential", 0.0, 0.05, 30, 0.5) == 0.05  # the floor holds
    assert lr_factor(0.01, "exponential", 0.1, 0.0, 0, 0.5) == pytest.approx(0.1)  # warmup first


def test_other_schedules_unchanged():
    assert lr_factor(0.0, "cosine", 0.0, 0.05) == pytest.approx(1.0)
    assert lr_factor(1.0, "cosine", 0.0, 0.05) == pytest.approx(0.05)
    assert lr_factor(0.5, "linear", 0.0, 0.0) == pytest.approx(0.5)
    assert lr_factor(0.7, "constant", 0.0, 0.0, 5, 0.5) == 1.0  # epochs and gamma only steer exponential


@pytest.mark.parametrize("key,value,msg", [("gamma", "0", "gamma"), ("gamma", "1.5", "gamma"),
                                           ("min_lr_ratio", "-0.1", "min_lr_ratio"), ("schedule", "exp", "schedule")])
def test_bad_values_are_user_errors(key, value, msg):
    with pytest.raises(UserError, match=msg):
        apply_overrides(TrainConfig(), {key: value}, "train")


def test_engine_halves_the_lr_every_epoch(tmp_path):
    out = tmp_path / "run"
    req = TrainRequest(task="forecast", model="linear", data="builtin:sine?n=400", out=out,
                       data_flags={"lookback": 24, "horizon": 8},
                       train_flags={"epochs": 4, "lr": 0.01, "seed": 0},
                       sets={"train": {"schedule": "exponential", "gamma": "0.5", "min_lr_ratio": "0", "patience": "0"}})
    get_task("forecast").train(req)
    lrs = [json.loads(line)["lr"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    # one evaluation per epoch, logged after the epoch's last step, which ran at lr * 0.5**epoch
    assert lrs == pytest.approx([0.01, 0.005, 0.0025, 0.00125])

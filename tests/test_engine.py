"""Engine invariants: --resume after a crash equals an uninterrupted run; the time budget stops cleanly."""

import json

import pytest
import torch
from safetensors.torch import load_file

from seqlab.tasks import get_task
from seqlab.tasks.base import TrainRequest


class Crash(Exception):
    pass


def _req(data, out, **kw):
    return TrainRequest(task="classify", model="gru", data=str(data), out=out,
                        train_flags={"epochs": 3, "batch_size": 32, "precision": "fp32", "seed": 3, "lr": 0.005},
                        sets={"model": {"hidden": "16", "embed_dim": "16"}}, **kw)


def test_resume_equals_uninterrupted(tmp_path, sentiment_csv, monkeypatch):
    import seqlab.train.engine as engine

    task = get_task("classify")
    full = task.train(_req(sentiment_csv, tmp_path / "full"))

    real_init = engine.Trainer.__init__

    def crashing_init(self, *a, **kw):
        real_init(self, *a, **kw)

        def on_step(step):
            if step == 10:  # mid-epoch 2: the last checkpoint is the end of epoch 1
                raise Crash

        self.on_step = on_step

    monkeypatch.setattr(engine.Trainer, "__init__", crashing_init)
    with pytest.raises(Crash):
        task.train(_req(sentiment_csv, tmp_path / "cut"))
    monkeypatch.setattr(engine.Trainer, "__init__", real_init)
    resumed = task.train(TrainRequest(task="classify", model="", data=str(sentiment_csv), out=tmp_path / "cut", resume=True))
    assert resumed["best_accuracy"] == full["best_accuracy"] and resumed["steps"] == full["steps"]
    a, b = load_file(tmp_path / "full" / "last.safetensors"), load_file(tmp_path / "cut" / "last.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_time_budget_stops_and_keeps_best(tmp_path, sentiment_csv, fake_clock):
    req = _req(sentiment_csv, tmp_path / "tb")
    req.train_flags.update(epochs=1000, time_budget=0.5)  # 30 readings of the fake clock: a few steps
    req.sets["train"] = {"patience": "0"}  # never stop early: only the budget may end this run
    s = get_task("classify").train(req)
    assert s["stop_reason"] == "time_budget" and 1 <= s["steps"] < 30
    assert (tmp_path / "tb" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "tb" / "summary.json").read_text())["stop_reason"] == "time_budget"


def test_same_seed_same_run(tmp_path, sentiment_csv):
    t = get_task("classify")
    t.train(_req(sentiment_csv, tmp_path / "a"))
    t.train(_req(sentiment_csv, tmp_path / "b"))
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)

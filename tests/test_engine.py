"""Engine invariants: --resume after a crash equals an uninterrupted run; the time budget stops cleanly."""

import json

import pytest
import torch
from safetensors.torch import load_file

from seqlab.tasks import get_task
from seqlab.tasks.base import TrainRequest


class Crash(Exception):
    pass


def _req(data, out, ema=0.0, **kw):
    return TrainRequest(task="classify", model="gru", data=str(data), out=out,
                        train_flags={"epochs": 3, "batch_size": 32, "precision": "fp32", "seed": 3, "lr": 0.005},
                        sets={"model": {"hidden": "16", "embed_dim": "16"}, "train": {"ema": str(ema)}}, **kw)


def _saved(run, part: str) -> dict:
    """The weights ("model") or their average ("ema") in a run's resume state."""
    from seqlab import statefile

    return statefile.load(run / "state.safetensors")[part]


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_equals_uninterrupted(tmp_path, sentiment_csv, monkeypatch, ema):
    import seqlab.train.engine as engine

    task = get_task("classify")
    full = task.train(_req(sentiment_csv, tmp_path / "full", ema))

    real_init = engine.Trainer.__init__

    def crashing_init(self, *a, **kw):
        real_init(self, *a, **kw)

        def on_step(step):
            if step == 10:  # mid-epoch 2: the last checkpoint is the end of epoch 1
                raise Crash

        self.on_step = on_step

    monkeypatch.setattr(engine.Trainer, "__init__", crashing_init)
    with pytest.raises(Crash):
        task.train(_req(sentiment_csv, tmp_path / "cut", ema))
    monkeypatch.setattr(engine.Trainer, "__init__", real_init)
    resumed = task.train(TrainRequest(task="classify", model="", data=str(sentiment_csv), out=tmp_path / "cut", resume=True))
    assert resumed["best_accuracy"] == full["best_accuracy"] and resumed["steps"] == full["steps"]
    for a, b in [(_saved(tmp_path / r, "model") for r in ("full", "cut")),  # the last weights, resumed from
                 (load_file(tmp_path / r / "model.safetensors") for r in ("full", "cut"))]:  # with ema: the average
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_ema_weights_are_the_moving_average_and_are_what_is_evaluated(tmp_path, sentiment_csv, monkeypatch):
    import seqlab.train.engine as engine

    raw, seen, trained = [], [], []
    real_init = engine.Trainer.__init__

    def recording_init(self, *a, **kw):
        real_init(self, *a, **kw)
        trained.append(self.model)
        self.on_step = lambda step: raw.append({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        eval_fn = self.eval_fn
        self.eval_fn = lambda m: (seen.append(m), eval_fn(m))[1]

    monkeypatch.setattr(engine.Trainer, "__init__", recording_init)
    req = _req(sentiment_csv, tmp_path / "ema", 0.5)
    req.sets["train"]["patience"] = "0"
    get_task("classify").train(req)
    expected = dict(raw[0])  # the average starts at the first step's weights
    for n, w in enumerate(raw[1:], start=1):
        d = min(0.5, (1 + n) / (10 + n))  # the warmup: 0.18, 0.25, 0.31, ... then 0.5 from the 8th update
        expected = {k: d * expected[k] + (1 - d) * w[k] if w[k].is_floating_point() else w[k] for k in w}
    assert len(raw) > 12  # past the warmup, so both parts of the schedule are checked
    ema = _saved(tmp_path / "ema", "ema")
    for k, v in expected.items():
        torch.testing.assert_close(ema["module." + k], v, rtol=1e-5, atol=1e-6)
    assert any(not torch.allclose(expected[k], raw[-1][k]) for k in expected)  # the average is not the last step
    # every evaluation saw the averaged copy, never the module being trained
    assert len(seen) == 3 and all(m is seen[0] and m is not trained[0] for m in seen)
    with pytest.raises(ValueError, match="ema"):
        engine.TrainConfig(ema=1.0)


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


@pytest.mark.parametrize("method,name", [("append_jsonl", "metrics.jsonl"), ("save_weights", "model.safetensors")])
def test_a_crash_inside_a_checkpoint_resumes_from_the_previous_one(tmp_path, sentiment_csv, monkeypatch, method, name):
    """A kill can land between any two of a checkpoint's writes (the metrics line, the best weights, the
    weights to resume from, the rest of the resume state): --resume must continue from the last complete
    checkpoint, to the same weights and the same metrics lines as an uninterrupted run."""
    from seqlab.run import RunDir

    task = get_task("classify")
    full = task.train(_req(sentiment_csv, tmp_path / "full", 0.9))
    real, seen = getattr(RunDir, method), []

    def crash_after_second(self, file, obj):
        real(self, file, obj)
        seen.append(file)
        if seen.count(name) == 2:  # the end of epoch 2: this write is done, the rest of its checkpoint is not
            raise Crash

    monkeypatch.setattr(RunDir, method, crash_after_second)
    with pytest.raises(Crash):
        task.train(_req(sentiment_csv, tmp_path / "cut", 0.9))
    monkeypatch.undo()
    resumed = task.train(TrainRequest(task="classify", model="", data=str(sentiment_csv), out=tmp_path / "cut", resume=True))
    assert resumed["best_accuracy"] == full["best_accuracy"] and resumed["steps"] == full["steps"]
    a, b = load_file(tmp_path / "full" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [[json.loads(x)["step"] for x in (tmp_path / r / "metrics.jsonl").read_text().splitlines()]
             for r in ("full", "cut")]
    assert steps[0] == steps[1]


def test_adamw_is_fused_on_cpu_and_updates_as_the_loop_does():
    from seqlab.train.engine import TrainConfig, _adamw, _param_groups

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.LayerNorm(7), torch.nn.Linear(7, 3))
    copy = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.LayerNorm(7), torch.nn.Linear(7, 3))
    copy.load_state_dict(model.state_dict())
    start = model[0].weight.detach().clone()
    cfg = TrainConfig(lr=0.01, weight_decay=0.1)
    fused = _adamw(model, cfg, torch.device("cpu"))
    loop = torch.optim.AdamW(_param_groups(copy, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98), foreach=False)
    assert fused.defaults["fused"] is True and [g["weight_decay"] for g in fused.param_groups] == [0.1, 0.0]
    x = torch.randn(16, 5)
    for _ in range(5):
        for m, opt in ((model, fused), (copy, loop)):
            opt.zero_grad()
            m(x).square().mean().backward()
            before = [p._version for p in m.parameters()]
            opt.step()
            assert all(p._version > v for p, v in zip(m.parameters(), before))  # an in-place change, as autograd sees it
    for a, b in zip(model.parameters(), copy.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(model[0].weight, start)  # it did move


def test_the_transformer_decode_step_sees_weights_a_fused_step_changed():
    """Regression: the fused AdamW kernel wrote the parameters without bumping their versions, so the decode
    step's weight cache (keyed on them) kept the first validation's decoder for the rest of a run."""
    from seqlab.models import transformer_step
    from seqlab.models.transformer import Transformer, TransformerConfig
    from seqlab.train.engine import TrainConfig, _adamw

    torch.manual_seed(0)
    model = Transformer(TransformerConfig(src_vocab=11, tgt_vocab=13, d_model=16, n_head=2, d_ff=32, n_enc_layer=1, n_dec_layer=1))
    opt = _adamw(model, TrainConfig(lr=0.05), torch.device("cpu"))
    stale = [t.clone() for t in transformer_step.bind(model)["layers"][0][1]]  # the fused QKV (W^T, b), cached on the model
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opt.step()
    fresh = transformer_step.bind(model)["layers"][0][1]
    sa = model.dec_layers[0].self_attn
    scale = 8 ** -0.5  # the queries' 1/sqrt(head size) is folded into W_q
    torch.testing.assert_close(fresh[0], torch.cat([sa.W_q.weight * scale, sa.W_k.weight, sa.W_v.weight]).detach().t())
    assert not torch.allclose(fresh[0], stale[0])


def test_switching_to_eval_rebinds_the_decode_step_weights_whatever_changed_them():
    from seqlab.models import transformer_step
    from seqlab.models.transformer import Transformer, TransformerConfig

    torch.manual_seed(0)
    model = Transformer(TransformerConfig(src_vocab=11, tgt_vocab=13, d_model=16, n_head=2, d_ff=32, n_enc_layer=1,
                                          n_dec_layer=1)).eval()
    transformer_step.bind(model)
    lin = model.dec_layers[0].ff.linear1
    lin.weight.data.add_(1.0)  # through .data: no version bump, as a hand-written kernel might do
    assert not torch.equal(transformer_step.bind(model)["layers"][0][7][0], lin.weight.detach().t())  # cached: stale
    model.train().eval()
    torch.testing.assert_close(transformer_step.bind(model)["layers"][0][7][0], lin.weight.detach().t())

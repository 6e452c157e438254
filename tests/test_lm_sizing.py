"""The GPT's size under a --time-budget: the largest size of the ladder that the budget trains on enough
tokens (20 per weight of its blocks), chosen by timing (here a fake clock per size, so the rule itself is what is tested), and only when the user chose none."""

import json

import pytest

from seqlab.cli.main import main
from seqlab.models.gpt import GPT, GPTConfig
from seqlab.tasks import lm_sizing
from seqlab.tasks.base import TrainRequest
from seqlab.tasks.lm_io import LMLoss
from seqlab.train.engine import TrainConfig

import torch


def _fake_clock(monkeypatch, ms_by_width: dict):
    """Step times by n_embd (ms) instead of measuring; records which sizes were timed."""
    timed = []

    def fake(model, loss_fn, batch, device, precisions, cap_s):
        timed.append(model.cfg.n_embd if hasattr(model, "cfg") else model.config.n_embd)
        return ms_by_width[timed[-1]] / 1e3

    monkeypatch.setattr(lm_sizing, "_step_time", fake)
    return timed


def _choose(minutes, epochs=10, stream_len=1_000_000, **train):  # about tinyshakespeare's length
    stream = torch.randint(0, 65, (stream_len,))
    from seqlab.tasks.lm_io import gpt_batches

    return lm_sizing.choose(GPTConfig(vocab_size=65), TrainConfig(time_budget=minutes, epochs=epochs, **train),
                            GPT, LMLoss(False, False), lambda T: gpt_batches(stream, T, 32, 0, 0), torch.device("cpu"))


@pytest.mark.parametrize("ms,expected", [
    # 15 minutes, 85% usable: baby (786k block weights) needs 15.7M tokens, 2,048 a step; small (3.1M) 63M, 4,096
    # a step; nanogpt-shakespeare (10.6M) 212M, 8,192 a step
    ({128: 50, 256: 300, 384: 3000}, "baby"),  # 2 CPU cores: small's 2,550 steps are 10M tokens
    ({128: 10, 256: 40, 384: 3000}, "small"),  # small: 19,125 steps, 78M tokens; the 384-wide one far short
    ({128: 5, 256: 30, 384: 20}, "nanogpt-shakespeare"),  # a fast machine (a GPU): 38,250 steps, 313M tokens
    ({128: 150, 256: 300, 384: 3000}, "baby"),  # none trains enough: the smallest
])
def test_the_largest_size_the_budget_trains_enough_is_chosen(monkeypatch, ms, expected):
    _fake_clock(monkeypatch, ms)
    choice, info = _choose(15, epochs=lm_sizing.BUDGET_EPOCHS)  # no --epochs: the run trains to the budget's end
    assert info["size"] == expected
    name, sizes, T, lr = next(e for e in lm_sizing.LADDER if e[0] == expected)
    assert choice == {"model": sizes, "block_size": T, "lr": lr}
    assert info["tokens_per_param"] == 20 and info["probe"]["baby"]["tokens_needed"] == 20 * 4 * 12 * 128 ** 2


def test_a_size_too_slow_to_time_is_predicted_and_never_built(monkeypatch):
    timed = _fake_clock(monkeypatch, {128: 1500, 256: 9000, 384: 60000})  # a slow machine
    _, info = _choose(15)
    # baby at 1.5 s: 510 steps (1M tokens < 15.7M, but the smallest is the fallback); small predicted by FLOPs at 12 s, and
    # timing it twice at two precisions would take 48 s, over the probe's 27 s: predicted, not timed, too slow
    assert info["size"] == "baby" and timed == [128] and not info["probe"]["small"]["measured"]
    assert "nanogpt-shakespeare" not in info["probe"]


def test_short_text_needs_only_its_epochs(monkeypatch):
    _fake_clock(monkeypatch, {128: 50, 256: 300, 384: 3000})
    # 20,000 tokens: 77 blocks of 256, 3 batches of 32 an epoch: 10 epochs are 30 steps, which the 384-wide model
    # (predicted from the 256-wide one's 300 ms at ~2 s a step) does in two minutes; timing it would cost more
    # than the probe's 3% of the budget, so the prediction decides
    _, info = _choose(2, stream_len=20_000)
    assert info["size"] == "nanogpt-shakespeare"
    assert info["probe"]["nanogpt-shakespeare"]["steps_needed"] == 30
    assert not info["probe"]["nanogpt-shakespeare"]["measured"] and info["probe"]["small"]["measured"]


def _req(**given) -> TrainRequest:
    return TrainRequest(task="lm", model="gpt", data="x", out="o", **given)


def test_applies_only_without_a_size_and_with_a_budget():
    from seqlab.tasks.base import compose
    from seqlab.tasks.lm import TASK

    def applies(**given):
        req = _req(**given)
        return lm_sizing.applies(req, compose(req, TASK))

    budget = {"time_budget": 15}
    assert applies(train_flags=budget)
    assert not applies()  # no budget: the config's own size
    assert not applies(train_flags=budget, sets={"model": {"n_layer": "2"}})
    assert not applies(train_flags=budget, data_flags={"block_size": 32})
    assert not applies(train_flags=budget, config_file={"model": {"n_embd": 96}})
    assert applies(train_flags={**budget, "lr": 1e-3})  # the learning rate is kept, the size still chosen
    lstm = TrainRequest(task="lm", model="lstm", data="x", out="o", train_flags=budget)
    assert not lm_sizing.applies(lstm, compose(lstm, TASK))


def test_cli_run_records_the_size_it_chose_and_resumes_with_it(tmp_path, monkeypatch):
    _fake_clock(monkeypatch, {128: 50, 256: 300, 384: 3000})  # as a 2-core CPU: "small"
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    out = tmp_path / "run"
    args = ["-q", "train", "lm", "--data", str(text), "--time-budget", "15", "--lr", "5e-3", "--precision", "fp32",
            "--set", "train.max_steps=4", "--out", str(out)]
    assert main(args) == 0
    cfg = json.loads((out / "config.json").read_text())
    meta = json.loads((out / "meta.json").read_text())
    assert meta["sizing"]["size"] == "nanogpt-shakespeare"  # 4 steps are all it asks for: the largest fits
    assert (cfg["model"]["n_layer"], cfg["model"]["n_embd"], cfg["data"]["block_size"]) == (6, 384, 256)
    assert cfg["train"]["lr"] == 5e-3  # --lr given: kept
    assert cfg["train"]["epochs"] == lm_sizing.BUDGET_EPOCHS  # no --epochs: the budget (or early stopping) ends it
    args[args.index("train.max_steps=4")] = "train.max_steps=6"
    assert main([*args, "--resume"]) == 0  # the saved size is the run's; no second choice
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
    assert main([*args[:-2], "--epochs", "3", "--out", str(tmp_path / "e3")]) == 0
    assert json.loads((tmp_path / "e3" / "config.json").read_text())["train"]["epochs"] == 3  # --epochs given: kept

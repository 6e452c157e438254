"""A busy machine and honest budgets: a short precision probe, threads chosen against other load,
timed phases with a sign of life."""

import logging
import threading

import pytest
import torch

from seqlab import cpu, device, phases


class Clock:
    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


@pytest.mark.parametrize("step_s,budget_s,max_steps", [
    (0.001, 0.0, 8),     # a small model: warm-up + 3 rounds of both precisions, well under the cap
    (0.5, 0.0, 4),       # 0.5 s steps: the 2 s cap stops the rounds early
    (3.0, 0.0, 2),       # one fp32 step over the cap: one bf16 step, no rounds
    (3.0, 600.0, 2),     # ... the same within a 10-minute budget (5% = 30 s)
    (3.0, 60.0, 1),      # ... but not when a bf16 step too would pass 5% of a 1-minute budget (3 s)
    (0.4, 30.0, 4),      # --time-budget 0.5 (30 s): 5% = 1.5 s, room for the warm-ups and one round
])
def test_precision_probe_stays_under_its_cap(monkeypatch, step_s, budget_s, max_steps, caplog):
    clock, steps = Clock(), []

    def fake_step(model, loss_fn, batch, dev, precision):
        dt = step_s * (0.5 if precision == "bf16" else 1.0)  # bf16 twice as fast
        clock.now += dt
        steps.append(precision)
        return dt

    monkeypatch.setattr(device, "time", clock)
    monkeypatch.setattr(device, "one_step_time", fake_step)
    with caplog.at_level(logging.INFO, logger="seqlab"):
        choice, probe = device.resolve_precision("auto", torch.device("cpu"), torch.nn.Linear(2, 2), None, {"x": 1},
                                                 budget_s=budget_s)
    cap = min(2.0, 0.05 * budget_s) if budget_s else 2.0
    assert len(steps) <= max_steps
    assert clock.now <= cap or len(steps) <= 2  # only the warm-up steps may pass the cap
    assert probe["probe_total"] >= 0 and "probe took" in caplog.text
    if step_s > cap and budget_s and 2 * step_s > 0.05 * budget_s:
        assert steps == ["fp32"] and choice == "fp32" and "bf16" not in probe
    else:
        assert choice == "bf16"


def test_threads_follow_other_load(monkeypatch, caplog):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(cpu, "usable_cores", lambda: 2)
    monkeypatch.setattr(cpu, "DEFAULT_THREADS", 2)
    monkeypatch.setattr(cpu.torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(cpu, "other_runnable", lambda: 1.0)
    with caplog.at_level(logging.WARNING, logger="seqlab"):
        n, _ = cpu.choose_threads(apply=False)
    assert n == 1 and "train.threads" in caplog.text and "OMP_NUM_THREADS" in caplog.text
    monkeypatch.setattr(cpu, "other_runnable", lambda: 0.2)
    assert cpu.choose_threads(apply=False)[0] == 2  # an idle machine keeps PyTorch's default
    monkeypatch.setattr(cpu, "other_runnable", lambda: 5.0)
    assert cpu.choose_threads(apply=False)[0] == 1  # never below one
    assert cpu.choose_threads(requested=2, apply=False)[0] == 2  # an explicit choice wins
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cpu.choose_threads(apply=False)[0] == 2


def test_other_runnable_reads_the_machine():
    assert cpu.other_runnable() >= 0 and cpu.usable_cores() >= 1


def test_phase_logs_its_time_and_counts(caplog):
    phases.phase_times(reset=True)
    with caplog.at_level(logging.INFO, logger="seqlab"):
        with phases.phase("read data"):
            pass
        with pytest.raises(ValueError):
            with phases.phase("read data"):
                raise ValueError("boom")
    assert set(phases.phase_times()) == {"read data"}
    assert [r.getMessage().startswith("phase read data:") for r in caplog.records] == [True, True]
    assert "(failed)" in caplog.records[1].getMessage()


def test_a_long_phase_shows_a_spinner_on_stderr(monkeypatch):
    seen, lines = threading.Event(), []

    class Stream:
        def write(self, s):
            lines.append(s)
            if "tokenise 3/10" in s:
                seen.set()

        def flush(self):
            pass

    monkeypatch.setattr(phases, "_interactive", lambda: True)
    monkeypatch.setattr(phases.sys, "stderr", Stream())
    with phases.phase("tokenise", total=10, show_after=0.0) as p:
        p.advance(3)
        assert seen.wait(5.0)
    assert any(w.startswith("\r") and w.strip() == "" for w in lines)  # the spinner line is erased when the phase ends


def test_big_inputs_are_tokenised_in_chunks_with_the_same_result(monkeypatch):
    from seqlab.data import tokenizers

    texts = [f"text number {i} with words" for i in range(25)]
    tok = tokenizers.make_tokenizer("word").fit(texts)
    expected = tok.encode_batch(texts)
    monkeypatch.setattr(tokenizers, "BIG_INPUT", 10)
    monkeypatch.setattr(tokenizers, "_CHUNK", 3)
    phases.phase_times(reset=True)
    assert tok.encode_batch(texts) == expected
    assert tokenizers.make_tokenizer("word").fit(texts).itos == tok.itos
    assert {"tokenise (word)", "fit tokenizer (word)"} <= set(phases.phase_times())

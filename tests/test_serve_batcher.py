"""MicroBatcher: requests gathered into one batch, keys kept apart, results split back in order, one bad
request failing alone. Deterministic: batches fill to max_batch instead of waiting on the clock."""

from __future__ import annotations

import threading

import pytest

from seqlab.serve.batcher import MicroBatcher


class Recorder:
    def __init__(self, gate: threading.Event | None = None):
        self.batches: list[tuple] = []
        self.gate = gate

    def __call__(self, key, items):
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append((key, list(items)))
        if "bad" in items:
            raise ValueError("bad input")
        return [f"{key}:{x}" for x in items]


def test_requests_fill_one_batch_and_get_their_own_results():
    rec = Recorder()
    b = MicroBatcher(rec, max_batch=5, max_wait_ms=60_000)
    futs = [b.submit("k", ["a"]), b.submit("k", ["b", "c"]), b.submit("k", ["d", "e"])]
    assert [f.result(10) for f in futs] == [["k:a"], ["k:b", "k:c"], ["k:d", "k:e"]]
    assert rec.batches == [("k", ["a", "b", "c", "d", "e"])]  # one run for three requests
    b.close()


def test_other_keys_never_share_a_batch_and_keep_their_turn():
    gate = threading.Event()
    rec = Recorder(gate)
    b = MicroBatcher(rec, max_batch=2, max_wait_ms=0)
    first = b.submit("x", ["0"])  # the worker blocks inside run on this one
    futs = [b.submit("a", ["1"]), b.submit("b", ["2"]), b.submit("a", ["3"])]
    gate.set()
    assert [f.result(10) for f in futs] == [["a:1"], ["b:2"], ["a:3"]]
    assert first.result(10) == ["x:0"]
    assert rec.batches == [("x", ["0"]), ("a", ["1", "3"]), ("b", ["2"])]
    b.close()


def test_a_failing_request_fails_alone():
    rec = Recorder()
    b = MicroBatcher(rec, max_batch=3, max_wait_ms=60_000)
    ok1, bad, ok2 = b.submit("k", ["1"]), b.submit("k", ["bad"]), b.submit("k", ["2"])
    assert ok1.result(10) == ["k:1"] and ok2.result(10) == ["k:2"]
    with pytest.raises(ValueError, match="bad input"):
        bad.result(10)
    assert rec.batches[0] == ("k", ["1", "bad", "2"])  # tried together, then one by one
    b.close()


def test_close_finishes_what_was_submitted():
    gate = threading.Event()
    rec = Recorder(gate)
    b = MicroBatcher(rec, max_batch=1, max_wait_ms=0)
    futs = [b.submit("k", [str(i)]) for i in range(4)]
    gate.set()
    b.close()
    assert [f.result(0) for f in futs] == [[f"k:{i}"] for i in range(4)]
    with pytest.raises(RuntimeError):
        b.submit("k", ["late"])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_batch=0)

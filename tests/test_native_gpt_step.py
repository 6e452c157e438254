"""The C decode step (seqlab.native.gpt_step) against the same arithmetic written in PyTorch, and its build."""

import copy
import logging
import os
import stat

import pytest
import torch
import torch.nn as nn
from conftest import tiny_gpt

from seqlab.models.gpt import KVCache
from seqlab.models.gpt_decode import GPTDecoder
from seqlab.models.sampling import GenerationConfig, generate
from seqlab.native import build
from seqlab.native.gpt_step import native_gpt_step, pack_bf16, pack_f32


def _step_or_skip(model, weights="bf16", portable=False):
    step = native_gpt_step(model, weights, portable=portable)
    if step is None:
        pytest.skip("the native decode step cannot be compiled here (no C compiler)")
    return step


def bf16_emulated(model):
    """What the kernel computes, in PyTorch: weights rounded to bf16, every Linear's input rounded to bf16,
    all arithmetic in fp32."""
    m = copy.deepcopy(model).to(torch.bfloat16).float()
    for mod in m.modules():
        if isinstance(mod, nn.Linear):
            mod.register_forward_pre_hook(lambda _, args: (args[0].to(torch.bfloat16).float(),))
    return m


SHAPES = [
    dict(),  # C 32, 2 heads of 16, vocab 50 (one partial block of 64 outputs)
    dict(n_embd=40, n_head=4, vocab_size=70, bias=False, activation="gelu"),  # head size 10, no biases, erf GELU
    dict(n_embd=128, n_head=4, n_layer=3, vocab_size=65),  # several output blocks per matrix
]


@pytest.mark.parametrize("weights,portable", [("bf16", False), ("bf16", True), ("fp32", False)],
                         ids=["bf16", "bf16-portable", "fp32"])
@pytest.mark.parametrize("shape", SHAPES, ids=["small", "odd", "wide"])
def test_step_equals_the_same_arithmetic_in_pytorch(shape, weights, portable):
    """Each step from the same cache as the PyTorch module's step. With bf16 weights, fp32 sums in another
    order can round an activation to the neighbouring bf16 value now and then (a ~1e-3 change downstream),
    so: nearly every step agrees to fp32 rounding and none is off by more than such a flip. fp32: every step."""
    m = tiny_gpt(**shape)
    if weights == "bf16":
        step, ref = _step_or_skip(copy.deepcopy(m).to(torch.bfloat16), "bf16", portable), bf16_emulated(m)
    else:
        step, ref = _step_or_skip(m, "fp32"), m
    cfg = m.config
    ids = torch.randint(0, cfg.vocab_size, (1, 5), generator=torch.Generator().manual_seed(1))
    cache = KVCache(cfg, 1, cfg.block_size, "cpu", torch.float32)
    errs = []
    with torch.inference_mode():
        ref(ids, cache=cache, last_only=True)  # the prefill fills slots 0..4
        for slot in range(5, cfg.block_size):
            tok = (slot * 7 + 3) % cfg.vocab_size
            before = copy.deepcopy(cache)
            want = ref(torch.tensor([[tok]]), cache=before, last_only=True)[:, -1]  # (1, V)
            got = step(tok, slot, slot, cache.k, cache.v)  # (1, V), writes slot `slot` of the cache
            cache.length = slot + 1
            assert got.shape == (1, cfg.vocab_size) and got.dtype == torch.float32
            scale = max(1.0, want.abs().max().item())
            errs.append(max((got - want).abs().max().item() / scale,
                            (cache.k[:, :, :, slot] - before.k[:, :, :, slot]).abs().max().item(),
                            (cache.v[:, :, :, slot] - before.v[:, :, :, slot]).abs().max().item()))
    assert max(errs) <= (5e-3 if weights == "bf16" else 1e-5)
    assert sum(e <= 1e-5 for e in errs) >= 0.75 * len(errs), errs


def test_pack_layout():
    w = torch.arange(70 * 5, dtype=torch.float32).view(70, 5)  # 70 outputs (2 blocks), 5 inputs (3 pairs)
    p = pack_bf16(w)
    assert p.shape == (2, 3, 64, 2) and p.dtype == torch.bfloat16
    for out, inp in [(0, 0), (3, 4), (63, 1), (64, 2), (69, 3)]:
        assert p[out // 64, inp // 2, out % 64, inp % 2] == w[out, inp].to(torch.bfloat16)
    assert p[1, :, 6:].abs().sum() == 0 and p[:, 2, :, 1].abs().sum() == 0  # padding is zero


def test_pack_f32_layout():
    w = torch.randn(70, 5)
    p = pack_f32(w)
    assert p.shape == (2, 5, 64) and p.dtype == torch.float32
    assert torch.equal(p[0].t(), w[:64]) and torch.equal(p[1, :, :6].t(), w[64:]) and p[1, :, 6:].abs().sum() == 0


def test_decoder_uses_the_native_step_for_one_row_only():
    m = tiny_gpt()
    d = GPTDecoder(copy.deepcopy(m).to(torch.bfloat16), "bf16")
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    calls = []
    real = d.native.__call__
    d.native = type("Spy", (), {"__call__": lambda self, *a: calls.append(a[1]) or real(*a)})()
    cfg = GenerationConfig(max_new_tokens=4, greedy=True)
    generate(d, [[1, 2, 3]], cfg)
    assert calls == [3, 4, 5]  # positions of the three decode steps (the prompt's token goes to prefill)
    calls.clear()
    two = generate(d, [[1, 2, 3], [4, 5]], cfg)  # two rows, one left-padded: the PyTorch step
    assert calls == [] and len(two) == 2 and all(len(r) == 4 for r in two)


def test_off_switch_and_missing_compiler_fall_back(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path))
    monkeypatch.setenv("SEQLAB_NATIVE", "0")
    assert build.load.__wrapped__("gpt_step") is None
    monkeypatch.setenv("SEQLAB_NATIVE", "1")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with caplog.at_level(logging.INFO, logger="seqlab.native.build"):
        assert build.load.__wrapped__("gpt_step") is None
    assert "no C compiler" in caplog.text
    assert not (tmp_path / "native").exists()


def test_a_failing_compiler_is_reported_and_leaves_nothing(monkeypatch, tmp_path, caplog):
    cc = tmp_path / "badcc"
    cc.write_text("#!/bin/sh\n[ \"$1\" = --version ] && { echo badcc 1.0; exit 0; }\necho 'error: boom' >&2\nexit 1\n")
    cc.chmod(cc.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", str(cc))
    with caplog.at_level(logging.WARNING, logger="seqlab.native.build"):
        assert build.load.__wrapped__("gpt_step") is None
    assert "not built" in caplog.text and "boom" in caplog.text
    assert os.listdir(tmp_path / "cache" / "native") == []  # no half-written library left behind


def test_builds_once_and_reuses_the_cached_library(monkeypatch, tmp_path):
    if build.library_path("gpt_step") is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path))
    path = build.library_path("gpt_step")
    assert path.parent == tmp_path / "native" and path != build.library_path("gpt_step", ("SEQLAB_PORTABLE",))
    assert build.load.__wrapped__("gpt_step") is not None and path.exists()
    monkeypatch.setattr(build, "_build", lambda *a: pytest.fail("rebuilt a cached library"))
    assert build.load.__wrapped__("gpt_step") is not None


def _run(step, cfg, tokens):
    cache = KVCache(cfg, 1, cfg.block_size, "cpu", torch.float32)
    return torch.cat([step(t, s, s, cache.k, cache.v) for s, t in enumerate(tokens)])  # (T, V)


@pytest.mark.parametrize("weights", ["bf16", "fp32"])
def test_logits_are_the_same_bits_on_any_number_of_threads(weights):
    m = tiny_gpt(n_embd=128, n_head=4, vocab_size=200)  # 4 output blocks of the head, 4 heads to share out
    steps = [native_gpt_step(m, weights, threads=n) for n in (1, 2, 3, 5)]
    if steps[0] is None:
        pytest.skip("the native decode step cannot be compiled here")
    tokens = [(7 * i + 1) % 200 for i in range(20)]
    one = _run(steps[0], m.config, tokens)
    for step in steps[1:]:
        assert torch.equal(_run(step, m.config, tokens), one)


def test_concurrent_callers_get_their_own_answers():
    import threading

    m = tiny_gpt(n_embd=64)
    step = _step_or_skip(m, "fp32")
    step.threads = 2
    runs = {i: [(i * 5 + j) % 50 for j in range(25)] for i in range(4)}
    want = {i: _run(step, m.config, toks) for i, toks in runs.items()}
    got = {}
    threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, _run(step, m.config, runs[i]))) for i in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(torch.equal(got[i], want[i]) for i in runs)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_forked_child_can_still_step():
    """The worker threads do not survive fork; the child must start its own instead of waiting on them."""
    m = tiny_gpt()
    step = _step_or_skip(m, "fp32")
    step.threads = 2
    want = _run(step, m.config, [1, 2, 3])  # starts the parent's worker
    pid = os.fork()
    if pid == 0:  # child: a hang ends by the alarm (exit code from SIGALRM), a wrong answer by exit 1
        import signal

        signal.alarm(30)
        os._exit(0 if torch.equal(_run(step, m.config, [1, 2, 3]), want) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

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
from seqlab.native.gpt_step import native_gpt_step, pack_bf16, pack_f32, pack_int8


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


def int8_emulated(model):
    """What the int8 kernel computes, in PyTorch: each Linear's weight as scale[o] * W_q[o] (W_q int8, one
    symmetric scale per row) and its input rounded per row to int8 steps of max|x| / 127; fp32 arithmetic."""
    m = copy.deepcopy(model)

    def fake_quant_rows(_, args):
        x = args[0]
        s = x.abs().amax(-1, keepdim=True) / 127.0
        s = torch.where(s > 0, s, torch.ones_like(s))
        return ((x * (1.0 / s)).round().clamp(-127, 127) * s,)

    for mod in m.modules():
        if isinstance(mod, nn.Linear):
            w = mod.weight.detach()
            scale = w.abs().amax(1).clamp(min=1e-8) / 127.0
            mod.weight = nn.Parameter((w / scale[:, None]).round().clamp(-127, 127) * scale[:, None])
            mod.register_forward_pre_hook(fake_quant_rows)
    return m


def kv_rounded(model):
    """``model`` with each block's keys and values rounded to bf16 as they leave c_attn (queries not): what the
    kernel computes with a bf16 cache, where each key and value is rounded once, when written, and read back
    into fp32. (In place; returns the model.)"""
    C = model.config.n_embd

    def round_kv(_, __, out):
        return torch.cat([out[..., :C], out[..., C:].to(torch.bfloat16).float()], -1)

    for blk in model.h:
        blk.attn.c_attn.register_forward_hook(round_kv)
    return model


SHAPES = [
    dict(),  # C 32, 2 heads of 16, vocab 50 (one partial block of 64 outputs)
    dict(n_embd=40, n_head=4, vocab_size=70, bias=False, activation="gelu"),  # head size 10, no biases, erf GELU
    dict(n_embd=128, n_head=4, n_layer=3, vocab_size=65),  # several output blocks per matrix
]


@pytest.mark.parametrize("weights,portable", [("bf16", False), ("bf16", True), ("fp32", False), ("fp32", True),
                                              ("int8", False), ("int8", True)],
                         ids=["bf16", "bf16-portable", "fp32", "fp32-portable", "int8", "int8-portable"])
@pytest.mark.parametrize("shape", SHAPES, ids=["small", "odd", "wide"])
@pytest.mark.parametrize("kv", [torch.float32, torch.bfloat16], ids=["kv-fp32", "kv-bf16"])
def test_step_equals_the_same_arithmetic_in_pytorch(kv, shape, weights, portable):
    """Each step from the same cache as the PyTorch module's step. With bf16 weights, fp32 sums in another
    order can round an activation to the neighbouring bf16 value now and then (a ~1e-3 change downstream),
    so: nearly every step agrees to fp32 rounding and none is off by more than such a flip. int8 likewise
    (an input on a rounding boundary may go to the neighbouring int8 step), and a bf16 cache likewise (a
    key on a rounding boundary). fp32 weights and cache: every step."""
    m = tiny_gpt(**shape)
    if weights == "bf16":
        step, ref = _step_or_skip(copy.deepcopy(m).to(torch.bfloat16), "bf16", portable), bf16_emulated(m)
    elif weights == "int8":
        step, ref = _step_or_skip(m, "int8", portable), int8_emulated(m)
    else:
        step, ref = _step_or_skip(m, "fp32", portable), copy.deepcopy(m)
    if kv == torch.bfloat16:
        ref = kv_rounded(ref)
    cfg = m.config
    ids = torch.randint(0, cfg.vocab_size, (1, 5), generator=torch.Generator().manual_seed(1))
    cache = KVCache(cfg, 1, cfg.block_size, "cpu", torch.float32)
    errs = []
    with torch.inference_mode():
        ref(ids, cache=cache, last_only=True)  # the prefill fills slots 0..4 (rounded to bf16 for a bf16 cache)
        k, v = cache.k.to(kv), cache.v.to(kv)  # the step's cache; exact for the rounded values
        for slot in range(5, cfg.block_size):
            tok = (slot * 7 + 3) % cfg.vocab_size
            before = copy.deepcopy(cache)
            before.k.copy_(k), before.v.copy_(v)  # the reference starts from the step's cache
            want = ref(torch.tensor([[tok]]), cache=before, last_only=True)[:, -1]  # (1, V)
            got = step(torch.tensor([tok]), slot, k, v)  # (1, V), writes slot `slot` of the cache
            cache.k.copy_(k), cache.v.copy_(v)
            cache.length = slot + 1
            assert got.shape == (1, cfg.vocab_size) and got.dtype == torch.float32
            scale = max(1.0, want.abs().max().item())
            errs.append(max((got - want).abs().max().item() / scale,
                            (cache.k[:, :, :, slot] - before.k[:, :, :, slot]).abs().max().item(),
                            (cache.v[:, :, :, slot] - before.v[:, :, :, slot]).abs().max().item()))
    assert max(errs) <= (5e-3 if weights in ("bf16", "int8") or kv == torch.bfloat16 else 1e-5)
    assert sum(e <= 1e-5 for e in errs) >= 0.75 * len(errs), errs


def test_pack_layout():
    w = torch.arange(70 * 5, dtype=torch.float32).view(70, 5)  # 70 outputs (2 blocks), 5 inputs (3 pairs)
    p = pack_bf16(w)
    assert p.shape == (2, 3, 64, 2) and p.dtype == torch.bfloat16
    for out, inp in [(0, 0), (3, 4), (63, 1), (64, 2), (69, 3)]:
        assert p[out // 64, inp // 2, out % 64, inp % 2] == w[out, inp].to(torch.bfloat16)
    assert p[1, :, 6:].abs().sum() == 0 and p[:, 2, :, 1].abs().sum() == 0  # padding is zero


def test_pack_int8_layout():
    w = torch.randn(70, 6, generator=torch.Generator().manual_seed(0))  # 2 blocks of outputs, 2 groups of inputs
    p, scale, wsum = pack_int8(w)
    assert p.shape == (2, 2, 64, 4) and p.dtype == torch.int8 and scale.shape == wsum.shape == (70,)
    w_q = (w / scale[:, None]).round()
    assert w_q.abs().max() == 127 and ((w_q * scale[:, None]) - w).abs().max() <= scale.max() / 2 + 1e-6
    for out, inp in [(0, 0), (3, 5), (63, 1), (64, 2), (69, 3)]:
        assert p[out // 64, inp // 4, out % 64, inp % 4] == w_q[out, inp]
    assert p[1, :, 6:].abs().sum() == 0 and p[:, 1, :, 2:].abs().sum() == 0  # padding is zero
    assert torch.equal(wsum, w_q.sum(1).to(torch.int32))


def test_int8_vnni_and_portable_loops_give_the_same_bits():
    """Integer sums are exact: the AVX512-VNNI kernel and the plain-C loop agree bit for bit."""
    m = tiny_gpt(n_embd=128, n_head=4, vocab_size=65)
    fast, plain = _step_or_skip(m, "int8"), _step_or_skip(m, "int8", portable=True)
    cfg = m.config
    g = torch.Generator().manual_seed(2)
    tokens = torch.tensor([1, 7, 30, 2, 64, 0, 9, 11, 3])  # nine rows: four, four and one share each block's reads
    k = torch.randn(cfg.n_layer, 9, cfg.n_head, cfg.block_size, 32, generator=g)
    v = torch.randn(cfg.n_layer, 9, cfg.n_head, cfg.block_size, 32, generator=g)
    a = fast(tokens, 5, k.clone(), v.clone())
    b = plain(tokens, 5, k.clone(), v.clone())
    assert not plain.uses_vnni and torch.equal(a, b)


def test_pack_f32_layout():
    w = torch.randn(38, 5)
    p = pack_f32(w)
    assert p.shape == (2, 5, 32) and p.dtype == torch.float32
    assert torch.equal(p[0].t(), w[:32]) and torch.equal(p[1, :, :6].t(), w[32:]) and p[1, :, 6:].abs().sum() == 0


@pytest.mark.parametrize("kv", [torch.float32, torch.bfloat16], ids=["kv-fp32", "kv-bf16"])
@pytest.mark.parametrize("weights", ["bf16", "fp32", "int8"])
def test_rows_of_a_batch_get_the_same_bits_as_each_row_alone(weights, kv):
    """Eighteen rows, each with its own left padding: groups of eight (fp32: blocks of 32 outputs) or four
    (bf16, int8: blocks of 64) sharing each read of a weight block, then the rest (C = 96, so some blocks
    are partial). Every row's logits and new keys/values equal that row stepped alone."""
    m = tiny_gpt(n_embd=96, n_head=4)
    step = _step_or_skip(m, weights)
    cfg, B, slot = m.config, 18, 9
    g = torch.Generator().manual_seed(0)
    k = torch.randn(cfg.n_layer, B, cfg.n_head, cfg.block_size, 24, generator=g).to(kv)
    v = torch.randn(cfg.n_layer, B, cfg.n_head, cfg.block_size, 24, generator=g).to(kv)
    tokens = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3])
    start = torch.tensor([0, 2, 0, 5, 1, 9, 3, 0, 8, 4, 0, 1, 6, 2, 7, 0, 9, 5])  # rows 5, 16 see only their newest slot
    pos = slot - start
    kb, vb = k.clone(), v.clone()
    together = step(tokens, slot, kb, vb, pos, start)  # (B, V)
    for b in range(B):
        kr, vr = k[:, b:b + 1].clone(), v[:, b:b + 1].clone()
        alone = step(tokens[b:b + 1], slot, kr, vr, pos[b:b + 1], start[b:b + 1])
        assert torch.equal(together[b:b + 1], alone)
        assert torch.equal(kb[:, b:b + 1], kr) and torch.equal(vb[:, b:b + 1], vr)


def test_out_of_range_inputs_are_refused_before_the_kernel_reads_them():
    m = tiny_gpt()
    step = _step_or_skip(m, "fp32")
    cache = KVCache(m.config, 1, m.config.block_size, "cpu", torch.float32)
    for kw in (dict(tokens=torch.tensor([50])), dict(slot=32), dict(pos=torch.tensor([40])),
               dict(start=torch.tensor([3]))):
        args = dict(tokens=torch.tensor([1]), slot=2, pos=None, start=None) | kw
        with pytest.raises(ValueError, match="out of range"):
            step(args["tokens"], args["slot"], cache.k, cache.v, args["pos"], args["start"])
    with pytest.raises(ValueError, match=r"fp32 or bf16 caches of one shape \(n_layer, 2, "):
        step(torch.tensor([1, 2]), 0, cache.k, cache.v)
    for k, v in ((cache.k.bfloat16(), cache.v), (cache.k.half(), cache.v.half()),
                 (cache.k.transpose(3, 4), cache.v.transpose(3, 4))):  # mixed, fp16, not contiguous
        with pytest.raises(ValueError, match="fp32 or bf16 caches"):
            step(torch.tensor([1]), 0, k, v)


def test_generation_of_a_padded_batch_equals_each_prompt_alone():
    m = tiny_gpt()
    d = GPTDecoder(copy.deepcopy(m), "fp32")
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    prompts = [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10, 11]]
    cfg = GenerationConfig(max_new_tokens=40, greedy=True)  # 6 + 40 > block_size 32: the window slides
    assert generate(d, prompts, cfg) == [generate(d, [p], cfg)[0] for p in prompts]


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


def _run(step, cfg, tokens, kv=torch.float32):
    cache = KVCache(cfg, 1, cfg.block_size, "cpu", kv)
    return torch.cat([step(torch.tensor([t]), s, cache.k, cache.v) for s, t in enumerate(tokens)])  # (T, V)


@pytest.mark.parametrize("weights,kv", [("bf16", torch.float32), ("fp32", torch.float32), ("int8", torch.bfloat16)])
def test_logits_are_the_same_bits_on_any_number_of_threads(weights, kv):
    m = tiny_gpt(n_embd=128, n_head=4, vocab_size=200)  # 4 output blocks of the head, 4 heads to share out
    steps = [native_gpt_step(m, weights, threads=n) for n in (1, 2, 3, 5)]
    if steps[0] is None:
        pytest.skip("the native decode step cannot be compiled here")
    tokens = [(7 * i + 1) % 200 for i in range(20)]
    one = _run(steps[0], m.config, tokens, kv)
    for step in steps[1:]:
        assert torch.equal(_run(step, m.config, tokens, kv), one)


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


def test_thread_chooser_follows_the_faster_count_and_keeps_checking():
    from seqlab.native.gpt_step import ThreadChooser

    def run(c, cost, steps, outlier_every=0):
        picks = []
        for i in range(steps):
            n = c.pick()
            picks.append(n)
            c.record(n, cost[n] * (10 if outlier_every and i % outlier_every == 0 else 1))
        return picks

    c = ThreadChooser(2, explore=8, probe=3)
    picks = run(c, {2: 1.0, 1: 3.0}, 200, outlier_every=7)  # idle: two threads faster; now and then a slow step
    ones = [i for i, n in enumerate(picks) if n == 1]
    assert ones == [3, 4, 5, 22, 23, 24, 57, 58, 59, 124, 125, 126]  # probes at once, then 16, 32, 64 steps later
    picks = run(c, {2: 8.0, 1: 2.0}, 300)  # the machine gets busy: two threads now wait on each other
    assert picks[-150:].count(1) >= 147  # one thread since the first probe after the change
    picks = run(c, {2: 1.0, 1: 3.0}, 600)  # idle again: back to two at the next probe
    assert picks[-300:].count(2) >= 297  # (a probe of one thread now and then)
    assert ThreadChooser(1).pick() == 1


def test_thread_chooser_ignores_differences_within_its_margin():
    """Timer noise of a few percent must not flip the count: two threads 5% slower than one now and then
    is not a reason to switch (the probe must win by the margin, 15%)."""
    from seqlab.native.gpt_step import ThreadChooser

    c = ThreadChooser(2, explore=8, probe=3)
    picks = []
    for i in range(400):
        n = c.pick()
        picks.append(n)
        c.record(n, {2: 1.0, 1: 0.95}[n])  # one thread 5% faster: within the margin
    assert picks[-200:].count(2) >= 197 and c.best == 2
    for i in range(400):
        n = c.pick()
        c.record(n, {2: 1.0, 1: 0.5}[n])  # one thread twice as fast: beyond it
    assert c.best == 1


@pytest.mark.parametrize("chunk", [256, 4], ids=["one-call", "chunked"])
@pytest.mark.parametrize("weights", ["fp32", "bf16", "int8"])
def test_native_prefill_equals_the_modules_prompt_pass(weights, chunk, monkeypatch):
    """Prompts run through the C step's many-rows call (keys and values of every position written before
    any is read) fill the cache and give the last logits as the module's forward does with the same weights:
    left padding, a row that is all padding, and prompts split into chunks of a few tokens."""
    import seqlab.models.gpt_decode as gpt_decode

    monkeypatch.setattr(gpt_decode, "PREFILL_CHUNK", chunk)
    m = tiny_gpt(n_embd=40, n_head=4, n_layer=3)
    ref_model = {"fp32": m, "bf16": bf16_emulated(m), "int8": int8_emulated(m)}[weights]
    d = GPTDecoder(m, weights)
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    assert d.kv_dtype == (torch.float32 if weights == "fp32" else torch.bfloat16)  # bf16, int8: a bf16 cache
    if d.kv_dtype == torch.bfloat16:
        ref_model = kv_rounded(ref_model)
    idx = torch.randint(0, 50, (3, 11), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, 11, dtype=torch.bool)
    mask[0, :4] = False
    mask[2, :] = False  # all padding: attends to its last token only, at position 0, as in the module
    atol = {"fp32": 1e-5, "bf16": 5e-3, "int8": 5e-3}[weights]  # bf16/int8: a rounding flip now and then (above)
    for rows_mask in (mask, None):
        with torch.inference_mode():
            want_cache = KVCache(m.config, 3, 20, "cpu", torch.float32)
            want = ref_model(idx, mask=rows_mask, cache=want_cache, last_only=True)[:, -1]
            got, cache = d.prefill(idx, rows_mask, 9)
        assert (got - want).abs().max().item() <= atol
        assert cache.length == want_cache.length == 11 and torch.equal(cache.tokens, want_cache.tokens)
        n_pad = torch.zeros(3, dtype=torch.long) if want_cache.n_pad is None else want_cache.n_pad
        assert (cache.n_pad is None) == (want_cache.n_pad is None)
        for b in range(3):
            s = min(int(n_pad[b]), 10)  # the all-padding row: its last slot, the one its logits come from
            ulp = 2 ** -7 if d.kv_dtype == torch.bfloat16 else 0.0  # a bf16 cache: a rounding flip is 1 bf16 ulp
            for got_kv, want_kv in ((cache.k, want_cache.k), (cache.v, want_cache.v)):
                err = (got_kv[:, b, :, s:11].float() - want_kv[:, b, :, s:11]).abs()
                assert (err <= atol + ulp * want_kv[:, b, :, s:11].abs()).all()


def test_native_prefill_refuses_what_the_module_refuses():
    m = tiny_gpt()
    d = GPTDecoder(m, "fp32")
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    with pytest.raises(ValueError, match="padding must be on the left"):
        d.prefill(torch.ones(1, 4, dtype=torch.long), torch.tensor([[True, False, True, True]]), 4)
    with pytest.raises(ValueError, match="exceeds block_size"):
        d.prefill(torch.ones(1, 33, dtype=torch.long), None, 4)
    cache = KVCache(m.config, 1, 8, "cpu", torch.float32)
    one = torch.ones(1, dtype=torch.int32)
    with pytest.raises(ValueError, match="out of range"):  # cache row 1 of a 1-row cache
        d.native.rows(one.long(), one * 0, one * 0, one * 0, one, cache.k, cache.v)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_generation_reads_the_model_and_copies_nothing(precision):
    """With the C step, every precision decodes from the model as given: no copy of it (in fp32 or bf16),
    its weights and mode untouched, so a loaded run holds one module plus the step's packed weights."""
    from seqlab.models.sampling import prepare_for_generation

    m = tiny_gpt().train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    d, used = prepare_for_generation(m, precision)
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    assert used == precision and d.model is m and m.training
    out = generate(d, [[1, 2, 3]], GenerationConfig(max_new_tokens=40, greedy=True))  # slides the window
    assert len(out[0]) == 40
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert all(p.dtype == torch.float32 for p in m.parameters())

"""GPTDecoder (the flat one-token step) against the GPT module; the compiled training forward against eager."""

import copy
import logging
import shutil

import pytest
import torch
from conftest import greedy_no_cache, tiny_gpt

import seqlab.models.gpt as gpt_module
from seqlab.models.gpt_decode import GPTDecoder, has_int8_kernel
from seqlab.models.sampling import GenerationConfig, generate, prepare_for_generation


@pytest.mark.parametrize("activation", ["gelu_tanh", "gelu"])
def test_fp32_step_matches_the_module_through_padding_and_sliding(activation):
    m = tiny_gpt(activation=activation)
    d = GPTDecoder(copy.deepcopy(m), "fp32")
    idx = torch.randint(0, 50, (2, 6))
    mask = torch.tensor([[False, False, True, True, True, True], [True] * 6])  # row 0 left-padded
    with torch.inference_mode():
        ref, c_ref = m.prefill(idx, mask, 60)
        got, c_got = d.prefill(idx, mask, 60)
        for _ in range(60):  # 6 + 60 > block_size 32: the window slides twice
            tok = ref.argmax(-1)
            ref, got = m.decode(tok, c_ref), d.decode(tok, c_got)
            assert (got - ref).abs().max().item() <= 1e-5
    assert torch.equal(c_got.tokens, c_ref.tokens)


def test_fp32_decoder_greedy_equals_no_cache_recompute():
    m = tiny_gpt()
    d, used = prepare_for_generation(m, "fp32")
    assert isinstance(d, GPTDecoder) and used == "fp32"
    prompt = [3, 1, 4, 1, 5]
    out = generate(d, [prompt], GenerationConfig(max_new_tokens=40, greedy=True))[0]
    assert out == greedy_no_cache(m, prompt, 40)


@pytest.mark.parametrize("precision,native,atol", [("bf16", False, 0.05), ("bf16", True, 0.05), ("int8", False, 0.1),
                                                   ("int8", True, 0.1)])
def test_low_precision_steps_track_fp32(precision, native, atol):
    if precision == "int8" and not native and not has_int8_kernel():
        pytest.skip("no int8 kernel in this PyTorch")
    m = tiny_gpt(n_embd=64)
    d = GPTDecoder(copy.deepcopy(m).to(torch.bfloat16), precision, native=native)
    if native and d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    assert d.kernel.startswith("native") == native
    idx = torch.randint(0, 50, (1, 8))
    with torch.inference_mode():
        ref, c_ref = m.prefill(idx, None, 40)
        got, c_got = d.prefill(idx, None, 40)
        for _ in range(40):  # 8 + 40 > block_size 32: the window slides
            tok = ref.argmax(-1)
            ref, got = m.decode(tok, c_ref), d.decode(tok, c_got)
            assert got.dtype == (torch.float32 if native else torch.bfloat16)
            assert (got.float() - ref).abs().max().item() <= atol * max(1.0, ref.abs().max().item())


def test_fp32_native_step_matches_the_pytorch_step_through_sliding():
    m = tiny_gpt()
    d, ref = GPTDecoder(copy.deepcopy(m), "fp32"), GPTDecoder(copy.deepcopy(m), "fp32", native=False)
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    assert (d.kernel, ref.kernel) == ("native-fp32", "addmm")
    with torch.inference_mode():
        got, c_got = d.prefill(torch.tensor([[1, 2, 3]]), None, 50)
        want, c_want = ref.prefill(torch.tensor([[1, 2, 3]]), None, 50)
        for _ in range(50):  # 3 + 50 > block_size 32: the window slides
            tok = want.argmax(-1)
            got, want = d.decode(tok, c_got), ref.decode(tok, c_want)
            assert (got - want).abs().max().item() <= 1e-5
    assert torch.equal(c_got.tokens, c_want.tokens)


def test_decoder_threads_apply_to_the_step_only():
    before = torch.get_num_threads()
    d = GPTDecoder(tiny_gpt(), "fp32", threads=1)
    seen = []
    real_step = d._step
    d._step = lambda tok, cache: seen.append(torch.get_num_threads()) or real_step(tok, cache)
    if d.native is not None:
        real_fused = d.native.greedy
        d.native.greedy = lambda *a: seen.append(-torch.get_num_threads()) or real_fused(*a)
    generate(d, [[1, 2, 3]], GenerationConfig(max_new_tokens=3, greedy=False, seed=0))
    assert seen == [1, 1] and torch.get_num_threads() == before
    seen.clear()
    generate(d, [[1, 2, 3]], GenerationConfig(max_new_tokens=3, greedy=True))  # the C step: greedy steps in one call
    assert seen == ([-1] if d.native is not None else [1, 1]) and torch.get_num_threads() == before


def _stepwise(monkeypatch):
    """generate's one-step-per-call loop: GPTDecoder without its fused greedy steps."""
    monkeypatch.setattr(GPTDecoder, "fused_greedy", property(lambda self: False))


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
@pytest.mark.parametrize("threads", [None, 1, 2])
def test_fused_greedy_steps_give_the_stepwise_tokens(monkeypatch, precision, threads):
    """Greedy decoding on the C step runs many steps per call, each picking its argmax in C: the same tokens as
    one step per call with numpy's argmax, through left padding, the window sliding (block_size 32), an EOS that
    ends rows early, a stop() and every chunk size."""
    import seqlab.models.sampling as sampling

    m = tiny_gpt(n_embd=64)
    d = GPTDecoder(copy.deepcopy(m) if precision == "fp32" else copy.deepcopy(m).to(torch.bfloat16), precision,
                   threads=threads)
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    prompts = [[3, 1, 4, 1, 5], [9, 2], [6, 5, 3, 5, 8, 9, 7]]
    cfg = GenerationConfig(max_new_tokens=70, greedy=True)  # 7 + 70 > 32: the window slides twice
    calls = []
    real = d.native.greedy
    d.native.greedy = lambda *a, **k: calls.append(a[4]) or real(*a, **k)
    fused = generate(d, prompts, cfg)
    assert len(calls) >= 2 and all(len(r) == 70 for r in fused)
    eos = fused[1][20]  # a token row 1 emits: rows stop at their first one
    stop = lambda row, ids: len(ids) >= 11 + 7 * row  # noqa: E731
    fused_eos = generate(d, prompts, cfg, eos_id=eos)
    fused_stop = generate(d, prompts, cfg, stop=stop)
    sizes = []
    for first, most in ((1, 1), (3, 5)):  # one step per call; odd sizes across the slides and the stops
        monkeypatch.setattr(sampling, "FUSED_FIRST", first)
        monkeypatch.setattr(sampling, "FUSED_MAX", most)
        calls.clear()
        assert generate(d, prompts, cfg) == fused and generate(d, prompts, cfg, eos_id=eos) == fused_eos
        sizes += calls
    assert set(sizes) >= {1, 3, 5}
    monkeypatch.undo()
    _stepwise(monkeypatch)
    calls.clear()
    assert generate(d, prompts, cfg) == fused and calls == []
    assert generate(d, prompts, cfg, eos_id=eos) == fused_eos
    assert generate(d, prompts, cfg, stop=stop) == fused_stop
    assert fused_eos[1][-1] == eos and len(fused_eos[1]) <= 21 and [len(r) for r in fused_stop] == [11, 18, 25]


def test_fused_greedy_picks_as_numpy_argmax_with_nan_logits(monkeypatch):
    """A NaN logit is numpy's argmax (its first one): the C pick must choose it too."""
    m = tiny_gpt()
    with torch.no_grad():
        m.lm_head.weight[7] = float("nan")  # tied to wte: token 7's logit is NaN, and so is all after feeding it
    d = GPTDecoder(m, "fp32")
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    fused = generate(d, [[1, 2, 3]], GenerationConfig(max_new_tokens=6, greedy=True))
    _stepwise(monkeypatch)
    assert fused == generate(d, [[1, 2, 3]], GenerationConfig(max_new_tokens=6, greedy=True)) == [[7, 0, 0, 0, 0, 0]]


def test_picking_between_native_steps_runs_on_one_pytorch_thread(monkeypatch):
    """With the C step, the logits work between steps (sampling, a repetition penalty) must not wake PyTorch's
    OpenMP pool (its threads would spin on the cores the next C step uses); the step itself still sees
    PyTorch's thread count. (A plain greedy pick is numpy's serial argmax: nothing to set.)"""
    import seqlab.models.sampling as sampling

    d = GPTDecoder(tiny_gpt(), "fp32")
    if d.native is None:
        pytest.skip("the native decode step cannot be compiled here")
    picked, stepped = [], []
    real_pick, real_step = sampling.pick_next, d._step
    monkeypatch.setattr(sampling, "pick_next", lambda *a: picked.append(torch.get_num_threads()) or real_pick(*a))
    d._step = lambda tok, cache: stepped.append(torch.get_num_threads()) or real_step(tok, cache)
    plain = GPTDecoder(tiny_gpt(), "fp32", native=False)  # its step uses PyTorch's pool: nothing is changed
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for cfg in (dict(greedy=False, seed=0), dict(greedy=True, repetition_penalty=1.3)):
            generate(d, [[1, 2, 3], [4, 5, 6]], GenerationConfig(max_new_tokens=3, **cfg))
        assert picked == [1] * 6 and stepped == [2] * 4 and torch.get_num_threads() == 2
        picked.clear()
        generate(plain, [[1, 2, 3]], GenerationConfig(max_new_tokens=2, greedy=False, seed=0))
        assert picked == [2, 2]
    finally:
        torch.set_num_threads(before)


def test_decoder_rejects_unknown_precision():
    with pytest.raises(ValueError, match="precision"):
        GPTDecoder(tiny_gpt(), "fp8")


@pytest.mark.skipif(not (shutil.which("g++") or shutil.which("c++")),
                    reason="torch.compile (inductor) needs a C++ compiler; the eager fallback is tested below")
def test_compiled_training_forward_equals_eager():
    m = tiny_gpt(n_layer=1)
    x = torch.randint(0, 50, (2, 16))
    ref = m(x)
    m.config.compile = True
    got = m(x)
    assert not m._compile_failed, "torch.compile failed on this machine"
    assert (got - ref).abs().max().item() <= 1e-5
    got.sum().backward()  # the compiled graph trains
    assert m.wte.weight.grad is not None


def test_compile_failure_falls_back_to_eager(monkeypatch, caplog):
    m = tiny_gpt()
    x = torch.randint(0, 50, (2, 8))
    ref = m(x)
    m.config.compile = True

    def broken(*a, **k):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(gpt_module, "_COMPILED", broken)
    with caplog.at_level(logging.WARNING):
        got = m(x)
    assert torch.equal(got, ref) and m._compile_failed
    assert "continuing in eager mode" in caplog.text
    assert torch.equal(m(x), ref)  # later calls go straight to eager

"""Logit processors and the sampling loop: filtering is never violated, seeds reproduce, bad settings fail."""

import pytest
import torch

from seqlab.models.gpt import GPT, GPTConfig
from seqlab.models.sampling import (GenerationConfig, apply_repetition_penalty, apply_top_k, apply_top_p,
                                    generate, prepare_for_generation, process_logits)


class _Fixed(torch.nn.Module):
    """A fake LM whose next-token logits are always the same (B, V) row: isolates the sampler."""

    context_size = None

    def __init__(self, logits):
        super().__init__()
        self.row = torch.nn.Parameter(torch.as_tensor(logits, dtype=torch.float32), requires_grad=False)
        self.config = type("C", (), {"vocab_size": self.row.numel()})

    def prefill(self, idx, mask, n):
        return self.row.expand(idx.size(0), -1), None

    def decode(self, tok, state):
        return self.row.expand(tok.size(0), -1)


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0]])
    out = apply_top_k(logits, 2)
    assert torch.isfinite(out).tolist() == [[False, True, False, True, False]]


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    keep = torch.isfinite(apply_top_p(probs.log(), 0.75)).tolist()[0]
    assert keep == [True, True, False, False]  # 0.5 < 0.75 so the 0.3 token is needed; then 0.8 >= 0.75
    assert torch.isfinite(apply_top_p(probs.log(), 0.01)).sum() == 1  # the argmax always survives
    assert torch.isfinite(apply_top_p(probs.log(), 1.0)).all()


def test_repetition_penalty_lowers_seen_tokens_both_signs():
    logits = torch.tensor([[2.0, -2.0, 2.0]])
    seen = torch.tensor([[True, True, False]])
    assert apply_repetition_penalty(logits, seen, 2.0).tolist() == [[1.0, -4.0, 2.0]]


@pytest.mark.parametrize("cfg,allowed", [
    (dict(top_k=3), {9, 8, 7}),
    (dict(top_p=0.4), {9, 8}),
    (dict(top_k=5, top_p=0.5, temperature=2.0), None),  # temperature flattens before top-p
])
def test_sampling_never_emits_a_filtered_token(cfg, allowed):
    logits = torch.arange(10, dtype=torch.float32) * 0.3  # token 9 most likely (p = .26, .19, .14, ...)
    model = _Fixed(logits)
    gen = GenerationConfig(max_new_tokens=200, seed=1, **cfg)
    if allowed is None:
        processed = process_logits(logits[None], gen, None)
        allowed = set(torch.isfinite(processed[0]).nonzero()[:, 0].tolist())
    out = generate(model, [[0]], gen)[0]
    assert set(out) <= allowed
    assert len(set(out)) > 1  # it did sample


def test_same_seed_same_samples_and_other_seed_differs():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=40, block_size=64, n_layer=1, n_head=2, n_embd=16, dropout=0.0)).eval()
    a = generate(m, [[1, 2, 3]], GenerationConfig(max_new_tokens=40, seed=7, num_samples=2))
    b = generate(m, [[1, 2, 3]], GenerationConfig(max_new_tokens=40, seed=7, num_samples=2))
    c = generate(m, [[1, 2, 3]], GenerationConfig(max_new_tokens=40, seed=8, num_samples=2))
    assert a == b and a != c
    assert len(a) == 2 and a[0] != a[1]  # num_samples rows are independent draws


def test_global_rng_untouched_by_unseeded_sampling():
    m = _Fixed(torch.zeros(5))
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    generate(m, [[0]], GenerationConfig(max_new_tokens=3))
    assert torch.equal(torch.rand(1), expected)


def test_eos_and_stop_callback_end_rows():
    model = _Fixed(torch.tensor([0.0, 0.0, 9.0]))
    assert generate(model, [[0]], GenerationConfig(max_new_tokens=10, greedy=True), eos_id=2) == [[2]]
    out = generate(model, [[0], [1]], GenerationConfig(max_new_tokens=10, greedy=True),
                   stop=lambda row, ids: row == 0 and len(ids) == 3)
    assert out == [[2, 2, 2], [2] * 10]


def test_repetition_penalty_changes_greedy_choice():
    model = _Fixed(torch.tensor([1.0, 0.9, 0.0]))
    out = generate(model, [[2]], GenerationConfig(max_new_tokens=2, greedy=True, repetition_penalty=2.0))[0]
    assert out == [0, 1]  # after emitting 0 its logit halves to 0.5 < 0.9


def test_inverse_cdf_draws_follow_the_probabilities_and_never_a_zero():
    from seqlab.models.sampling import sample_rows

    probs = torch.tensor([0.0, 0.5, 0.0, 0.2, 0.3, 0.0])
    rows = probs.expand(40_000, -1).contiguous()
    got = sample_rows(rows, torch.Generator().manual_seed(0))
    freq = torch.bincount(got, minlength=6).float() / got.numel()
    assert freq[[0, 2, 5]].sum() == 0  # the zeros, first and last entries included
    assert (freq - probs).abs().max() < 0.01  # 40,000 draws: a standard error of ~0.0025
    edge = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1e-30, 0.0]])
    for seed in range(20):
        assert sample_rows(edge, torch.Generator().manual_seed(seed)).tolist() == [2, 0, 1]
    from seqlab.errors import UserError

    with pytest.raises(UserError, match="not finite"):  # a run whose logits hold NaN: exit 2 from the CLI
        sample_rows(torch.tensor([[0.5, float("nan")]]), None)


def test_greedy_pick_equals_torch_argmax_ties_and_nan_included():
    from seqlab.models.sampling import pick_next

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 50257, generator=g)
    logits[1, [7, 9000]] = 50.0  # a tie: the first wins
    logits[2, 123] = float("nan")
    logits[3] = 0.0
    got = pick_next(logits, GenerationConfig(greedy=True), None)
    assert got.dtype == torch.int64 and torch.equal(got, logits.argmax(-1))
    assert got[1:4].tolist() == [7, 123, 0]
    strided = logits.t().contiguous().t()  # the same values, not contiguous
    assert torch.equal(pick_next(strided, GenerationConfig(greedy=True), None), got)


@pytest.mark.parametrize("kw", [dict(top_p=0.0), dict(top_p=1.5), dict(temperature=0.0), dict(temperature=-1.0),
                                dict(top_k=-1), dict(num_samples=0), dict(repetition_penalty=0.0)])
def test_bad_settings_raise(kw):
    with pytest.raises(ValueError):
        GenerationConfig(**kw)


def test_empty_prompt_rejected():
    with pytest.raises(ValueError, match="at least one token"):
        generate(_Fixed(torch.zeros(3)), [[]], GenerationConfig(max_new_tokens=1))


@pytest.mark.parametrize("precision,atol", [("fp32", 1e-5), ("bf16", 0.05), ("int8", 0.1)])
def test_prepared_decoders_track_the_fp32_model(precision, atol):
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=40, block_size=64, n_layer=2, n_head=2, n_embd=32, dropout=0.0)).eval()
    d, used = prepare_for_generation(m, precision)
    assert used == precision and d is not m
    idx = torch.randint(0, 40, (2, 12))
    with torch.inference_mode():
        ref, c_ref = m.prefill(idx, None, 4)
        got, c_got = d.prefill(idx, None, 4)
        ref2, got2 = m.decode(ref.argmax(-1), c_ref), d.decode(ref.argmax(-1), c_got)
    scale = ref.abs().max().item()
    assert (got.float() - ref).abs().max().item() <= atol * max(1.0, scale)
    assert (got2.float() - ref2).abs().max().item() <= atol * max(1.0, scale)
    assert m.lm_head.weight is m.wte.weight  # the original is untouched


def test_auto_precision_picks_a_measured_variant():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=40, block_size=64, n_layer=1, n_head=2, n_embd=32, dropout=0.0)).eval()
    _, used = prepare_for_generation(m, "auto")
    assert used in ("fp32", "bf16")
    with pytest.raises(ValueError):
        prepare_for_generation(m, "fp8")


@pytest.mark.parametrize("fast", ["fp32", "bf16"])
def test_auto_precision_keeps_the_faster_and_times_one_candidate_at_a_time(fast, monkeypatch):
    """auto returns the candidate its timing found faster (bf16 must win by 10%), and builds the second only
    after dropping the first: each holds its own packed weights, as large as the model in fp32."""
    import gc
    import weakref

    import seqlab.models.sampling as sampling

    live: weakref.WeakSet = weakref.WeakSet()
    most = []

    def fake_time(model, steps=6):
        gc.collect()
        live.add(model)
        most.append(len(live))
        return {"fp32": 1.0, "bf16": 0.5 if fast == "bf16" else 0.95}[model.precision]

    monkeypatch.setattr(sampling, "_time_decode", fake_time)
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=40, block_size=64, n_layer=1, n_head=2, n_embd=32, dropout=0.0)).eval()
    d, used = prepare_for_generation(m, "auto")
    assert used == fast and d.precision == fast and max(most) == 1


def test_repetition_penalty_sees_prompt_tokens_equal_to_the_pad_id():
    model = _Fixed(torch.tensor([1.0, 0.9, 0.0]))
    cfg = GenerationConfig(max_new_tokens=1, greedy=True, repetition_penalty=4.0)
    # token 0 (also the pad id) is in the shorter, left-padded prompt: it must still be penalised
    out = generate(model, [[0], [2, 2, 2]], cfg, pad_id=0)
    assert out == [[1], [0]]


@pytest.mark.parametrize("top_k,top_p,temperature", [(5, 1.0, 1.0), (50, 1.0, 0.7), (20, 0.8, 1.3), (0, 0.9, 1.0),
                                                     (0, 0.3, 0.5)])
def test_candidates_give_the_processors_distribution(top_k, top_p, temperature):
    """Top-k and/or top-p among the largest logits only: the same kept tokens and probabilities as the
    processors over the whole row."""
    from seqlab.models.candidates import filter_candidates
    from seqlab.models.sampling import scale_logits

    cfg = GenerationConfig(top_k=top_k, top_p=top_p, temperature=temperature)
    logits = torch.randn(6, 3000, generator=torch.Generator().manual_seed(top_k)) * 2.5
    full = torch.softmax(process_logits(logits, cfg, None), dim=-1)  # (B, V)
    vals, idx = filter_candidates(scale_logits(logits, cfg, None), top_k, top_p)
    assert torch.equal(idx, idx.sort(-1).values)  # vocabulary order
    fast = torch.zeros_like(full).scatter(-1, idx, torch.softmax(vals, dim=-1))
    assert torch.equal(fast > 0, full > 0)
    assert (fast - full).abs().max() < 1e-6


def test_candidates_defer_to_the_full_row_when_they_cannot_decide():
    from seqlab.models.candidates import filter_candidates

    tied = torch.tensor([[5.0, 1.0, 4.0, 4.0, 0.0, 4.0]])  # the 2nd largest (4.0) ties with two more
    assert filter_candidates(tied, 2, 1.0) is None
    assert torch.isfinite(apply_top_k(tied, 2)).sum() == 4  # the full row keeps all three ties
    flat = torch.zeros(2, 5000)  # the nucleus of p = 0.5 needs 2,500 tokens: more than any candidate set
    assert filter_candidates(flat, 0, 0.5) is None
    assert filter_candidates(flat, 0, 1.0) is None  # no filter: nothing to do


def test_sampling_through_candidates_draws_what_the_full_row_draws():
    """With the same seed, next_tokens (candidates) and the processors + pick (the full row) pick the same
    tokens; a row with a tie at the k-th takes the full-row path and still samples among the ties."""
    from seqlab.models.sampling import next_tokens, pick_next

    logits = torch.randn(64, 5000, generator=torch.Generator().manual_seed(3)) * 3
    for cfg in (GenerationConfig(top_k=40, seed=0), GenerationConfig(top_p=0.9, temperature=0.8, seed=0),
                GenerationConfig(top_k=100, top_p=0.7, seed=0)):
        for seed in range(5):
            a = next_tokens(logits, cfg, None, torch.Generator().manual_seed(seed))
            b = pick_next(process_logits(logits, cfg, None), cfg, torch.Generator().manual_seed(seed))
            assert torch.equal(a, b)
    tied = torch.full((4000, 8), -5.0)
    tied[:, [1, 4, 6]] = 2.0  # top-k 2: all three tied tokens are kept, with equal chances
    got = next_tokens(tied, GenerationConfig(top_k=2), None, torch.Generator().manual_seed(0))
    assert set(got.tolist()) == {1, 4, 6} and torch.bincount(got, minlength=8)[[1, 4, 6]].min() > 1200

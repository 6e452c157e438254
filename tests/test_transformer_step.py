"""The flat inference decode step (models/transformer_step.py) against the Transformer's reference step."""

import pytest
import torch

from seqlab.models.decoding import beam_search, greedy
from seqlab.models.transformer import Transformer, TransformerConfig


def _model(norm_first, activation, copy=False):
    torch.manual_seed(0)  # the copy head needs one vocabulary: 23 on both sides
    return Transformer(TransformerConfig(src_vocab=23, tgt_vocab=23 if copy else 19, d_model=32, n_head=4, n_enc_layer=2,
                                         n_dec_layer=2, d_ff=48, dropout=0.1, activation=activation,
                                         norm_first=norm_first, copy=copy)).eval()


def _batch():
    g = torch.Generator().manual_seed(3)
    src = torch.randint(4, 23, (3, 7), generator=g)
    mask = torch.arange(7)[None] < torch.tensor([[7], [2], [5]])
    return src.masked_fill(~mask, 0), mask


@pytest.mark.parametrize("norm_first,activation,copy", [(True, "relu", False), (False, "relu", False),
                                                        (True, "gelu", False), (True, "relu", True), (False, "relu", True)])
def test_fast_step_equals_the_reference_step_through_reorders_shrinks_and_cache_growth(norm_first, activation, copy):
    model = _model(norm_first, activation, copy)
    src, mask = _batch()
    memory = model.encode(src, mask)
    ref, fast = model.init_state(memory, fast=False), model.init_state(memory)
    assert "fast" in fast and "fast" not in ref
    g = torch.Generator().manual_seed(5)
    tokens = torch.full((3,), 2)
    with torch.no_grad():
        for t in range(40):  # past the initial capacity of 32 slots
            lp_ref, ref, _ = model.step(ref, tokens)
            lp_fast, fast, _ = model.step(fast, tokens)
            torch.testing.assert_close(lp_fast, lp_ref, atol=2e-5, rtol=1e-5)
            tokens = torch.randint(4, 19, (tokens.numel(),), generator=g)
            rows = torch.randint(0, tokens.numel(), (tokens.numel(),), generator=g)
            if t == 20:  # drop a row, memory included (an ended sentence)
                rows = torch.tensor([2, 0])
                tokens = tokens[:2]
                ref, fast = model.select_rows(ref, rows), model.select_rows(fast, rows)
            else:
                ref, fast = model.reorder(ref, rows), model.reorder(fast, rows)


def test_fast_path_only_in_eval_without_attention_maps_and_beam_search_agrees():
    model = _model(True, "relu")
    src, mask = _batch()
    memory = model.encode(src, mask)
    assert "fast" not in model.init_state(memory, need_attn=True)
    model.train()
    assert "fast" not in model.init_state(memory)
    model.eval()
    for search in (lambda **k: [[h] for h in greedy(model, src, mask, 2, 3, **k)],
                   lambda **k: beam_search(model, src, mask, 2, 3, beam=4, n_best=2, **k)):
        fast = search()
        ref = search(return_attn=True)  # attention maps: the reference step
        for a, b in zip(fast, ref):
            assert [h.tokens for h in a] == [h.tokens for h in b]
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)


def test_bound_weights_follow_parameter_updates():
    model = _model(True, "relu")
    src, mask = _batch()
    memory = model.encode(src, mask)
    tokens = torch.full((3,), 2)
    with torch.no_grad():
        before, _, _ = model.step(model.init_state(memory), tokens)
        model.dec_layers[0].self_attn.W_v.weight.mul_(3.0)  # in place, as an optimizer step
        after, _, _ = model.step(model.init_state(memory), tokens)
        ref, _, _ = model.step(model.init_state(memory, fast=False), tokens)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, ref, atol=2e-5, rtol=1e-5)


def test_under_bf16_autocast_the_weights_and_cache_are_bf16_and_the_step_stays_close():
    model = _model(True, "relu")
    src, mask = _batch()
    tokens = torch.full((3,), 2)
    with torch.no_grad():
        ref, _, _ = model.step(model.init_state(model.encode(src, mask), fast=False), tokens)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            state = model.init_state(model.encode(src, mask))
            lp, state, _ = model.step(state, tokens)
            lp2, state, _ = model.step(state, tokens)
    assert state["cache"][0][0].dtype == torch.bfloat16 and state["fast"]["layers"][0][1][0].dtype == torch.bfloat16
    assert lp.dtype == torch.float32 and torch.isfinite(lp2).all()
    torch.testing.assert_close(lp, ref, atol=0.1, rtol=0.05)


@pytest.mark.parametrize("norm_first,copy", [(True, False), (False, True)])
def test_beams_share_their_sentence_keys_and_values_and_equal_the_reference_with_repeated_memory(norm_first, copy):
    model = _model(norm_first, "relu", copy)
    src, mask = _batch()
    memory = model.encode(src, mask)
    K = 3
    ref, fast = model.init_beams(memory, K, fast=False), model.init_beams(memory, K)
    assert fast["cross"][0][0].size(0) == 3 * model.cfg.n_head  # once per sentence, not per beam
    assert ref["memory"]["enc"].size(0) == 9  # the reference repeats the memory per beam
    g = torch.Generator().manual_seed(7)
    tokens, A = torch.full((9,), 2), 3
    with torch.no_grad():
        for t in range(12):
            lp_ref, ref, _ = model.step(ref, tokens)
            lp_fast, fast, _ = model.step(fast, tokens)
            torch.testing.assert_close(lp_fast, lp_ref, atol=2e-5, rtol=1e-5)
            tokens = torch.randint(4, 19, (A * K,), generator=g)
            beams = torch.randint(0, K, (A, K), generator=g)  # each sentence's rows come from its own beams
            if t == 6:  # sentence 1 ends: keep sentences 2 and 0, in that order
                rows = (torch.tensor([2, 0])[:, None] * K + beams[:2]).view(-1)
                A, tokens = 2, tokens[: 2 * K]
                ref, fast = model.select_rows(ref, rows), model.select_rows(fast, rows)
            else:
                rows = (torch.arange(A)[:, None] * K + beams).view(-1)
                ref, fast = model.reorder(ref, rows), model.reorder(fast, rows)


def test_dropping_part_of_a_sentences_beams_is_refused():
    model = _model(True, "relu")
    src, mask = _batch()
    state = model.init_beams(model.encode(src, mask), 2)
    with torch.no_grad():
        _, state, _ = model.step(state, torch.full((6,), 2))
    for rows in ([0, 2], [0, 1, 2]):  # beams of two sentences; one and a half sentences
        with pytest.raises(ValueError, match="whole sentences of 2 beams"):
            model.select_rows(state, torch.tensor(rows))


def test_a_reorder_that_moves_few_rows_copies_them_in_place_and_equals_the_reference():
    model = _model(True, "relu")
    src, mask = _batch()
    memory = model.encode(src, mask)
    ref, fast = model.init_beams(memory, 2, fast=False), model.init_beams(memory, 2)  # 6 rows
    tokens = torch.tensor([5, 6, 7, 8, 9, 10])
    moves = ([0, 1, 2, 3, 4, 5], [1, 0, 2, 3, 4, 5], [0, 0, 2, 3, 4, 4], [1, 0, 3, 2, 5, 4], [0, 1, 3, 3, 5, 4])
    with torch.no_grad():
        for rows in moves:  # none; a swap (in place: each row the other's source); two copies; all; a copy and a swap
            lp_ref, ref, _ = model.step(ref, tokens)
            lp_fast, fast, _ = model.step(fast, tokens)
            torch.testing.assert_close(lp_fast, lp_ref, atol=2e-5, rtol=1e-5)
            buffer = fast["cache"][0][0]
            fast, ref = model.reorder(fast, torch.tensor(rows)), model.reorder(ref, torch.tensor(rows))
            assert (fast["cache"][0][0].data_ptr() == buffer.data_ptr()) == (sum(r != k for k, r in enumerate(rows)) <= 3)
            tokens = tokens + 1
        lp_ref, _, _ = model.step(ref, tokens)
        lp_fast, _, _ = model.step(fast, tokens)
    torch.testing.assert_close(lp_fast, lp_ref, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("copy", [False, True])
def test_the_output_projection_in_bf16_outside_autocast_keeps_the_layers_fp32(copy):
    model = _model(True, "relu", copy)
    src, mask = _batch()
    tokens = torch.full((3,), 2)
    with torch.no_grad():
        memory = model.encode(src, mask)
        ref, _, _ = model.step(model.init_state(memory, fast=False), tokens)
        fp32, _, _ = model.step(model.init_state(memory), tokens)
        model.decode_output_dtype = torch.bfloat16
        state = model.init_state(memory)
        mixed, _, _ = model.step(state, tokens)
    out = state["fast"]["out"]
    assert state["fast"]["layers"][0][1][0].dtype == torch.float32 and state["cache"][0][0].dtype == torch.float32
    if copy:  # the copy head runs the module's own output: nothing bound, nothing in bf16
        assert out is None
        torch.testing.assert_close(mixed, ref, atol=2e-5, rtol=1e-5)
    else:
        assert out[0].dtype == torch.bfloat16 and mixed.dtype == torch.float32
        torch.testing.assert_close(fp32, ref, atol=2e-5, rtol=1e-5)
        torch.testing.assert_close(mixed, ref, atol=0.05, rtol=0.02)
        assert not torch.equal(mixed, fp32)

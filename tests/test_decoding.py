"""Greedy and beam search: beam 1 = greedy, batching, n-best, max length, length penalty."""

import math

import numpy as np
import pytest
import torch

from seqlab.models.decoding import beam_search, greedy, max_lengths
from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from seqlab.models.transformer import Transformer, TransformerConfig

SOS, EOS = 2, 3


class Markov:
    """A toy decoder implementing the protocol: next-token log-probs depend on the last token only."""

    def __init__(self, table):
        self.table = torch.tensor(table).log()  # (V, V) rows = last token

    def encode(self, src, src_mask):
        return {"mask": src_mask}

    def init_state(self, memory, need_attn=False):
        return {"memory": memory, "steps": 0}

    def step(self, state, last):
        return self.table[last], dict(state, steps=state["steps"] + 1), None

    def reorder(self, state, idx):
        return state


# vocab: 0 pad, 1 unk, 2 sos, 3 eos, 4 a, 5 b. Greedy takes "a" (0.6) then must end badly;
# "b" (0.4) leads to a certain <eos>: P(b eos) = 0.4 > P(a eos) = 0.6 * 0.5 = 0.3.
TABLE = [[1, 1, 1, 1, 1, 1]] * 2 + [
    [1e-9, 1e-9, 1e-9, 1e-9, 0.6, 0.4],  # after sos
    [1e-9, 1e-9, 1e-9, 1.0, 1e-9, 1e-9],  # after eos
    [1e-9, 1e-9, 1e-9, 0.5, 0.25, 0.25],  # after a
    [1e-9, 1e-9, 1e-9, 1.0, 1e-9, 1e-9],  # after b
]


def _src(B=2, S=4):
    return torch.full((B, S), 7), torch.ones(B, S, dtype=torch.bool)


def test_beam_finds_the_more_probable_sequence_than_greedy():
    model = Markov(TABLE)
    src, mask = _src()
    assert [h.tokens for h in greedy(model, src, mask, SOS, EOS)] == [[4], [4]]
    best = beam_search(model, src, mask, SOS, EOS, beam=2, length_penalty=0.0, n_best=2)
    assert [h.tokens for h in best[0]] == [[5], [4]]
    assert best[0][0].score == pytest.approx(math.log(0.4), abs=1e-5)
    assert best[0][1].score == pytest.approx(math.log(0.3), abs=1e-5)
    with pytest.raises(ValueError, match="n_best"):
        beam_search(model, src, mask, SOS, EOS, beam=2, n_best=3)


def test_max_length_is_a_ratio_of_the_source():
    loop = [[1, 1, 1, 1, 1, 1]] * 2 + [[1e-9, 1e-9, 1e-9, 1e-9, 1.0, 1e-9]] * 4  # never ends
    model = Markov(loop)
    src, mask = _src(B=2, S=6)
    mask[1, 2:] = False
    lim = max_lengths(mask, 1.5, 1)
    assert lim.tolist() == [10, 4]
    out = greedy(model, src, mask, SOS, EOS, max_len_a=1.5, max_len_b=1)
    assert [len(h.tokens) for h in out] == [10, 4]
    out = beam_search(model, src, mask, SOS, EOS, beam=3, max_len_a=1.5, max_len_b=1)
    assert [len(h[0].tokens) for h in out] == [10, 4]


def _rnn():
    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(src_vocab=15, tgt_vocab=12, emb_dim=8, hidden=16, attention="bahdanau",
                                 cell="lstm", dropout=0.0)).eval()


def _transformer():
    torch.manual_seed(0)
    return Transformer(TransformerConfig(src_vocab=15, tgt_vocab=12, d_model=16, n_head=2, n_enc_layer=1,
                                         n_dec_layer=2, d_ff=32, dropout=0.0)).eval()


def _real_batch():
    g = torch.Generator().manual_seed(4)
    src = torch.randint(5, 15, (4, 6), generator=g)
    mask = torch.arange(6)[None] < torch.tensor([[6], [3], [5], [1]])
    return src.masked_fill(~mask, 0), mask


@pytest.mark.parametrize("make", [_rnn, _transformer])
def test_beam_one_equals_greedy(make):
    model = make()
    src, mask = _real_batch()
    g = greedy(model, src, mask, SOS, EOS, max_len_b=5, return_attn=True)
    b = beam_search(model, src, mask, SOS, EOS, beam=1, max_len_b=5, return_attn=True)
    assert [h.tokens for h in g] == [h[0].tokens for h in b]
    for hg, hb in zip(g, b):
        torch.testing.assert_close(hg.attn, hb[0].attn)


@pytest.mark.parametrize("make", [_rnn, _transformer])
def test_greedy_incremental_equals_full_recompute(make):
    """The cached/carried state gives the same tokens as re-running the whole prefix each step."""
    model = make()
    src, mask = _real_batch()
    hyps = greedy(model, src, mask, SOS, EOS, max_len_b=5)
    for b, h in enumerate(hyps):
        prefix = torch.tensor([[SOS] + h.tokens])
        logits = model(src[b : b + 1], mask[b : b + 1], prefix)
        pred = logits.argmax(-1)[0].tolist()
        assert pred[: len(h.tokens)] == h.tokens


@pytest.mark.parametrize("make", [_rnn, _transformer])
def test_batched_beam_equals_one_sentence_at_a_time(make):
    model = make()
    src, mask = _real_batch()
    batched = beam_search(model, src, mask, SOS, EOS, beam=4, n_best=3, max_len_b=5, return_attn=True)
    for b in range(4):
        n = int(mask[b].sum())
        single = beam_search(model, src[b : b + 1, :n], mask[b : b + 1, :n], SOS, EOS, beam=4, n_best=3, max_len_b=5)
        assert [h.tokens for h in batched[b]] == [h.tokens for h in single[0]]
        scores = [h.score for h in batched[b]]
        assert scores == sorted(scores, reverse=True)
        for h in batched[b]:
            assert h.attn.shape[1] == 6
            torch.testing.assert_close(h.attn.sum(-1), torch.ones(h.attn.size(0)))


def test_length_penalty_prefers_longer_hypotheses():
    # after sos: eos 0.4, a 0.6; after a: eos 0.5, a 0.5. Raw scores: [] = log 0.4 > [a] = log 0.3.
    table = [[1, 1, 1, 1, 1, 1]] * 2 + [
        [1e-9, 1e-9, 1e-9, 0.4, 0.6, 1e-9],
        [1e-9, 1e-9, 1e-9, 1.0, 1e-9, 1e-9],
        [1e-9, 1e-9, 1e-9, 0.5, 0.5, 1e-9],
        [1e-9, 1e-9, 1e-9, 1.0, 1e-9, 1e-9],
    ]
    model = Markov(table)
    src, mask = _src()
    raw = beam_search(model, src, mask, SOS, EOS, beam=2, length_penalty=0.0, n_best=2)[0]
    assert [h.tokens for h in raw] == [[], [4]]
    assert raw[0].score == pytest.approx(math.log(0.4), abs=1e-5)
    # GNMT penalty: score / ((5 + n) / 6) ** alpha, n counting <eos>; alpha = 2 turns the order around
    pen = beam_search(model, src, mask, SOS, EOS, beam=2, length_penalty=2.0, n_best=2)[0]
    assert [h.tokens for h in pen] == [[4], []]
    assert pen[0].score == pytest.approx(math.log(0.3) / (7 / 6) ** 2, abs=1e-5)


def _ngrams(tokens, n):
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def test_block_repeats_bans_only_the_token_that_completes_a_seen_ngram():
    from seqlab.models.decoding import block_repeats

    hist = torch.tensor([[4, 5, 6, 4, 5], [4, 5, 6, 4, 6]])  # row 0 ends "4 5": "4 5 6" was seen; row 1 ends "4 6"
    out = block_repeats(torch.zeros(2, 8), hist, 3)
    assert torch.isinf(out[0]).nonzero().flatten().tolist() == [6]
    assert not torch.isinf(out[1]).any()
    assert torch.equal(block_repeats(torch.zeros(2, 8), hist, 0), torch.zeros(2, 8))


@pytest.mark.parametrize("n", [2, 3])
def test_no_repeat_ngram_keeps_every_ngram_unique(n):
    # "a" and "b" alternate with high probability and <eos> is unlikely: unblocked outputs loop
    loop = [[1, 1, 1, 1, 1, 1, 1]] * 2 + [[1e-9, 1e-9, 1e-9, 0.01, 0.89, 0.05, 0.05]] + [[1e-9] * 3 + [1.0] + [1e-9] * 3] \
        + [[1e-9, 1e-9, 1e-9, 0.01, 0.04, 0.9, 0.05], [1e-9, 1e-9, 1e-9, 0.01, 0.9, 0.04, 0.05],
           [1e-9, 1e-9, 1e-9, 0.01, 0.45, 0.45, 0.09]]
    model = Markov(loop)
    src, mask = _src(B=2, S=8)
    plain = greedy(model, src, mask, SOS, EOS)[0].tokens
    assert len(set(_ngrams(plain, n))) < len(_ngrams(plain, n))  # the test's model does loop
    for hyps in (greedy(model, src, mask, SOS, EOS, no_repeat_ngram=n),
                 [h[0] for h in beam_search(model, src, mask, SOS, EOS, beam=3, no_repeat_ngram=n)]):
        for h in hyps:
            grams = _ngrams(h.tokens, n)
            assert len(grams) > 0 and len(set(grams)) == len(grams), h.tokens


def test_settled_only_when_no_live_beam_can_reach_the_n_best():
    from seqlab.models.decoding import Hypothesis, settled

    fin = [Hypothesis([4], -1.0), Hypothesis([5], -3.0)]
    # raw scores (alpha 0): a live beam at -0.5 can still end above -1.0; at -1.5 it cannot
    assert not settled(fin, -0.5, t=1, limit=10, alpha=0.0, n_best=1)
    assert settled(fin, -1.5, t=1, limit=10, alpha=0.0, n_best=1)
    assert not settled(fin, -1.5, t=1, limit=10, alpha=0.0, n_best=2)  # the 2nd best (-3) can still be beaten
    assert not settled(fin[:1], -9.0, t=1, limit=10, alpha=0.0, n_best=2)  # fewer finished than n_best
    # alpha 1: a live beam gains by growing; its bound divides by lp(limit) = 2.5 at limit 10
    assert not settled(fin, -2.4, t=1, limit=10, alpha=1.0, n_best=1)  # -2.4 / 2.5 = -0.96 > -1.0
    assert settled(fin, -2.6, t=1, limit=10, alpha=1.0, n_best=1)
    assert settled(fin, float("-inf"), t=1, limit=10, alpha=1.0, n_best=1)


class _NoShrink:
    """The same model without ``select_rows``: beam search keeps every sentence's rows to the end."""

    def __init__(self, model):
        self.m = model

    def __getattr__(self, name):
        if name == "select_rows":
            raise AttributeError(name)
        return getattr(self.m, name)


def _ragged_batch(seed: int):
    """8 sources of lengths 1 to 9, right-padded: sentences end at different steps."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([9, 2, 7, 1, 5, 3, 8, 4])
    src = torch.randint(5, 15, (8, 9), generator=g)
    mask = torch.arange(9)[None] < lengths[:, None]
    return src.masked_fill(~mask, 0), mask


@pytest.mark.parametrize("make", [_rnn, _transformer])
def test_shrinking_the_batch_and_stopping_settled_sentences_change_no_hypothesis(make, monkeypatch):
    import seqlab.models.decoding as dec

    model = make()
    src, mask = _ragged_batch(7)
    calls = []
    select = model.select_rows
    model.select_rows = lambda state, rows: calls.append(len(rows)) or select(state, rows)
    for alpha in (0.0, 0.6, 2.0):
        kw = dict(beam=4, n_best=2, max_len_b=6, length_penalty=alpha, return_attn=True)
        fast = beam_search(model, src, mask, SOS, EOS, **kw)
        with monkeypatch.context() as m:
            m.setattr(dec, "settled", lambda *a: False)  # stop only at K finished or the length limit
            full = beam_search(_NoShrink(model), src, mask, SOS, EOS, **kw)
        for a, b in zip(fast, full):
            assert [h.tokens for h in a] == [h.tokens for h in b]
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)
            for ha, hb in zip(a, b):
                torch.testing.assert_close(ha.attn, hb.attn)
    assert calls and all(n % 4 == 0 and n < 8 * 4 for n in calls)  # the batch shrank, in whole sentences


def test_onnx_beam_top_k_equals_a_stable_full_sort_ties_included():
    from seqlab.onnx.seq2seq import top_stable

    g = np.random.default_rng(0)
    x = g.integers(0, 6, size=(7, 40)).astype(np.float32)  # many ties
    x[3] = -np.inf
    x[4, :5] = 1.0
    x[4, 5:] = -np.inf  # fewer finite values than asked for
    for n in (1, 3, 10, 40, 50):
        assert np.array_equal(top_stable(x, n), np.argsort(-x, axis=1, kind="stable")[:, :n])


def test_keep_rows_leaves_each_parents_first_survivor_in_its_row():
    from seqlab.models.decoding import keep_rows

    g = torch.Generator().manual_seed(11)
    parents = torch.randint(0, 5, (200, 5), generator=g)
    parents[0] = torch.tensor([3, 3, 3, 3, 3])
    order = keep_rows(parents)
    assert (order.sort(1).values == torch.arange(5)).all()  # a permutation per sentence
    placed = parents.gather(1, order)  # (A, K): the parent of the survivor in each row
    for p, row in zip(parents.tolist(), placed.tolist()):
        assert sorted(row) == sorted(p)
        assert sum(r != k for k, r in enumerate(row)) == 5 - len(set(p))  # only the rows of ended beams change


@pytest.mark.parametrize("make", [_rnn, _transformer])
def test_keeping_survivors_in_their_rows_changes_no_hypothesis(make, monkeypatch):
    import seqlab.models.decoding as dec

    model = make()
    src, mask = _ragged_batch(5)
    kw = dict(beam=4, n_best=3, max_len_b=6, length_penalty=0.6)
    out = {}
    for keep in (0, 10**9):
        monkeypatch.setattr(dec, "KEEP_ROWS_MIN", keep)
        out[keep] = beam_search(model, src, mask, SOS, EOS, **kw)
    for a, b in zip(out[0], out[10**9]):
        assert [h.tokens for h in a] == [h.tokens for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)

"""RNN seq2seq: padding invariance, attention weights, teacher forcing paths, incremental decoding."""

import itertools

import pytest
import torch

from seqlab.models.seq2seq import Seq2Seq, Seq2SeqConfig, teacher_forcing_ratio

V_SRC, V_TGT = 13, 11


def _model(**kw):
    torch.manual_seed(0)
    cfg = dict(src_vocab=V_SRC, tgt_vocab=V_TGT, emb_dim=8, hidden=12, attn_dim=7, layers=2, dropout=0.0)
    cfg.update(kw)
    return Seq2Seq(Seq2SeqConfig(**cfg)).eval()


def _batch(B=3, S=6, T=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(5, V_SRC, (B, S), generator=g)
    lengths = torch.tensor([S, 4, 1])[:B]
    mask = torch.arange(S)[None, :] < lengths[:, None]
    src = src.masked_fill(~mask, 0)
    tgt = torch.randint(5, V_TGT, (B, T), generator=g)
    tgt[:, 0] = 2  # <sos>
    return src, mask, tgt


VARIANTS = list(itertools.product(["rnn", "lstm", "gru"], ["none", "bahdanau", "luong", "luong-dot"], [True, False]))


@pytest.mark.parametrize("cell,attention,bi", VARIANTS)
def test_shapes_and_padding_invariance(cell, attention, bi):
    model = _model(cell=cell, attention=attention, bidirectional=bi)
    src, mask, tgt = _batch()
    logits, attn = model(src, mask, tgt, return_attn=True)
    assert logits.shape == (3, 5, V_TGT)
    # more padding (with garbage ids under it) must not change anything
    pad = torch.randint(5, V_SRC, (3, 4))
    src2 = torch.cat([src.masked_fill(~mask, 7), pad], 1)
    mask2 = torch.cat([mask, torch.zeros(3, 4, dtype=torch.bool)], 1)
    logits2, attn2 = model(src2, mask2, tgt, return_attn=True)
    torch.testing.assert_close(logits2, logits)
    if attention == "none":
        assert attn is None
    else:
        assert attn.shape == (3, 5, 6)
        torch.testing.assert_close(attn.sum(-1), torch.ones(3, 5))
        assert torch.all(attn.masked_select(~mask[:, None, :].expand_as(attn)) == 0)
        torch.testing.assert_close(attn2[..., :6], attn)
        assert torch.all(attn2[..., 6:] == 0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_encoder_padding_invariance_per_sentence(cell):
    model = _model(cell=cell)
    src, mask, _ = _batch()
    states, _ = model.encoder(src, mask)
    mem = model.encode(src, mask)
    for b in range(3):
        n = int(mask[b].sum())
        s1, _ = model.encoder(src[b : b + 1, :n], mask[b : b + 1, :n])
        torch.testing.assert_close(states[b, :n], s1[0])
        assert torch.all(states[b, n:] == 0)
        m1 = model.encode(src[b : b + 1, :n], mask[b : b + 1, :n])
        torch.testing.assert_close(mem["h0"][b], m1["h0"][0])


@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong"])
def test_teacher_forcing_one_reads_gold_and_is_causal(attention):
    model = _model(cell="lstm", attention=attention)
    src, mask, tgt = _batch()
    logits = model(src, mask, tgt, teacher_forcing=1.0)
    tgt2 = tgt.clone()
    tgt2[:, 3:] = 9  # change the future: earlier logits must not move, later ones must
    logits2 = model(src, mask, tgt2, teacher_forcing=1.0)
    torch.testing.assert_close(logits2[:, :3], logits[:, :3])
    assert not torch.allclose(logits2[:, 3:], logits[:, 3:])
    # the incremental interface gives the same log-probabilities step by step
    state = model.init_state(model.encode(src, mask))
    for t in range(tgt.size(1)):
        log_probs, state, _ = model.step(state, tgt[:, t])
        torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1))


@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong"])
def test_teacher_forcing_zero_feeds_own_predictions(attention):
    model = _model(cell="gru", attention=attention)
    src, mask, tgt = _batch()
    logits = model(src, mask, tgt, teacher_forcing=0.0)
    other = tgt.clone()
    other[:, 1:] = 9  # gold tokens after <sos> are never read
    torch.testing.assert_close(model(src, mask, other, teacher_forcing=0.0), logits)
    # and it is greedy decoding: feeding its own argmax teacher-forced reproduces the logits
    own = torch.cat([tgt[:, :1], logits[:, :-1].argmax(-1)], 1)
    torch.testing.assert_close(model(src, mask, own, teacher_forcing=1.0), logits)


def test_teacher_forcing_ratio_mixes_and_trains():
    model = _model(cell="gru", attention="bahdanau", dropout=0.1).train()
    src, mask, tgt = _batch()
    torch.manual_seed(3)
    logits = model(src, mask, tgt, teacher_forcing=0.5)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V_TGT), tgt.reshape(-1))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_teacher_forcing_schedules():
    assert teacher_forcing_ratio("constant", 50, 100, start=0.7) == 0.7
    assert teacher_forcing_ratio("linear", 0, 100) == 1.0
    assert teacher_forcing_ratio("linear", 50, 100, start=1.0, end=0.5) == pytest.approx(0.75)
    assert teacher_forcing_ratio("linear", 500, 100, end=0.2) == pytest.approx(0.2)
    inv = [teacher_forcing_ratio("inverse_sigmoid", s, 1000) for s in (0, 200, 500, 1000, 5000)]
    assert inv == sorted(inv, reverse=True) and inv[0] > 0.9 and inv[-1] < 0.01
    with pytest.raises(ValueError):
        teacher_forcing_ratio("cosine", 1, 10)


def test_config_validation():
    with pytest.raises(ValueError, match="cell"):
        Seq2SeqConfig(cell="transformer")
    with pytest.raises(ValueError, match="attention"):
        Seq2SeqConfig(attention="cosine")
    with pytest.raises(ValueError, match="hidden"):
        Seq2SeqConfig(hidden=0)
    with pytest.raises(ValueError, match="dropout"):
        Seq2SeqConfig(dropout=1.5)


def test_tied_embeddings_share_the_matrix():
    model = _model(tie_embeddings=True)
    assert model.W_out.weight is model.tgt_embed.weight
    assert _model(tie_embeddings=False).W_out.weight is not _model(tie_embeddings=False).tgt_embed.weight

"""BERT: padding has no effect, bidirectionality, tied MLM decoder, pre/post-LN, classifier from an MLM."""

import pytest
import torch

from seqlab.models.bert import BertClassifier, BertConfig, BertForMaskedLM


def _cfg(**kw):
    c = dict(vocab_size=60, max_position=32, n_layer=2, n_head=2, d_model=32, d_ff=64, dropout=0.0, attn_dropout=0.0)
    c.update(kw)
    return BertConfig(**c)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_padding_has_no_effect_on_real_tokens(norm):
    torch.manual_seed(0)
    m = BertForMaskedLM(_cfg(norm=norm)).eval()
    x = torch.randint(6, 60, (1, 10))
    padded = torch.cat([x, torch.zeros(1, 5, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 10, dtype=torch.bool), torch.zeros(1, 5, dtype=torch.bool)], 1)
    with torch.no_grad():
        torch.testing.assert_close(m(padded, mask)[:, :10], m(x), rtol=0, atol=1e-5)


def test_attention_is_bidirectional():
    torch.manual_seed(0)
    m = BertForMaskedLM(_cfg()).eval()
    x = torch.randint(6, 60, (1, 10))
    y = x.clone()
    y[0, 9] = (y[0, 9] + 1) % 60
    with torch.no_grad():
        assert not torch.allclose(m(x)[0, 0], m(y)[0, 0])  # the first token sees the last


def test_mlm_decoder_tied_and_select():
    torch.manual_seed(0)
    m = BertForMaskedLM(_cfg()).eval()
    assert m.mlm.decoder.weight is m.bert.embeddings.tok.weight
    x = torch.randint(6, 60, (2, 8))
    sel = torch.zeros(2, 8, dtype=torch.bool)
    sel[0, 3] = sel[1, 5] = True
    with torch.no_grad():
        full = m(x)
        torch.testing.assert_close(m(x, select=sel), full[sel])
    assert full.shape == (2, 8, 60)


def test_segments_change_the_output():
    torch.manual_seed(0)
    m = BertForMaskedLM(_cfg()).eval()
    x = torch.randint(6, 60, (1, 8))
    seg = torch.zeros(1, 8, dtype=torch.long)
    seg[0, 4:] = 1
    with torch.no_grad():
        assert not torch.allclose(m(x), m(x, segments=seg))
        torch.testing.assert_close(m(x), m(x, segments=torch.zeros_like(seg)))


def test_classifier_loads_encoder_from_mlm():
    torch.manual_seed(0)
    mlm = BertForMaskedLM(_cfg())
    clf = BertClassifier(_cfg(), n_classes=3).eval()
    clf.load_encoder(mlm.state_dict())
    for k, v in mlm.bert.state_dict().items():
        assert torch.equal(clf.bert.state_dict()[k], v)
    assert clf(torch.randint(6, 60, (4, 9))).shape == (4, 3)
    with pytest.raises(ValueError, match="missing"):
        clf.load_encoder({"bert.embeddings.tok.weight": mlm.bert.embeddings.tok.weight})


def test_too_long_input_rejected():
    m = BertForMaskedLM(_cfg(max_position=8))
    with pytest.raises(ValueError, match="max_position"):
        m(torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.parametrize("kw", [dict(norm="middle"), dict(d_model=30, n_head=4), dict(attn_dropout=-0.1),
                                dict(activation="swish")])
def test_config_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        _cfg(**kw)


def test_classifier_frames_cls_sep_and_ignores_padding():
    torch.manual_seed(0)
    clf = BertClassifier(_cfg(max_position=16), n_classes=2, cls_id=5, sep_id=3).eval()
    ids = torch.tensor([[7, 8, 9, 0, 0], [7, 8, 9, 10, 11]])
    mask = torch.tensor([[True, True, True, False, False], [True] * 5])
    framed, fmask = clf.frame(ids, mask)
    assert framed[0].tolist() == [5, 7, 8, 9, 3, 0, 0] and fmask[0].tolist() == [True] * 5 + [False] * 2
    assert framed[1].tolist() == [5, 7, 8, 9, 10, 11, 3]
    with torch.no_grad():
        torch.testing.assert_close(clf(ids[:1], mask[:1]), clf(ids[:1, :3]), rtol=0, atol=1e-5)
    long = torch.randint(6, 60, (1, 40))  # longer than max_position: truncated to 14 tokens + [CLS] [SEP]
    assert clf.frame(long, None)[0].shape == (1, 16)

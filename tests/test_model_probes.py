"""What the study package asks of the models: attention weights on request (encoder, BERT, GPT), the ReLU
plain RNN in the classifier and LM configs, and the residual switch of the classifier Transformer."""

import pytest
import torch
from torch import nn

from seqlab.models.bert import BertClassifier, BertConfig, BertForMaskedLM
from seqlab.models.classifier import (RNNClassifierConfig, RecurrentClassifier, TransformerClassifier,
                                      TransformerClassifierConfig)
from seqlab.models.encoder import TransformerEncoder
from seqlab.models.rnnlm import RNNLM, RNNLMConfig

from conftest import tiny_gpt

MASK = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])  # row 1 has three padded keys


def _check_maps(maps, n_layer, mask):
    assert len(maps) == n_layer
    for w in maps:
        sums = w.sum(-1)  # (B, nh, T)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
        assert (w >= 0).all()
        assert torch.all(w.masked_select(~mask[:, None, None, :].expand_as(w)) == 0)  # padded keys get 0


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_weights_on_request_leave_outputs_unchanged(norm_first):
    torch.manual_seed(0)
    enc = TransformerEncoder(d_model=16, n_head=4, n_layer=2, d_ff=32, dropout=0.1, norm_first=norm_first).eval()
    x = torch.randn(2, 7, 16)
    with torch.no_grad():
        plain = enc(x, MASK)
        h, maps = enc(x, MASK, return_attention=True)
    assert torch.allclose(plain, h, atol=1e-5)
    assert maps[0].shape == (2, 4, 7, 7)
    _check_maps(maps, 2, MASK)


def test_encoder_weights_match_torch_multihead_attention():
    torch.manual_seed(0)
    enc = TransformerEncoder(d_model=16, n_head=4, n_layer=1, d_ff=32, dropout=0.0).eval()
    attn = enc.layers[0].attn
    ref = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias]))
        ref.out_proj.load_state_dict(attn.out_proj.state_dict())
        x = torch.randn(2, 7, 16)
        y, w = attn(x, MASK, need_weights=True)
        y_ref, w_ref = ref(x, x, x, key_padding_mask=~MASK, average_attn_weights=False)
    assert torch.allclose(y, y_ref, atol=1e-5)
    assert torch.allclose(w, w_ref, atol=1e-5)


def test_classifier_transformer_returns_maps_with_cls():
    torch.manual_seed(0)
    m = TransformerClassifier(TransformerClassifierConfig(embed_dim=16, n_head=2, d_ff=32, pool="cls"), 50, 2).eval()
    ids = torch.randint(1, 50, (2, 7))
    with torch.no_grad():
        logits, maps = m(ids, MASK, return_attention=True)
        assert torch.allclose(logits, m(ids, MASK), atol=1e-5)
    assert maps[0].shape == (2, 2, 8, 8)  # [CLS] + 7 tokens
    _check_maps(maps, 2, torch.cat([torch.ones(2, 1, dtype=torch.bool), MASK], 1))


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_bert_weights_on_request(norm):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=60, max_position=32, n_layer=2, n_head=2, d_model=32, d_ff=64, norm=norm)
    mlm = BertForMaskedLM(cfg).eval()
    ids = torch.randint(6, 60, (2, 7))
    with torch.no_grad():
        logits, maps = mlm(ids, MASK, return_attention=True)
        assert torch.allclose(logits, mlm(ids, MASK), atol=1e-5)
    _check_maps(maps, 2, MASK)
    clf = BertClassifier(cfg, 3, cls_id=5, sep_id=4).eval()
    with torch.no_grad():
        logits, maps = clf(ids, MASK, return_attention=True)
        assert torch.allclose(logits, clf(ids, MASK), atol=1e-5)
    assert maps[0].shape == (2, 2, 9, 9)  # [CLS] tokens [SEP]


def test_gpt_weights_are_causal_and_leave_logits_unchanged():
    m = tiny_gpt()
    ids = torch.randint(0, 50, (2, 7))
    with torch.no_grad():
        logits, maps = m(ids, return_attention=True)
        assert torch.allclose(logits, m(ids), atol=1e-5)
        _, padded_maps = m(ids, mask=MASK, return_attention=True)
    _check_maps(maps, 2, torch.ones(2, 7, dtype=torch.bool))
    future = torch.ones(7, 7, dtype=torch.bool).triu(1)
    assert torch.all(maps[0][..., future] == 0)  # no query looks ahead
    assert torch.all(padded_maps[1][1, :, :4, 4:] == 0)  # real queries of row 1 ignore its padding


def test_relu_rnn_classifier_equals_torch_rnn_relu():
    torch.manual_seed(0)
    cfg = RNNClassifierConfig(embed_dim=8, hidden=12, bidirectional=False, pool="last", nonlinearity="relu",
                              embed_dropout=0.0, dropout=0.0)
    m = RecurrentClassifier(cfg, 30, 2).eval()
    ref = nn.RNN(8, 12, nonlinearity="relu", batch_first=True)
    ref.load_state_dict(m.rnn.state_dict())
    x = torch.randn(3, 9, 8)
    with torch.no_grad():
        assert torch.allclose(m.rnn(x)[0], ref(x)[0], atol=1e-6)
        m.rnn.impl = "reference"
        assert torch.allclose(m.rnn(x)[0], ref(x)[0], atol=1e-5)
    with pytest.raises(ValueError, match="plain RNN only"):
        RNNClassifierConfig(cell="lstm", nonlinearity="relu")
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNClassifierConfig(nonlinearity="sigmoid")


def test_relu_rnn_lm_equals_torch_rnn_relu():
    torch.manual_seed(0)
    lm = RNNLM(RNNLMConfig(vocab_size=20, cell="rnn", d_emb=8, hidden=8, n_layer=1, dropout=0.0, nonlinearity="relu"))
    ref = nn.RNN(8, 8, nonlinearity="relu", batch_first=True)
    ref.load_state_dict(lm.rnn.state_dict())
    ids = torch.randint(0, 20, (2, 6))
    with torch.no_grad():
        assert torch.allclose(lm.rnn(lm.embed(ids))[0], ref(lm.embed(ids))[0], atol=1e-6)
    with pytest.raises(ValueError, match="cell='rnn' only"):
        RNNLMConfig(cell="gru", nonlinearity="relu")


def test_residual_switch_removes_skips_only():
    torch.manual_seed(0)
    kw = dict(embed_dim=16, n_head=2, n_layer=3, d_ff=32, dropout=0.0, embed_dropout=0.0)
    on = TransformerClassifier(TransformerClassifierConfig(**kw), 50, 2).eval()
    off = TransformerClassifier(TransformerClassifierConfig(**kw, residual=False), 50, 2).eval()
    off.load_state_dict(on.state_dict())  # same parameters: only the wiring differs
    ids = torch.randint(1, 50, (2, 7))
    with torch.no_grad():
        assert not torch.allclose(on(ids, MASK), off(ids, MASK))
        layer = off.encoder.layers[0]
        x = torch.randn(2, 7, 16)
        a = layer.attn(layer.norm1(x), MASK)
        expected = layer._ffn(layer.norm2(a))  # no "x +" anywhere
        assert torch.allclose(layer(x, MASK), expected, atol=1e-6)


def test_nonlinearity_and_residual_from_the_cli(tmp_path, capsys):
    import json

    from conftest import run_cli

    import seqlab

    args = ["-q", "train", "classify", "--data", "builtin:longrange?distance=3&n=40", "--epochs", "1", "--precision", "fp32"]
    code, _, err = run_cli(args + ["--model", "rnn", "--out", tmp_path / "r", "--set", "model.nonlinearity=relu",
                                   "--set", "model.hidden=8", "--set", "model.embed_dim=8"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["model"]["nonlinearity"] == "relu"
    assert seqlab.load(tmp_path / "r").module.rnn.nonlinearity == "relu"
    code, _, err = run_cli(args + ["--model", "transformer", "--out", tmp_path / "t", "--set", "model.residual=false",
                                   "--set", "model.embed_dim=8", "--set", "model.n_head=2", "--set", "model.d_ff=8"], capsys)
    assert code == 0, err
    assert not seqlab.load(tmp_path / "t").module.encoder.layers[0].residual

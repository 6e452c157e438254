"""Transformer: parity with torch.nn, causal mask, padding invariance, KV cache."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqlab.models.transformer import MultiHeadAttention, Transformer, TransformerConfig

V_SRC, V_TGT = 17, 13


def _model(**kw):
    torch.manual_seed(0)
    cfg = dict(src_vocab=V_SRC, tgt_vocab=V_TGT, d_model=16, n_head=4, n_enc_layer=2, n_dec_layer=2, d_ff=32,
               dropout=0.0, max_len=32)
    cfg.update(kw)
    return Transformer(TransformerConfig(**cfg)).eval()


def _batch(B=3, S=7, T=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(5, V_SRC, (B, S), generator=g)
    mask = torch.arange(S)[None, :] < torch.tensor([S, 3, 1])[:B, None]
    tgt = torch.randint(5, V_TGT, (B, T), generator=g)
    tgt[:, 0] = 2
    return src.masked_fill(~mask, 0), mask, tgt


def _copy_mha(ours: MultiHeadAttention, ref: nn.MultiheadAttention):
    with torch.no_grad():
        for lin, w, b in zip((ours.W_q, ours.W_k, ours.W_v), ref.in_proj_weight.chunk(3), ref.in_proj_bias.chunk(3)):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        ours.W_o.weight.copy_(ref.out_proj.weight)
        ours.W_o.bias.copy_(ref.out_proj.bias)


def test_multihead_attention_matches_torch():
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    ours = MultiHeadAttention(16, 4, 0.0).eval()
    _copy_mha(ours, ref)
    x, m = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    keep = torch.arange(7)[None] < torch.tensor([[7], [4]])  # (B, S) True = real
    y_ref, w_ref = ref(x, m, m, key_padding_mask=~keep)  # torch: True = ignore
    y, w = ours(x, m, mask=keep[:, None, None, :], need_weights=True)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(w, w_ref, atol=1e-5, rtol=1e-4)
    y_sdpa, _ = ours(x, m, mask=keep[:, None, None, :])  # the SDPA path (fp32, several queries)
    torch.testing.assert_close(y_sdpa, y_ref, atol=1e-5, rtol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the explicit path the CPU takes in bf16
        y_bf16, _ = ours(x, m, mask=keep[:, None, None, :])
    torch.testing.assert_close(y_bf16.float(), y_ref, atol=0.05, rtol=0.05)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor")
def test_transformer_matches_torch_nn_transformer():
    model = _model()
    cfg = model.cfg
    ref = nn.Transformer(cfg.d_model, cfg.n_head, cfg.n_enc_layer, cfg.n_dec_layer, cfg.d_ff, dropout=0.0,
                         batch_first=True, norm_first=True).eval()
    with torch.no_grad():
        for ours, theirs in zip(model.enc_layers, ref.encoder.layers):
            _copy_mha(ours.self_attn, theirs.self_attn)
            for a, b in (("ff.linear1", "linear1"), ("ff.linear2", "linear2"), ("norm1", "norm1"), ("norm2", "norm2")):
                ours.get_submodule(a).load_state_dict(theirs.get_submodule(b).state_dict())
        for ours, theirs in zip(model.dec_layers, ref.decoder.layers):
            _copy_mha(ours.self_attn, theirs.self_attn)
            _copy_mha(ours.cross_attn, theirs.multihead_attn)
            for a, b in (("ff.linear1", "linear1"), ("ff.linear2", "linear2"), ("norm1", "norm1"),
                         ("norm2", "norm2"), ("norm3", "norm3")):
                ours.get_submodule(a).load_state_dict(theirs.get_submodule(b).state_dict())
        model.enc_norm.load_state_dict(ref.encoder.norm.state_dict())
        model.dec_norm.load_state_dict(ref.decoder.norm.state_dict())
    src, mask, tgt = _batch()
    T = tgt.size(1)
    with torch.no_grad():
        y_ref = ref(model.embed(model.src_embed, src), model.embed(model.tgt_embed, tgt),
                    tgt_mask=nn.Transformer.generate_square_subsequent_mask(T), tgt_is_causal=True,
                    src_key_padding_mask=~mask, memory_key_padding_mask=~mask)
        logits = model(src, mask, tgt)
        enc = model.encode(src, mask)["enc"]
        enc_ref = ref.encoder(model.embed(model.src_embed, src), src_key_padding_mask=~mask)
    torch.testing.assert_close(logits, model.out(y_ref), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(enc[mask], enc_ref[mask], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
@pytest.mark.parametrize("norm_first", [True, False])
def test_causal_mask_holds(positions, norm_first):
    model = _model(positions=positions, norm_first=norm_first)
    src, mask, tgt = _batch()
    logits = model(src, mask, tgt)
    tgt2 = tgt.clone()
    tgt2[:, 3:] = 6
    logits2 = model(src, mask, tgt2)
    torch.testing.assert_close(logits2[:, :3], logits[:, :3])
    assert not torch.allclose(logits2[:, 3:], logits[:, 3:])


def test_source_padding_invariance_and_cross_attention_weights():
    model = _model()
    src, mask, tgt = _batch()
    logits, w = model(src, mask, tgt, return_attn=True)
    src2 = torch.cat([src.masked_fill(~mask, 9), torch.full((3, 5), 9)], 1)  # garbage under more padding
    mask2 = torch.cat([mask, torch.zeros(3, 5, dtype=torch.bool)], 1)
    logits2, w2 = model(src2, mask2, tgt, return_attn=True)
    torch.testing.assert_close(logits2, logits, atol=1e-5, rtol=1e-5)
    assert w.shape == (3, 6, 7)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 6))
    assert torch.all(w.masked_select(~mask[:, None, :].expand_as(w)) == 0)
    torch.testing.assert_close(w2[..., :7], w, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [True, False])
def test_kv_cache_step_equals_full_forward(norm_first):
    model = _model(norm_first=norm_first)
    src, mask, tgt = _batch()
    logits, w = model(src, mask, tgt, return_attn=True)
    state = model.init_state(model.encode(src, mask), need_attn=True)
    for t in range(tgt.size(1)):
        log_probs, state, attn = model.step(state, tgt[:, t])
        torch.testing.assert_close(log_probs, logits[:, t].log_softmax(-1), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(attn, w[:, t], atol=1e-5, rtol=1e-5)
    assert state["cache"][0][0].shape == (3, 4, tgt.size(1), 4)  # (B, nh, T, hs)


def test_shared_and_tied_embeddings():
    model = _model(src_vocab=V_TGT, share_embeddings=True, tie_output=True)
    assert model.src_embed is model.tgt_embed and model.out.weight is model.tgt_embed.weight
    untied = _model(tie_output=False)
    assert untied.out.weight is not untied.tgt_embed.weight and untied.src_embed is not untied.tgt_embed


def test_config_validation_and_max_len():
    with pytest.raises(ValueError, match="divisible"):
        TransformerConfig(d_model=10, n_head=4)
    with pytest.raises(ValueError, match="joint vocabulary"):
        TransformerConfig(src_vocab=5, tgt_vocab=6, share_embeddings=True)
    with pytest.raises(ValueError, match="positions"):
        TransformerConfig(positions="rotary")
    model = _model(max_len=8)
    src = torch.randint(5, V_SRC, (1, 9))
    with pytest.raises(ValueError, match="max_len"):
        model.encode(src, torch.ones(1, 9, dtype=torch.bool))


def test_copy_output_is_the_pointer_generator_mixture():
    model = _model(src_vocab=V_TGT, copy=True)
    src, mask, tgt = _batch()
    src = src % V_TGT
    logp = model(src, mask, tgt)  # (B, T, V) log-probabilities
    torch.testing.assert_close(logp.exp().sum(-1), torch.ones(3, 6))
    # the equation, one position at a time
    memory = model.encode(src, mask)
    h = model.dec_norm(_decoder_states(model, tgt, memory))  # (B, T, C)
    head = model.copy
    for b in range(3):
        for t in range(6):
            sc = torch.stack([head.W_c(h[b, t]) @ memory["enc"][b, s] / 4.0 for s in range(7)])  # sqrt(C=16)
            a = sc.masked_fill(~mask[b], float("-inf")).softmax(0)
            g = torch.sigmoid(head.gate(torch.cat([h[b, t], a @ memory["enc"][b]])))
            p = g * model.out(h[b, t]).softmax(-1)
            for s in range(7):
                p[src[b, s]] += (1 - g[0]) * a[s]
            torch.testing.assert_close(logp[b, t], p.log(), atol=1e-5, rtol=1e-5)
    # incremental decoding gives the same distribution, and padding changes nothing
    state = model.init_state(memory)
    for t in range(tgt.size(1)):
        step_logp, state, _ = model.step(state, tgt[:, t])
        torch.testing.assert_close(step_logp, logp[:, t], atol=1e-5, rtol=1e-5)
    src2 = torch.cat([src.masked_fill(~mask, 9), torch.full((3, 4), 9)], 1)
    mask2 = torch.cat([mask, torch.zeros(3, 4, dtype=torch.bool)], 1)
    torch.testing.assert_close(model(src2, mask2, tgt), logp, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="joint vocabulary"):
        TransformerConfig(src_vocab=5, tgt_vocab=6, copy=True)


def _decoder_states(model, tgt, memory):
    """The last decoder layer's output before the final norm (what Transformer.decode feeds to the output)."""
    T = tgt.size(1)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    x = model.embed(model.tgt_embed, tgt)
    for layer in model.dec_layers:
        x, _ = layer(x, causal, layer.cross_attn.kv(memory["enc"]), memory["mask"][:, None, None, :])
    return x


def test_copy_head_values_and_gradients_equal_the_dense_mixture_with_repeated_source_tokens():
    from seqlab.tasks.seq2seq_io import smoothed_nll

    model = _model(src_vocab=V_TGT, copy=True)
    g = torch.Generator().manual_seed(7)
    src = torch.randint(4, 9, (3, 7), generator=g)  # 5 distinct tokens in 7 positions: repeats in every row
    mask = torch.arange(7)[None] < torch.tensor([[7], [4], [6]])
    memory = model.encode(src, mask)
    h = torch.randn(3, 5, 16, requires_grad=True)
    logits = model.out(h)
    target = torch.randint(0, V_TGT, (15,), generator=g)
    target[[2, 9]] = 0  # padding: ignored
    grads = []
    for mixture in (lambda: model.copy(h, logits, memory), lambda: model.copy.reference(h, logits, memory)):
        logp = mixture()
        loss = smoothed_nll(logp.flatten(0, 1), target, 0.1, 0)
        ref = F.cross_entropy(logp.flatten(0, 1), target, ignore_index=0, label_smoothing=0.1)
        torch.testing.assert_close(loss, ref)  # normalised log-probabilities: the same loss without a second softmax
        grads.append((logp.detach(), *torch.autograd.grad(loss, [h, model.copy.W_c.weight, model.copy.gate.weight],
                                                           retain_graph=True)))
    for new, old in zip(*grads):
        torch.testing.assert_close(new, old, atol=1e-5, rtol=1e-4)


def test_attention_and_feed_forward_dropout_can_differ_from_the_residual_rate():
    """fairseq's split: ``dropout`` on embeddings and sub-layer outputs, ``attn_dropout`` on the attention
    weights, ``ff_dropout`` after the feed-forward activation; None (the default) means ``dropout``."""
    m = _model(dropout=0.3, attn_dropout=0.0, ff_dropout=0.5)
    enc, dec = m.enc_layers[0], m.dec_layers[0]
    assert enc.dropout.p == dec.dropout.p == 0.3
    assert enc.self_attn.dropout == dec.self_attn.dropout == dec.cross_attn.dropout == 0.0
    assert enc.ff.dropout.p == dec.ff.dropout.p == 0.5
    same = _model(dropout=0.3)
    assert same.enc_layers[0].self_attn.dropout == same.dec_layers[0].ff.dropout.p == 0.3
    with pytest.raises(ValueError, match="attn_dropout must be in"):
        TransformerConfig(attn_dropout=1.0)
    from seqlab.config import apply_overrides

    cfg = apply_overrides(TransformerConfig(), {"attn_dropout": "0", "ff_dropout": "none"}, "model")  # as --set reads them
    assert cfg.attn_dropout == 0.0 and cfg.ff_dropout is None and cfg.p_ff == cfg.dropout

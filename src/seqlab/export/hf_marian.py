"""The seq2seq Transformer to ``MarianMTModel``, when (and only when) the math is the same.

Marian is a post-LN encoder-decoder with no final LayerNorms, sinusoidal positions, embeddings scaled by
sqrt(d_model), and an output layer plus ``final_logits_bias``: seqlab's Transformer with
``norm_first=false`` and ``positions=sinusoidal`` is that function. Two differences are only layout:

* Marian lays the sinusoids out as ``[sin | cos]`` halves, seqlab interleaves them (column 2i is sin,
  2i+1 cos, at the same frequency). A fixed permutation of the model dimension, applied to every weight
  that reads or writes the residual stream (embeddings, LayerNorms, the inputs of Q/K/V and of the
  first feed-forward layer, the outputs of W_o and of the second feed-forward layer, the output
  layer), maps one onto the other; heads split the Q/K/V *outputs*, which the permutation leaves alone.
* seqlab's separate source and target vocabularies are Marian's ``share_encoder_decoder_embeddings=false``
  with ``decoder_vocab_size``; decoding starts from seqlab's ``<sos>`` (``decoder_start_token_id``).

The pre-LN default (a LayerNorm before each sub-layer and after each stack) and learned positions
have no Marian (or BART) equivalent: ``check`` says which and why.
"""

from __future__ import annotations

import torch

from ..errors import UserError


def check(model, path) -> None:
    cfg = model.cfg
    why = []
    if cfg.norm_first:
        why.append("it is pre-LN (norm_first=true: a LayerNorm before every sub-layer and a final LayerNorm after "
                   "the encoder and the decoder), while MarianMTModel is post-LN with no final LayerNorm")
    if cfg.positions != "sinusoidal":
        why.append(f"its positions are {cfg.positions} (Marian's are fixed sinusoids)")
    if cfg.d_model % 2:
        why.append(f"d_model={cfg.d_model} is odd (the sinusoid halves would not line up)")
    fix = ["--set model.norm_first=false"]
    if getattr(cfg, "copy", False):
        why.append("it has a copy (pointer-generator) output, which Marian has no place for (data.copy_source turned "
                   "it on: the targets reuse their sources' words)")
        fix.append("--set data.copy_source=off")
    if why:
        raise UserError(f"{path}: the seq2seq Transformer maps onto MarianMTModel only when it is post-LN with "
                        f"sinusoidal positions; this run has no exact Hugging Face equivalent because "
                        f"{'; and '.join(why)}. BART differs too (a LayerNorm on the embeddings, learned positions "
                        f"offset by 2). Train with {' '.join(fix)} for a Marian-compatible run, or export with --format onnx")


def marian_config(cfg, sos_id: int, eos_id: int) -> dict:
    return {"architectures": ["MarianMTModel"], "model_type": "marian", "vocab_size": cfg.src_vocab,
            "decoder_vocab_size": cfg.tgt_vocab, "share_encoder_decoder_embeddings": False, "d_model": cfg.d_model,
            "encoder_layers": cfg.n_enc_layer, "decoder_layers": cfg.n_dec_layer,
            "encoder_attention_heads": cfg.n_head, "decoder_attention_heads": cfg.n_head,
            "encoder_ffn_dim": cfg.d_ff, "decoder_ffn_dim": cfg.d_ff, "activation_function": cfg.activation,
            "max_position_embeddings": cfg.max_len, "scale_embedding": True, "dropout": cfg.dropout,
            "attention_dropout": cfg.p_attn, "activation_dropout": cfg.p_ff, "pad_token_id": cfg.pad_id,
            "eos_token_id": eos_id, "bos_token_id": sos_id, "decoder_start_token_id": sos_id,
            "forced_eos_token_id": None, "tie_word_embeddings": bool(cfg.tie_output), "is_encoder_decoder": True,
            "torch_dtype": "float32"}


def marian_state(model) -> dict[str, torch.Tensor]:
    """seqlab Transformer weights -> MarianMTModel names, the model dimension permuted (module docstring)."""
    cfg = model.cfg
    C = cfg.d_model
    perm = torch.cat([torch.arange(0, C, 2), torch.arange(1, C, 2)])  # Marian column i = seqlab column perm[i]
    out: dict[str, torch.Tensor] = {}

    def reads(name, lin):  # a Linear whose input is the residual stream
        out[name + ".weight"] = lin.weight[:, perm]
        out[name + ".bias"] = lin.bias

    def writes(name, lin):  # a Linear whose output is the residual stream
        out[name + ".weight"] = lin.weight[perm]
        out[name + ".bias"] = lin.bias[perm]

    def norm(name, ln):
        out[name + ".weight"], out[name + ".bias"] = ln.weight[perm], ln.bias[perm]

    def attention(prefix, mha):
        for ours, theirs in ((mha.W_q, "q_proj"), (mha.W_k, "k_proj"), (mha.W_v, "v_proj")):
            reads(f"{prefix}.{theirs}", ours)
        writes(f"{prefix}.out_proj", mha.W_o)

    out["model.encoder.embed_tokens.weight"] = model.src_embed.weight[:, perm]
    out["model.decoder.embed_tokens.weight"] = model.tgt_embed.weight[:, perm]
    for i, layer in enumerate(model.enc_layers):
        p = f"model.encoder.layers.{i}"
        attention(p + ".self_attn", layer.self_attn)
        norm(p + ".self_attn_layer_norm", layer.norm1)
        reads(p + ".fc1", layer.ff.linear1)
        writes(p + ".fc2", layer.ff.linear2)
        norm(p + ".final_layer_norm", layer.norm2)
    for i, layer in enumerate(model.dec_layers):
        p = f"model.decoder.layers.{i}"
        attention(p + ".self_attn", layer.self_attn)
        norm(p + ".self_attn_layer_norm", layer.norm1)
        attention(p + ".encoder_attn", layer.cross_attn)
        norm(p + ".encoder_attn_layer_norm", layer.norm2)
        reads(p + ".fc1", layer.ff.linear1)
        writes(p + ".fc2", layer.ff.linear2)
        norm(p + ".final_layer_norm", layer.norm3)
    if not cfg.tie_output:
        out["lm_head.weight"] = model.out.weight[:, perm]
    out["final_logits_bias"] = model.out.bias[None, :]
    return {k: v.detach().float().contiguous().clone() for k, v in out.items()}

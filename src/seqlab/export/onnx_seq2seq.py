"""Encoder-decoders to ONNX: ``encoder.onnx`` once per batch, ``decoder.onnx`` once per target token.

The decoder graph is one step of seqlab's incremental decoding protocol (``init_state``/``step``/
``reorder`` in ``seqlab.models.decoding``) with everything it carries as explicit inputs and outputs,
so a plain loop (greedy or beam search: reorder = index the carried arrays) decodes.

Transformer::

    encoder.onnx:  src (B, S) int64, src_mask (B, S) bool
                -> cross_keys, cross_values (n_dec_layer, B, nh, S, hs): each decoder layer's
                   cross-attention keys/values of the encoder output, computed once
    decoder.onnx:  last_tokens (B,) int64, position (B,) int64 (= t, the step),
                   self_keys, self_values (n_dec_layer, B, nh, t, hs) (t = 0 at the first step),
                   cross_keys, cross_values, src_mask
                -> log_probs (B, V), new_self_keys, new_self_values (n_dec_layer, B, nh, t + 1, hs),
                   attention (B, S) (last layer's cross-attention, head-averaged)
    with the copy head (model.copy): the encoder also returns enc (B, S, C), and the decoder reads enc and
    src (B, S) int64 (its log_probs are then the pointer-generator mixture's)

RNN encoder-decoders (rnn, lstm, gru, bahdanau, luong)::

    encoder.onnx:  src, src_mask -> keys (B, S, K), [proj_keys (B, S, A)], [context (B, K)],
                   h0 (L, B, H), [c0 (L, B, H)]
    decoder.onnx:  last_tokens (B,), h (L, B, H), [c], [feed (B, E)], keys, [proj_keys], src_mask, [context]
                -> log_probs (B, V), new_h, [new_c], [new_feed], [attention (B, S)]

Brackets: present only for the models that use them (the manifest lists each graph's real inputs).
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import UserError
from .common import base_manifest, copy_tokenizers, io, onnx_export, quantize, write_manifest

MODELS = ("rnn", "lstm", "gru", "bahdanau", "luong", "transformer")


# ---- Transformer ---------------------------------------------------------------------------------------
class TransformerEncoderGraph(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, src: Tensor, src_mask: Tensor):
        memory = self.model.encode(src, src_mask)  # {"enc": (B, S, C), "mask"}
        kv = [layer.cross_attn.kv(memory["enc"]) for layer in self.model.dec_layers]  # each (B, nh, S, hs)
        keys, values = torch.stack([k for k, _ in kv]), torch.stack([v for _, v in kv])
        return (keys, values, memory["enc"]) if self.model.copy is not None else (keys, values)


class TransformerStepGraph(nn.Module):
    """``Transformer.step`` with the self-attention cache and the step index as tensors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, last_tokens: Tensor, position: Tensor, self_keys: Tensor, self_values: Tensor,
                cross_keys: Tensor, cross_values: Tensor, src_mask: Tensor, enc: Tensor | None = None,
                src: Tensor | None = None):
        m = self.model
        pos = m.pos.weight[position] if m.cfg.positions == "learned" else m.pe[position]  # (B, C)
        x = (m.tgt_embed(last_tokens) * m.cfg.d_model ** 0.5 + pos)[:, None]  # (B, 1, C)
        cross_mask = src_mask[:, None, None, :]  # (B, 1, 1, S)
        keys, values, w = [], [], None
        for i, layer in enumerate(m.dec_layers):
            h = layer.norm1(x) if layer.norm_first else x
            k, v = layer.self_attn.kv(h)  # (B, nh, 1, hs): the new position only
            k, v = torch.cat([self_keys[i], k], 2), torch.cat([self_values[i], v], 2)  # (B, nh, t + 1, hs)
            keys.append(k)
            values.append(v)
            last = i == len(m.dec_layers) - 1
            x, w_i = layer(x, None, (cross_keys[i], cross_values[i]), cross_mask, self_kv=(k, v), need_weights=last)
            w = w_i if last else w
        memory = {"enc": enc, "src": src, "mask": src_mask}  # read by the copy head only
        logits = m.output(m.dec_norm(x), memory)[:, 0]  # (B, V); the copy head's log P if the model has one
        return torch.log_softmax(logits.float(), -1), torch.stack(keys), torch.stack(values), w[:, 0]


def _transformer(model, out: Path) -> tuple[dict, dict, dict]:
    cfg = model.cfg
    nh, hs, L = cfg.n_head, cfg.d_model // cfg.n_head, cfg.n_dec_layer
    B, S, t = 2, 5, 3
    src = torch.randint(1, cfg.src_vocab, (B, S))
    mask = torch.ones(B, S, dtype=torch.bool)
    mask[1, 3:] = False
    cache = ["n_dec_layer", "batch", "n_head", "src_len", "head_size"]
    e_in = [io("src", ["batch", "src_len"], "int64", "source ids, right-padded"),
            io("src_mask", ["batch", "src_len"], "bool", "True = a real source token")]
    e_out = [io("cross_keys", cache, "float32", "cross-attention keys of every decoder layer"),
             io("cross_values", cache, "float32", "cross-attention values of every decoder layer")]
    copy_in = []  # the copy head (model.copy) reads the encoder states and the source ids at every step
    if cfg.copy:
        e_out.append(io("enc", ["batch", "src_len", cfg.d_model], "float32", "encoder output states (the copy head's keys)"))
        copy_in = [dict(e_out[-1]), io("src", ["batch", "src_len"], "int64", "source ids (what the copy head copies)")]
    axes = {"src": {0: "batch", 1: "src_len"}, "src_mask": {0: "batch", 1: "src_len"},
            "cross_keys": {1: "batch", 3: "src_len"}, "cross_values": {1: "batch", 3: "src_len"},
            "enc": {0: "batch", 1: "src_len"}}
    onnx_export(TransformerEncoderGraph(model).eval(), (src, mask), out / "encoder.onnx", e_in, e_out, axes)
    step_cache = ["n_dec_layer", "batch", "n_head", "t", "head_size"]
    d_in = [io("last_tokens", ["batch"], "int64", "the previous target token of each row (<sos> at step 0)"),
            io("position", ["batch"], "int64", "the step t (the position of last_tokens in the target)"),
            io("self_keys", step_cache, "float32", "self-attention keys of the t earlier target positions"),
            io("self_values", step_cache, "float32", "self-attention values of the t earlier target positions"),
            *[dict(x) for x in e_out[:2]],  # the encoder outputs, read at every step
            io("src_mask", ["batch", "src_len"], "bool", "True = a real source token"), *copy_in]
    d_out = [io("log_probs", ["batch", cfg.tgt_vocab], "float32", "log p(y_t | y_<t, x)"),
             io("new_self_keys", ["n_dec_layer", "batch", "n_head", "t+1", "head_size"], "float32", "the next self_keys"),
             io("new_self_values", ["n_dec_layer", "batch", "n_head", "t+1", "head_size"], "float32", "the next self_values"),
             io("attention", ["batch", "src_len"], "float32", "last decoder layer's cross-attention, head-averaged")]
    args = (torch.randint(1, cfg.tgt_vocab, (B,)), torch.full((B,), t), torch.randn(L, B, nh, t, hs),
            torch.randn(L, B, nh, t, hs), torch.randn(L, B, nh, S, hs), torch.randn(L, B, nh, S, hs), mask)
    if cfg.copy:
        args += (torch.randn(B, S, cfg.d_model), src)
    axes = {"enc": {0: "batch", 1: "src_len"}, "src": {0: "batch", 1: "src_len"}, "last_tokens": {0: "batch"},
            "position": {0: "batch"}, "self_keys": {1: "batch", 3: "t"}, "self_values": {1: "batch", 3: "t"},
            "cross_keys": {1: "batch", 3: "src_len"}, "cross_values": {1: "batch", 3: "src_len"}, "src_mask": {0: "batch", 1: "src_len"},
            "log_probs": {0: "batch"}, "new_self_keys": {1: "batch", 3: "t+1"}, "new_self_values": {1: "batch", 3: "t+1"},
            "attention": {0: "batch", 1: "src_len"}}
    onnx_export(TransformerStepGraph(model).eval(), args, out / "decoder.onnx", d_in, d_out, axes)
    carry = {"self_keys": ["new_self_keys", 1], "self_values": ["new_self_values", 1]}
    init = {"self_keys": [L, nh, 0, hs], "self_values": [L, nh, 0, hs]}  # per-row shapes, batch on axis 1
    settings = {"kind": "transformer", "carry": carry, "init": init,
                "memory_axes": {"cross_keys": 1, "cross_values": 1, "src_mask": 0, "enc": 0, "src": 0},
                "max_positions": cfg.max_len}
    return ({"file": "encoder.onnx", "inputs": e_in, "outputs": e_out},
            {"file": "decoder.onnx", "inputs": d_in, "outputs": d_out}, settings)


# ---- RNN encoder-decoders ------------------------------------------------------------------------------
class RNNEncoderGraph(nn.Module):
    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names

    def forward(self, src: Tensor, src_mask: Tensor):
        mem = self.model.encode(src, src_mask)
        state = self.model.init_state(mem)  # h, c as (L, B, H)
        values = {"keys": mem["keys"], "proj_keys": mem["proj_keys"], "context": mem["context"],
                  "h0": state["h"], "c0": state["c"]}
        return tuple(values[n] for n in self.names)


class RNNStepGraph(nn.Module):
    """``Seq2Seq.step`` with the carried state (h, c, feed) and the memory as tensors."""

    def __init__(self, model: nn.Module, has: dict):
        super().__init__()
        self.model, self.has = model, has

    def forward(self, last_tokens, h, c, feed, keys, proj_keys, src_mask, context):
        has = self.has
        mem = {"keys": keys, "proj_keys": proj_keys if has["proj_keys"] else None, "mask": src_mask,
               "context": context if has["context"] else None}
        state = {"memory": mem, "h": h, "c": c if has["c"] else None, "feed": feed if has["feed"] else None}
        log_probs, new, attn = self.model.step(state, last_tokens)
        outs = [log_probs, new["h"]]
        if has["c"]:
            outs.append(new["c"])
        if has["feed"]:
            outs.append(new["feed"])
        if attn is not None:
            outs.append(attn)
        return tuple(outs)


def _rnn(model, out: Path) -> tuple[dict, dict, dict]:
    cfg = model.cfg
    L, H, E, K = cfg.layers, cfg.hidden, cfg.emb_dim, model.ctx_dim
    has = {"c": cfg.cell == "lstm", "feed": model.luong, "proj_keys": model.attn is not None,
           "context": model.feeds_context and model.attn is None, "attention": model.attn is not None}
    B, S = 2, 5
    src = torch.randint(1, cfg.src_vocab, (B, S))
    mask = torch.ones(B, S, dtype=torch.bool)
    mask[1, 3:] = False
    A = model.attn.project_keys(torch.zeros(1, 1, K)).shape[-1] if has["proj_keys"] else 0
    desc = {"keys": io("keys", ["batch", "src_len", K], "float32", "encoder states (attention keys = values)"),
            "proj_keys": io("proj_keys", ["batch", "src_len", A], "float32", "the attention's projection of the keys"),
            "context": io("context", ["batch", K], "float32", "the fixed context vector (last encoder state)"),
            "h0": io("h0", ["layers", "batch", H], "float32", "decoder hidden state before the first step (bridged)"),
            "c0": io("c0", ["layers", "batch", H], "float32", "decoder LSTM cell state before the first step")}
    names = ["keys"] + [n for n in ("proj_keys", "context") if has[n]] + ["h0"] + (["c0"] if has["c"] else [])
    e_in = [io("src", ["batch", "src_len"], "int64", "source ids, right-padded"),
            io("src_mask", ["batch", "src_len"], "bool", "True = a real source token")]
    e_out = [desc[n] for n in names]
    axes = {"src": {0: "batch", 1: "src_len"}, "src_mask": {0: "batch", 1: "src_len"}, "keys": {0: "batch", 1: "src_len"},
            "proj_keys": {0: "batch", 1: "src_len"}, "context": {0: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"}}
    onnx_export(RNNEncoderGraph(model, names).eval(), (src, mask), out / "encoder.onnx", e_in, e_out, axes)

    d_in = [io("last_tokens", ["batch"], "int64", "the previous target token of each row (<sos> at step 0)"),
            io("h", ["layers", "batch", H], "float32", "decoder hidden state (h0 at step 0)"),
            io("c", ["layers", "batch", H], "float32", "decoder LSTM cell state (c0 at step 0)"),
            io("feed", ["batch", E], "float32", "Luong input feeding: the previous attentional output (zeros at step 0)"),
            dict(desc["keys"]), dict(desc["proj_keys"]),
            io("src_mask", ["batch", "src_len"], "bool", "True = a real source token"), dict(desc["context"])]
    d_out = [io("log_probs", ["batch", cfg.tgt_vocab], "float32", "log p(y_t | y_<t, x)"),
             io("new_h", ["layers", "batch", H], "float32", "the next h")]
    if has["c"]:
        d_out.append(io("new_c", ["layers", "batch", H], "float32", "the next c"))
    if has["feed"]:
        d_out.append(io("new_feed", ["batch", E], "float32", "the next feed"))
    if has["attention"]:
        d_out.append(io("attention", ["batch", "src_len"], "float32", "attention weights over the source"))
    args = (torch.randint(1, cfg.tgt_vocab, (B,)), torch.randn(L, B, H), torch.randn(L, B, H), torch.randn(B, E),
            torch.randn(B, S, K), torch.randn(B, S, max(A, 1)), mask, torch.randn(B, K))
    axes = {"last_tokens": {0: "batch"}, "h": {1: "batch"}, "c": {1: "batch"}, "feed": {0: "batch"},
            "keys": {0: "batch", 1: "src_len"}, "proj_keys": {0: "batch", 1: "src_len"},
            "src_mask": {0: "batch", 1: "src_len"}, "context": {0: "batch"}, "log_probs": {0: "batch"},
            "new_h": {1: "batch"}, "new_c": {1: "batch"}, "new_feed": {0: "batch"}, "attention": {0: "batch", 1: "src_len"}}
    onnx_export(RNNStepGraph(model, has).eval(), args, out / "decoder.onnx", d_in, d_out, axes)
    carry = {"h": ["new_h", 1]}
    init = {"h": "h0"}
    if has["c"]:
        carry["c"], init["c"] = ["new_c", 1], "c0"
    if has["feed"]:
        carry["feed"], init["feed"] = ["new_feed", 0], [E]
    memory_axes = {n: (1 if n in ("h0", "c0") else 0) for n in names}  # batch axis of each encoder output
    memory_axes["src_mask"] = 0
    settings = {"kind": "rnn", "carry": carry, "init": init, "memory_axes": memory_axes, "max_positions": None}
    return ({"file": "encoder.onnx", "inputs": e_in, "outputs": e_out},
            {"file": "decoder.onnx", "inputs": d_in, "outputs": d_out}, settings)


def check_exportable(loaded) -> None:
    name = loaded.config.get("model_name")
    if name not in MODELS:
        raise UserError(f"expected a seq2seq run of {', '.join(MODELS)} to export; found model {name!r}")


def export(loaded, out: Path, precision: str = "fp32") -> dict:
    """Write ``encoder.onnx``, ``decoder.onnx``, both tokenizers and the manifest; returns the manifest."""
    model = copy.deepcopy(loaded.module).cpu().float().eval()
    enc, dec, settings = (_transformer if loaded.config["model_name"] == "transformer" else _rnn)(model, out)
    if precision == "int8":
        quantize(out / enc["file"])
        quantize(out / dec["file"])
    manifest = base_manifest(loaded, precision)
    manifest["graphs"] = {"encoder": enc, "decoder": dec}
    manifest["tokenizers"] = copy_tokenizers(Path(loaded.path), out)
    data = loaded.config.get("data", {})
    settings.update({key: data.get(key, default) for key, default in (
        ("max_src_len", 100), ("max_tgt_len", 100), ("beam", 5), ("length_penalty", 0.6), ("max_len_a", 1.5),
        ("max_len_b", 10))})
    settings.update({"sos_id": loaded.tgt_tok.sos_id, "eos_id": loaded.tgt_tok.eos_id, "pad_id": loaded.tgt_tok.pad_id,
                     "src_unk_id": loaded.src_tok.unk_id})
    manifest["seq2seq"] = settings
    write_manifest(out, manifest)
    return manifest

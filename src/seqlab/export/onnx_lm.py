"""Language models to ONNX: one step graph ``decoder.onnx`` that carries the cache/state explicitly.

GPT (key/value cache as inputs and outputs)::

    input_ids       (B, T) int64     the new tokens
    position_ids    (B, T) int64     their positions (a left-padded row counts from its first real token)
    attention_mask  (B, P + T) bool  True = a real slot, for the P cached slots and the T new ones
    past_keys       (n_layer, B, nh, P, hs) float32   P = 0 on the first call
    past_values     (n_layer, B, nh, P, hs) float32
 -> logits          (B, T, V) float32
    present_keys    (n_layer, B, nh, P + T, hs) float32   feed back as past_keys
    present_values  (n_layer, B, nh, P + T, hs) float32

Slot s attends to slot j when j <= s and j is real, and always to itself (a padding slot's output is
never read, but its softmax row must not be empty): exactly ``GPT.forward`` with a ``KVCache``.

Recurrent LMs (state as inputs and outputs)::

    input_ids (B, T) int64, h0 (n_layer, B, H) [, c0 for the LSTM]
 -> logits (B, T, V), h (n_layer, B, H) [, c]
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import UserError
from .common import base_manifest, copy_tokenizers, io, onnx_export, quantize, write_manifest

MODELS = ("gpt", "rnn", "lstm", "gru")


class GPTStep(nn.Module):
    """GPT's forward over new tokens with the key/value cache passed in and returned (see module docstring)."""

    def __init__(self, gpt: nn.Module):
        super().__init__()
        self.gpt = gpt
        self.n_head = gpt.config.n_head

    def forward(self, input_ids: Tensor, position_ids: Tensor, attention_mask: Tensor, past_keys: Tensor,
                past_values: Tensor):
        g = self.gpt
        B, T = input_ids.shape
        P = past_keys.shape[3]
        x = g.wte(input_ids) + g.wpe(position_ids)  # (B, T, C)
        C = x.shape[-1]
        nh, hs = self.n_head, C // self.n_head
        slot = torch.arange(T, device=x.device) + P  # (T,) slots of the new tokens
        key = torch.arange(P + T, device=x.device)  # (S,)
        allowed = (key[None, :] <= slot[:, None])[None] & attention_mask[:, None, :]  # (B, T, S)
        allowed = (allowed | (key[None, :] == slot[:, None])[None])[:, None]  # (B, 1, T, S)
        keys, values = [], []
        for layer, block in enumerate(g.h):
            h = block.ln_1(x)
            q, k, v = block.attn.c_attn(h).split(C, dim=2)  # 3 x (B, T, C)
            q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
            k = torch.cat([past_keys[layer], k.view(B, T, nh, hs).transpose(1, 2)], dim=2)  # (B, nh, S, hs)
            v = torch.cat([past_values[layer], v.view(B, T, nh, hs).transpose(1, 2)], dim=2)  # (B, nh, S, hs)
            keys.append(k)
            values.append(v)
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, S)
            w = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
            y = (w @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
            x = x + block.attn.c_proj(y)
            x = x + block.mlp(block.ln_2(x))
        logits = g.lm_head(g.ln_f(x))  # (B, T, V)
        return logits, torch.stack(keys), torch.stack(values)


class RNNLMStep(nn.Module):
    """RNNLM.forward with the state as explicit tensors: (ids, h0[, c0]) -> (logits, h[, c])."""

    def __init__(self, lm: nn.Module):
        super().__init__()
        self.lm = lm
        self.lstm = lm.config.cell == "lstm"

    def forward(self, input_ids: Tensor, h0: Tensor, c0: Tensor | None = None):
        logits, state = self.lm(input_ids, (h0, c0) if self.lstm else h0)  # (B, T, V)
        if self.lstm:
            return logits, state[0], state[1]
        return logits, state


def check_exportable(loaded) -> None:
    name = loaded.config.get("model_name")
    if name not in MODELS:
        raise UserError(f"expected an lm run of {', '.join(MODELS)} to export; found model {name!r}")


def _gpt_graph(module, out: Path) -> tuple[dict, dict]:
    cfg = module.config
    nh, hs, L = cfg.n_head, cfg.n_embd // cfg.n_head, cfg.n_layer
    step = GPTStep(module).eval()
    B, P, T = 2, 3, 4
    ids = torch.randint(0, cfg.vocab_size, (B, T))
    pos = torch.arange(P, P + T)[None].repeat(B, 1)
    mask = torch.ones(B, P + T, dtype=torch.bool)
    mask[1, :2] = False
    past = torch.randn(L, B, nh, P, hs), torch.randn(L, B, nh, P, hs)
    cache = ["n_layer", "batch", "n_head", "past", "head_size"]
    inputs = [io("input_ids", ["batch", "new"], "int64", "the new tokens (left-padded prompts on the first call)"),
              io("position_ids", ["batch", "new"], "int64", "position of each new token: slot - left padding of its row"),
              io("attention_mask", ["batch", "past+new"], "bool", "True = a real slot (cached and new); False = left padding"),
              io("past_keys", cache, "float32", "keys of the cached slots, per layer (past = 0 on the first call)"),
              io("past_values", cache, "float32", "values of the cached slots, per layer")]
    outputs = [io("logits", ["batch", "new", cfg.vocab_size], "float32", "next-token logits after each new token"),
               io("present_keys", ["n_layer", "batch", "n_head", "past+new", "head_size"], "float32",
                  "keys of all slots: the next call's past_keys"),
               io("present_values", ["n_layer", "batch", "n_head", "past+new", "head_size"], "float32",
                  "values of all slots: the next call's past_values")]
    dyn = {"input_ids": {0: "batch", 1: "new"}, "position_ids": {0: "batch", 1: "new"},
           "attention_mask": {0: "batch", 1: "past+new"}, "past_keys": {1: "batch", 3: "past"},
           "past_values": {1: "batch", 3: "past"}, "logits": {0: "batch", 1: "new"},
           "present_keys": {1: "batch", 3: "past+new"}, "present_values": {1: "batch", 3: "past+new"}}
    onnx_export(step, (ids, pos, mask, *past), out / "decoder.onnx", inputs, outputs, dyn)
    settings = {"kind": "gpt", "n_layer": L, "n_head": nh, "head_size": hs, "block_size": cfg.block_size,
                "vocab_size": cfg.vocab_size}
    return {"file": "decoder.onnx", "inputs": inputs, "outputs": outputs}, settings


def _rnn_graph(module, out: Path) -> tuple[dict, dict]:
    cfg = module.config
    lstm = cfg.cell == "lstm"
    step = RNNLMStep(module).eval()
    B, T = 2, 5
    ids = torch.randint(0, cfg.vocab_size, (B, T))
    state = [torch.randn(cfg.n_layer, B, cfg.hidden) for _ in range(2 if lstm else 1)]
    st = ["n_layer", "batch", cfg.hidden]
    inputs = [io("input_ids", ["batch", "new"], "int64", "the new tokens (no padding: a row reads a contiguous stream)"),
              io("h0", st, "float32", "hidden state before the first new token (zeros to start)")]
    outputs = [io("logits", ["batch", "new", cfg.vocab_size], "float32", "next-token logits after each new token"),
               io("h", st, "float32", "hidden state after the last new token: the next call's h0")]
    if lstm:
        inputs.append(io("c0", st, "float32", "LSTM cell state before the first new token"))
        outputs.append(io("c", st, "float32", "LSTM cell state after the last new token: the next call's c0"))
    dyn = {"input_ids": {0: "batch", 1: "new"}, "h0": {1: "batch"}, "c0": {1: "batch"}, "logits": {0: "batch", 1: "new"},
           "h": {1: "batch"}, "c": {1: "batch"}}
    onnx_export(step, (ids, *state), out / "decoder.onnx", inputs, outputs, dyn)
    settings = {"kind": "rnn", "cell": cfg.cell, "n_layer": cfg.n_layer, "hidden": cfg.hidden,
                "vocab_size": cfg.vocab_size}
    return {"file": "decoder.onnx", "inputs": inputs, "outputs": outputs}, settings


def export(loaded, out: Path, precision: str = "fp32") -> dict:
    """Write ``decoder.onnx``, the tokenizer and the manifest for an lm run; returns the manifest."""
    module = copy.deepcopy(loaded.module).cpu().float().eval()
    graph, settings = (_gpt_graph if loaded.config.get("model_name") == "gpt" else _rnn_graph)(module, out)
    if precision == "int8":
        quantize(out / graph["file"])
    manifest = base_manifest(loaded, precision)
    manifest["graphs"]["decoder"] = graph
    manifest["tokenizers"] = copy_tokenizers(Path(loaded.path), out)
    tok = loaded.tokenizer
    settings.update({"pad_id": tok.pad_id if tok else 0, "eos_id": tok.eos_id if tok else None,
                     "unk_id": tok.unk_id if tok else None})
    manifest["lm"] = settings
    write_manifest(out, manifest)
    return manifest

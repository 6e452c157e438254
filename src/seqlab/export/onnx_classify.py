"""Classifiers to ONNX: one graph ``model.onnx``, ids (B, T) int64 + mask (B, T) bool -> logits (B, n_classes).

Every classifier (rnn, lstm, gru in any depth and direction, textcnn, transformer, bert) is traced as
it is: the recurrent models' packed sequences become the ``sequence_lens`` of ONNX's RNN/LSTM/GRU
operators (the TorchScript exporter maps ``pack_padded_sequence`` onto them), so padding never
changes a result in the graph either. Batch and length are dynamic.

The trace follows Python branches once, so the example batch is chosen to take the general path:
it has padding (BERT and the attention mask) and at least ``min_length`` positions (TextCNN pads
shorter inputs up to its widest filter in Python; the graph expects the caller to pad, as seqlab's
own batching does: the manifest's ``min_length``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .common import base_manifest, copy_tokenizers, io, onnx_export, quantize, write_manifest

MODELS = ("rnn", "lstm", "gru", "textcnn", "transformer", "bert")


def min_length(config: dict) -> int:
    """The shortest T the graph accepts: TextCNN's widest filter, 1 for the others."""
    widths = config.get("model", {}).get("widths") if config.get("model_name") == "textcnn" else None
    return max(widths) if widths else 1


def example_inputs(config: dict, vocab: int, batch: int = 3, length: int = 7, generator=None):
    """A traced example: ids (B, T) in [1, vocab), mask (B, T) with the second row padded after half."""
    T = max(length, min_length(config) + 1)
    ids = torch.randint(1, max(2, vocab), (batch, T), generator=generator)
    mask = torch.ones(batch, T, dtype=torch.bool)
    mask[1 % batch, max(1, T // 2):] = False
    return ids, mask


class BertClassifierGraph(nn.Module):
    """seqlab's BertClassifier with its ``[CLS] tokens [SEP]`` framing written with where() instead of
    in-place row indexing (which the tracer bakes to the example's batch size). Same math::

        framed[b, 0] = cls;  framed[b, 1 + t] = ids[b, t];  framed[b, 1 + len_b] = sep
        logits = W_c tanh(W_p BERT(framed)[:, 0] + b_p) + b_c
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        m = self.model
        if m.cls_id is None:
            return m(ids, mask)
        keep = m.config.max_position - 2
        ids, mask = ids[:, :keep], mask[:, :keep]  # (B, T)
        pos = torch.arange(ids.shape[1] + 2, device=ids.device)[None, :]  # (1, T + 2)
        first = pos == 0
        framed = torch.where(first, torch.full_like(pos, m.cls_id), F.pad(ids, (1, 1), value=0))  # (B, T + 2)
        real = first | F.pad(mask, (1, 1), value=False)
        if m.sep_id is not None:
            end = pos == (mask.sum(1, keepdim=True) + 1)  # (B, T + 2): just after the last real token
            framed = torch.where(end, torch.full_like(framed, m.sep_id), framed)
            real = real | end
        h = m.bert(framed, real)  # (B, T + 2, C)
        return m.classifier(m.drop(torch.tanh(m.pooler(h[:, 0]))))  # (B, n_classes)


def check_exportable(loaded) -> None:
    """UserError naming the model and the reason when a classify run has no ONNX export."""
    name = loaded.config.get("model_name")
    if name not in MODELS:
        raise UserError(f"expected a classify run of {', '.join(MODELS)} to export; found model {name!r}")
    if loaded.tokenizer is None or loaded.config.get("model", {}).get("input_dim"):
        raise UserError(f"{loaded.path}: model {name} classifies numeric feature sequences; ONNX export covers "
                        "text classifiers only (token ids in, logits out)")


def export(loaded, out: Path, precision: str = "fp32") -> dict:
    """Write ``model.onnx``, the tokenizer and the manifest for a classify run; returns the manifest."""
    name = loaded.config.get("model_name")
    module = copy.deepcopy(loaded.module).cpu().float().eval()
    if loaded.config.get("model_name") == "bert":
        module = BertClassifierGraph(module).eval()
    vocab = loaded.tokenizer.vocab_size
    ids, mask = example_inputs(loaded.config, vocab, generator=torch.Generator().manual_seed(0))
    n = len(loaded.labels)
    inputs = [io("ids", ["batch", "length"], "int64", "token ids, right-padded with pad_id to at least "
                 f"classify.min_length = {min_length(loaded.config)} columns"),
              io("mask", ["batch", "length"], "bool", "True = a real token, False = padding (at the end of each row)")]
    outputs = [io("logits", ["batch", n], "float32", "class scores; softmax gives the probabilities of `labels`")]
    path = out / "model.onnx"
    onnx_export(module, (ids, mask), path, inputs, outputs,
                {"ids": {0: "batch", 1: "length"}, "mask": {0: "batch", 1: "length"}, "logits": {0: "batch"}})
    if precision == "int8":
        quantize(path)
    manifest = base_manifest(loaded, precision)
    manifest["graphs"]["model"] = {"file": "model.onnx", "inputs": inputs, "outputs": outputs}
    manifest["tokenizers"] = copy_tokenizers(Path(loaded.path), out)
    manifest["labels"] = list(loaded.labels)
    max_len = int(loaded.config.get("data", {}).get("max_len", 256))
    if name == "bert":
        max_len = min(max_len, loaded.module.config.max_position - 2)
    manifest["classify"] = {"max_len": max_len,
                            "min_length": min_length(loaded.config), "pad_id": loaded.tokenizer.pad_id,
                            "unk_id": loaded.tokenizer.unk_id}
    (out / "labels.json").write_text(json.dumps(list(loaded.labels), ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    write_manifest(out, manifest)
    return manifest

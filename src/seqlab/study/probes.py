"""Measurements several studies share: generated data as tensors, classifiers built from seqlab's
registry, and the gradient of a loss with respect to each input position."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.batching import pad
from ..data.builtin import generate
from ..data.tokenizers import make_tokenizer
from ..models.classifier import CLASSIFIERS

# The recurrent models read left to right with one layer and answer from their last state (the notes'
# y_T = h_T W_y + b_y); layers is pinned so the studies do not follow a change of the classify defaults.
RECURRENT = {"bidirectional": False, "layers": 1, "pool": "last", "embed_dropout": 0.0, "dropout": 0.0}
SMALL = {
    "rnn": {**RECURRENT, "embed_dim": 32, "hidden": 64},
    "lstm": {**RECURRENT, "embed_dim": 32, "hidden": 64},
    "gru": {**RECURRENT, "embed_dim": 32, "hidden": 64},
    "textcnn": {"embed_dim": 32, "n_maps": 32},
    "transformer": {"embed_dim": 64, "n_layer": 1, "n_head": 4, "d_ff": 128},
}


def longrange_texts(distance: int, n: int, seed: int) -> tuple[list[str], list[str]]:
    """builtin:longrange as (texts, labels)."""
    data = generate("longrange", {"distance": str(distance), "n": str(n)}, seed)
    return data["texts"], data["labels"]


def tensors(tok, texts: list[str], labels: list[str], order: list[str]):
    """Texts and labels -> (ids (n, T) long, mask (n, T) bool True = real, y (n,) long in ``order``)."""
    ids, mask = pad(tok.encode_batch(texts), tok.pad_id)
    return ids, mask, torch.tensor([order.index(v) for v in labels])


def word_tokenizer(texts: list[str]):
    return make_tokenizer("word").fit(texts)


def build(name: str, vocab: int, n_classes: int, seed: int, **overrides):
    """A classifier from seqlab's registry with the small study settings (plus overrides), seeded."""
    cfg_cls, make = CLASSIFIERS[name]
    torch.manual_seed(seed)
    return make(cfg_cls(**{**SMALL[name], **overrides}), vocab, n_classes, 0)


def input_gradient_norms(model, ids: Tensor, mask: Tensor, y: Tensor) -> Tensor:
    """‖∂L/∂x_t‖ for every position t, averaged over the batch: (T,). x_t is the embedded input."""
    store = {}

    def keep(_module, _inputs, out):
        out.retain_grad()
        store["x"] = out

    handle = model.embed.register_forward_hook(keep)
    try:
        model.zero_grad()
        loss = F.cross_entropy(model(ids, mask), y)
        loss.backward()
    finally:
        handle.remove()
    return store["x"].grad.norm(dim=-1).mean(0).detach()  # (T,)


def log_slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log10(y) against x: decades per unit of x (negative = decaying)."""
    pts = [(x, math.log10(y)) for x, y in zip(xs, ys) if y > 0 and math.isfinite(y)]
    if len(pts) < 2:
        return float("nan")
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    var = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / var if var else float("nan")


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())

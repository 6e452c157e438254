"""Adversarial training on the word vectors (Miyato, Dai & Goodfellow 2017, "Adversarial Training Methods for
Semi-Supervised Text Classification"), for classifiers from scratch.

Words are discrete, so the perturbation goes on their vectors: with e = the looked-up vectors of one text
(T, E) and g = dL/de of the clean loss,

    r_adv = eps * ||e||_F * g / ||g||_F          (one r per text, over all its positions and coordinates)
    loss  = L(e) + L(e + r_adv)

``eps`` is relative to the text's own vector norm (Miyato normalise the embedding table to unit variance
and use an absolute eps; a relative eps is the same thing without changing the model, and the model
cannot shrink the perturbation by growing its vectors). r_adv is a constant (no gradient flows through it).
Each step costs about twice a plain one: the clean forward, dL/de (a backward pass), the perturbed forward,
and the backward of both losses.

The perturbation goes on the output of the model's first ``nn.Embedding`` (the word table: before word
dropout and dropout, which stay in both passes), through forward hooks; the model itself is untouched.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ..errors import UserError


def word_table(model: nn.Module) -> nn.Embedding:
    """The model's word-vector table: its first ``nn.Embedding`` (raises UserError when there is none)."""
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return m
    raise UserError(f"adversarial training perturbs word vectors, and this model ({type(model).__name__}) has no "
                    "embedding table (numeric inputs?); leave data.adversarial at 0")


def perturbation(e: Tensor, g: Tensor, eps: float) -> Tensor:
    """r_adv (B, T, E) = eps ||e_b|| g_b / ||g_b|| for each row b of e, g (B, T, E); 0 where g_b is 0."""
    dims = tuple(range(1, e.dim()))
    e_norm = e.detach().float().pow(2).sum(dims, keepdim=True).sqrt()  # (B, 1, 1)
    g = g.float()
    g_norm = g.pow(2).sum(dims, keepdim=True).sqrt()  # (B, 1, 1)
    return (eps * e_norm * g / g_norm.clamp_min(1e-12)).to(e.dtype)


def adversarial_loss_fn(loss_fn: Callable, eps: float) -> Callable:
    """Wrap ``loss_fn(model, batch) -> (loss, tokens)``: the clean loss plus the loss under r_adv (see module doc)."""
    if not eps > 0:
        raise ValueError(f"adversarial eps must be > 0; found {eps}")

    def wrapped(model, batch):
        if not model.training:
            return loss_fn(model, batch)
        table = word_table(model)
        seen: list[Tensor] = []

        def capture(m, i, out):  # frozen vectors (no grad) still need dL/de: make e a leaf that asks for one
            out = out if out.requires_grad else out.detach().requires_grad_(True)
            seen.append(out)
            return out

        loss, tokens = _hooked(table, capture, loss_fn, model, batch)
        if len(seen) != 1:
            raise RuntimeError(f"adversarial training expects one word lookup per forward; found {len(seen)}")
        e = seen[0]  # (B, T, E)
        (g,) = torch.autograd.grad(loss, e, retain_graph=True)
        r = perturbation(e, g, eps)  # (B, T, E), a constant
        adv, _ = _hooked(table, lambda m, i, out: out + r, loss_fn, model, batch)
        return loss + adv, tokens

    return wrapped


def _hooked(table: nn.Module, hook: Callable, loss_fn: Callable, model: nn.Module, batch) -> tuple:
    """``loss_fn(model, batch)`` with ``hook`` on ``table``'s output for this one forward."""
    handle = table.register_forward_hook(hook)
    try:
        return loss_fn(model, batch)
    finally:
        handle.remove()

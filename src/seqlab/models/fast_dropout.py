"""Dropout, and attention with dropout, that are cheap on the CPU.

On the CPU, ``torch.nn.Dropout`` spends most of its time drawing one random number per element
(``bernoulli_``), and ``scaled_dot_product_attention`` with ``dropout_p > 0`` leaves its fused kernel
for the "math" path, which also upcasts bf16 inputs to fp32 for its two batched matmuls. In a small
GPT's training step those two costs are about a third of the time. Here:

* the keep-mask comes from 64-bit random words cut into 16-bit pieces (one generator call per three
  elements), compared against ``p`` at 1/65536 resolution; the drop probability is ``p`` to within
  8e-6, each element independent, and ``torch.manual_seed`` makes it reproducible, as before;
* attention with dropout is written out (``softmax(q kᵀ / sqrt(d) + mask) v``) with its matmuls in the
  input dtype (bf16 under autocast), the softmax in fp32, and the mask above on the weights.

On other devices, and whenever dropout is off, these defer to ``torch.nn.functional`` unchanged.

Shapes: ``attention`` takes q (B, H, T, D), k and v (B, H, S, D), an optional bool ``attn_mask``
broadcastable to (B, H, T, S) with True = may attend; it returns (B, H, T, D).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def keep_mask(shape: tuple[int, ...], p: float, dtype: torch.dtype, device=None) -> Tensor:
    """A tensor of ``shape`` whose elements are 0 with probability ``p`` and ``1 / (1 - p)`` otherwise."""
    n = math.prod(shape)
    words = -(-n // 3)
    # random_() on int64 draws 63 random bits; the low 48 (three int16 pieces) are used
    r = torch.empty(words, dtype=torch.int64, device=device).random_()
    r16 = r.view(torch.int16).view(words, 4)[:, :3].reshape(-1)[:n].view(shape)  # uniform on [-32768, 32767]
    keep = r16 >= round(p * 65536) - 32768  # P(drop) = round(p * 65536) / 65536
    return keep.to(dtype).mul_(1.0 / (1.0 - p))


def _use_fast(x: Tensor, p: float, training: bool) -> bool:
    return training and p > 0.0 and x.device.type == "cpu"


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """``F.dropout(x, p, training)``, with the CPU mask of :func:`keep_mask`."""
    if not _use_fast(x, p, training):
        return F.dropout(x, p, training)
    if p >= 1.0:
        return x * 0.0
    return x * keep_mask(tuple(x.shape), p, x.dtype, x.device)


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout`` (same ``p``, same train/eval behaviour) using :func:`dropout`."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1]; got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def explicit_attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None,
                       is_causal: bool = False, dropout_p: float = 0.0) -> Tensor:
    """softmax(q kᵀ / sqrt(D) + mask) v written out: matmuls in q's dtype, softmax in fp32, dropout on
    the weights. Rows that may attend to nothing give zeros, as ``scaled_dot_product_attention`` does."""
    T, S = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-2, -1)).float()  # (B, H, T, S), a fresh tensor: scaled and masked in place
    scores.mul_(1.0 / math.sqrt(q.shape[-1]))
    allowed = attn_mask
    if is_causal:
        causal = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()  # top-left aligned, as SDPA's
        allowed = causal if allowed is None else allowed & causal
    if allowed is not None:
        scores.masked_fill_(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if attn_mask is not None:  # only a given mask can leave a row nothing to attend to (causal alone cannot)
        dead = ~allowed.any(-1, keepdim=True)
        if bool(dead.any()):
            weights = weights.masked_fill(dead, 0.0)  # all -inf -> NaN -> 0
    weights = weights.to(q.dtype)
    if dropout_p > 0.0:
        weights = weights * keep_mask(tuple(weights.shape), dropout_p, weights.dtype, weights.device)
    return weights @ v  # (B, H, T, D)


# Training on the CPU without dropout, bf16 (autocast): PyTorch's fused (flash) attention has a slow bf16
# backward at short lengths; written out it is 2-3x faster up to 128 keys, slower from 256 on (forward +
# backward, 2 threads: benchmarks/attention_step.py, RESULTS.md #18).
EXPLICIT_MAX_KEYS = 128


def attention(q: Tensor, k: Tensor, v: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False,
              dropout_p: float = 0.0, training: bool = True) -> Tensor:
    """``F.scaled_dot_product_attention`` (``dropout_p`` applied only when ``training``), with the
    written-out path of :func:`explicit_attention` where dropout would push the CPU off its fused kernel,
    and where bf16 training on the CPU is faster written out (``EXPLICIT_MAX_KEYS``). Evaluation runs SDPA."""
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal,
                                              dropout_p=dropout_p if training else 0.0)
    if _use_fast(q, dropout_p, training):
        return explicit_attention(q, k, v, attn_mask, is_causal, dropout_p)
    low = q.dtype in (torch.bfloat16, torch.float16)
    if (training and low and k.shape[-2] <= EXPLICIT_MAX_KEYS and q.device.type == "cpu" and torch.is_grad_enabled()
            and q.requires_grad):
        return explicit_attention(q, k, v, attn_mask, is_causal)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal)

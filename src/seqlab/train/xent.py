"""Cross-entropy with label smoothing over a large vocabulary, without an fp32 copy of the logits.

``F.cross_entropy(logits.float(), y, ignore_index=pad, label_smoothing=eps)`` on bf16 logits (N, V) makes
an fp32 copy, an fp32 log_softmax kept for the backward pass, and in that pass a zero-filled gradient, a
second one for the smoothing term and their sum: six passes over N x V floats in memory. Here the forward
keeps only one float per row (its log-sum-exp) and the backward writes the gradient once, in the logits'
dtype; on the CPU in C (seqlab/native/xent.c: one pass over each row, reading bf16 as it is) where that
kernel builds, else with PyTorch ops on slices of rows that stay in cache:

    loss_i   = lse_i - (1 - eps) x_{i, y_i} - eps mean_v x_{i, v},      lse_i = log sum_v exp x_{i, v}
    d/dx_iv  = w_i (softmax(x_i)_v - (1 - eps) [v = y_i] - eps / V),     w_i = g [y_i != ignore] / n_kept

which is F.cross_entropy's mean over the kept rows (tests/test_xent.py checks values and gradients
against it). Shapes: logits (N, V) of any float dtype, target (N,) int64; returns a 0-dim fp32 loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..native import xent as native_xent

SLICE = 1 << 19  # elements in one slice of rows (2 MiB in fp32): past it, per-slice overhead is under 5%


def _forward_slices(logits: Tensor, safe: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """(lse, loss) fp32 (N,) with PyTorch ops, a slice of rows at a time; safe (N,): targets in [0, V)."""
    N, V = logits.shape
    lse = torch.empty(N, dtype=torch.float32, device=logits.device)
    loss = torch.empty(N, dtype=torch.float32, device=logits.device)
    rows = max(1, SLICE // max(V, 1))
    for a in range(0, N, rows):
        x = logits[a:a + rows].float()  # (R, V)
        lp = torch.log_softmax(x, -1)
        lse[a:a + rows] = x[:, 0] - lp[:, 0]
        nll = -lp.gather(1, safe[a:a + rows, None])[:, 0]
        loss[a:a + rows] = (1 - eps) * nll - eps * lp.mean(-1) if eps else nll
    return lse, loss


def _backward_slices(logits: Tensor, safe: Tensor, eps: float, lse: Tensor, w: Tensor) -> Tensor:
    """The gradient (N, V) in the logits' dtype with PyTorch ops, a slice of rows at a time."""
    N, V = logits.shape
    grad = torch.empty_like(logits)
    rows = max(1, SLICE // max(V, 1))
    for a in range(0, N, rows):
        b = min(N, a + rows)
        p = logits[a:b].to(torch.float32, copy=True).sub_(lse[a:b, None]).exp_()  # softmax (R, V); a copy even in fp32
        if eps:
            p.sub_(eps / V)
        p.scatter_add_(1, safe[a:b, None], torch.full((b - a, 1), eps - 1.0, device=p.device))
        grad[a:b] = p.mul_(w[a:b, None])
    return grad


class _SmoothedCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, eps: float, ignore_index: int) -> Tensor:
        N, V = logits.shape
        keep = target != ignore_index  # (N,)
        safe = torch.where(keep, target, 0).long().contiguous()  # (N,) int64: an ignored row reads column 0, weighs 0
        if N and (safe.min() < 0 or safe.max() >= V):
            bad = target[keep & ((target < 0) | (target >= V))][0].item()
            raise IndexError(f"Target {bad} is out of bounds: the logits have {V} classes")
        if native_xent.takes(logits):
            lse, loss = native_xent.forward(logits, safe, eps)
        else:
            lse, loss = _forward_slices(logits, safe, eps)
        n = keep.sum()
        ctx.save_for_backward(logits, safe, keep, lse, n)
        ctx.eps = eps
        return (loss * keep).sum() / n  # n = 0 gives NaN, as F.cross_entropy does

    @staticmethod
    def backward(ctx, g: Tensor):
        logits, safe, keep, lse, n = ctx.saved_tensors
        eps = ctx.eps
        w = (g / n) * keep.float()  # (N,)
        if native_xent.takes(logits):
            grad = native_xent.backward(logits, safe, eps, lse, w)
        else:
            grad = _backward_slices(logits, safe, eps, lse, w)
        return grad, None, None, None


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100, label_smoothing: float = 0.0) -> Tensor:
    """``F.cross_entropy(logits.float(), target, ignore_index=..., label_smoothing=...)`` (mean over the
    rows whose target is not ``ignore_index``); on the CPU without an fp32 copy of the logits (module docstring),
    elsewhere ``F.cross_entropy`` itself. logits (N, V), target (N,)."""
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, V) and target (N,); found {tuple(logits.shape)} and {tuple(target.shape)}")
    if logits.device.type != "cpu":  # a GPU's fused kernels win there; slices would be many small launches
        return F.cross_entropy(logits.float(), target, ignore_index=ignore_index, label_smoothing=label_smoothing)
    return _SmoothedCE.apply(logits, target, float(label_smoothing), int(ignore_index))

"""Cross-entropy with label smoothing over a large vocabulary, without an fp32 copy of the logits.

``F.cross_entropy(logits.float(), y, ignore_index=pad, label_smoothing=eps)`` on bf16 logits (N, V) makes
an fp32 copy, an fp32 log_softmax kept for the backward pass, and in that pass a zero-filled gradient, a
second one for the smoothing term and their sum: six passes over N x V floats in memory. Here the rows go
through in slices that stay in cache; the forward keeps only one float per row (its log-sum-exp) and the
backward writes the gradient once, in the logits' dtype:

    loss_i   = lse_i - (1 - eps) x_{i, y_i} - eps mean_v x_{i, v},      lse_i = log sum_v exp x_{i, v}
    d/dx_iv  = w_i (softmax(x_i)_v - (1 - eps) [v = y_i] - eps / V),     w_i = g [y_i != ignore] / n_kept

which is F.cross_entropy's mean over the kept rows (tests/test_xent.py checks values and gradients
against it). Shapes: logits (N, V) of any float dtype, target (N,) int64; returns a 0-dim fp32 loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SLICE = 1 << 19  # elements in one slice of rows (2 MiB in fp32): past it, per-slice overhead is under 5%


class _SmoothedCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor, eps: float, ignore_index: int) -> Tensor:
        N, V = logits.shape
        keep = target != ignore_index  # (N,)
        safe = torch.where(keep, target, 0)[:, None]  # (N, 1): an ignored row reads column 0, then weighs 0
        lse = torch.empty(N, dtype=torch.float32, device=logits.device)
        loss = torch.empty(N, dtype=torch.float32, device=logits.device)
        rows = max(1, SLICE // max(V, 1))
        for a in range(0, N, rows):
            x = logits[a:a + rows].float()  # (R, V)
            lp = torch.log_softmax(x, -1)
            lse[a:a + rows] = x[:, 0] - lp[:, 0]
            nll = -lp.gather(1, safe[a:a + rows])[:, 0]
            loss[a:a + rows] = (1 - eps) * nll - eps * lp.mean(-1) if eps else nll
        n = keep.sum()
        ctx.save_for_backward(logits, safe, keep, lse, n)
        ctx.eps = eps
        return (loss * keep).sum() / n  # n = 0 gives NaN, as F.cross_entropy does

    @staticmethod
    def backward(ctx, g: Tensor):
        logits, safe, keep, lse, n = ctx.saved_tensors
        eps = ctx.eps
        N, V = logits.shape
        w = (g / n) * keep.float()  # (N,)
        grad = torch.empty_like(logits)
        rows = max(1, SLICE // max(V, 1))
        for a in range(0, N, rows):
            b = min(N, a + rows)
            p = logits[a:b].float().sub_(lse[a:b, None]).exp_()  # softmax (R, V)
            if eps:
                p.sub_(eps / V)
            p.scatter_add_(1, safe[a:b], torch.full((b - a, 1), eps - 1.0, device=p.device))
            grad[a:b] = p.mul_(w[a:b, None])
        return grad, None, None, None


def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100, label_smoothing: float = 0.0) -> Tensor:
    """``F.cross_entropy(logits.float(), target, ignore_index=..., label_smoothing=...)`` (mean over the
    rows whose target is not ``ignore_index``), computed slice by slice on the CPU; logits (N, V), target (N,)."""
    if logits.dim() != 2 or target.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, V) and target (N,); found {tuple(logits.shape)} and {tuple(target.shape)}")
    if logits.device.type != "cpu":  # a GPU's fused kernels win there; slices would be many small launches
        return F.cross_entropy(logits.float(), target, ignore_index=ignore_index, label_smoothing=label_smoothing)
    return _SmoothedCE.apply(logits, target, float(label_smoothing), int(ignore_index))

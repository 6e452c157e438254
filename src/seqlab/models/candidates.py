"""Top-k and top-p sampling among a few candidates instead of the whole vocabulary.

The plain processors (:mod:`seqlab.models.sampling`) filter a (B, V) row of logits: top-k compares every
logit with the k-th largest and masks the rest, top-p sorts the whole row, then a softmax and a running sum
cover all V entries again. At V = 50,257 and B = 8 that is 4-5 ms a step for top-k and ~20 ms for top-k with
top-p on one thread (``benchmarks/pick_speed.py``), against a GPT-2-sized int8 decode step of ~10 ms. Every
token they keep is among the largest few, so here the largest m logits are taken once (``torch.topk``,
sorted) and everything after runs on (B, m):

- top-k: m = k + 1; the (k+1)-th tells whether a tie with the k-th lies outside the k taken (the processors
  keep every tie with the k-th); if any row has one, the caller falls back to the full row.
- top-p alone: candidates of growing size (64, then 1,024), each row's probabilities normalised by the
  whole row's log-sum-exp; the nucleus must end before the last candidate (then no token outside could be
  in it); otherwise the full row, at once when even the larger size cannot hold it (each token beyond the
  first candidates weighs at most the last of them).

The kept candidates come back in vocabulary order, as the full row's running sum visits them, so
``sampling.sample_rows`` draws from them what it would draw from the full row: the same distribution, and
with the same seed the same tokens, except where rounding differs at a boundary (the softmax is summed over
m entries instead of V).
"""

from __future__ import annotations

import torch
from torch import Tensor

TOP_P_CANDIDATES = (64, 1024)  # candidate sizes tried for top-p alone, smallest first


def filter_candidates(logits: Tensor, top_k: int, top_p: float) -> tuple[Tensor, Tensor] | None:
    """(B, V) logits (temperature applied) -> ``(vals, idx)``, both (B, m): the candidates' logits (-inf where
    top-k or top-p drops one) and their token ids, in vocabulary order; ``softmax(vals)`` is the processors'
    next-token distribution over them. None when the candidates cannot decide (a tie with the k-th outside
    them, a nucleus reaching past them) or neither filter is on: the caller then filters the full row."""
    V = logits.size(-1)
    if 0 < top_k < V:
        vals, idx = torch.topk(logits, top_k + 1, dim=-1)  # (B, k + 1), descending
        if bool((vals[:, top_k] == vals[:, top_k - 1]).any()):
            return None  # a tie with the k-th beyond the k taken: the full row keeps it
        vals, idx = vals[:, :top_k], idx[:, :top_k]
        keep = _nucleus(torch.softmax(vals, dim=-1), top_p) if top_p < 1.0 else None
        return _in_vocabulary_order(vals, idx, keep)
    if top_p >= 1.0:
        return None
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)  # (B, 1): the whole row's normaliser
    probs = None
    for m in TOP_P_CANDIDATES:
        if m >= V:
            return None
        if probs is not None and bool((probs.sum(-1) + (m - probs.size(1)) * probs[:, -1] < top_p).any()):
            return None  # the next m - m' tokens weigh at most the last candidate's each: m cannot reach p either
        vals, idx = torch.topk(logits, m, dim=-1)  # (B, m), descending
        probs = torch.exp(vals - lse)
        if bool((probs[:, :-1].sum(-1) >= top_p).all()):  # every nucleus ends before the last candidate
            return _in_vocabulary_order(vals, idx, _nucleus(probs, top_p))
    return None


def _nucleus(probs: Tensor, p: float) -> Tensor:
    """(B, m) probabilities in descending order -> (B, m) bool: kept while the mass before is below p."""
    return (probs.cumsum(-1) - probs) < p


def _in_vocabulary_order(vals: Tensor, idx: Tensor, keep: Tensor | None) -> tuple[Tensor, Tensor]:
    if keep is not None:
        vals = vals.masked_fill(~keep, float("-inf"))
    order = idx.argsort(dim=-1)  # (B, m): as the full row's running sum visits them
    return vals.gather(-1, order), idx.gather(-1, order)

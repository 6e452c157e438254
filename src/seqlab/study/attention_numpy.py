"""attention-numpy: the notes' numpy ``attention(query, key, value)`` against seqlab's attention.

The notes' snippet::

    def softmax(x):
        e_x = np.exp(x - np.max(x))
        return e_x / e_x.sum(axis=0)

    def attention(query, key, value):
        scores = np.dot(query, key.T)
        attention_weights = softmax(scores)
        output = np.dot(attention_weights, value)
        return output, attention_weights

Same inputs go through seqlab (one head of a trained-from-init ``MultiHeadSelfAttention``: its Q, K, V
projections of a random sequence, and ``seqlab.models.encoder.attention_weights``). Two differences show:
the snippet has no 1/√d scaling, and ``sum(axis=0)`` normalises over *queries* (columns) when the scores
are a (T, S) matrix: each query's weights must sum to 1 over the keys (rows, axis=-1).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..models.encoder import MultiHeadSelfAttention, attention_weights
from .figures import heatmap
from .runner import Study, StudyResult

CLAIM_KO = "내적 - 얼마나 닮았는 지 · attention_weights = softmax(np.dot(query, key.T))"
THRESHOLD = ("the snippet 'holds' if, on the same Q, K, V, its output equals seqlab's attention to 1e-5 both for a "
             "single query vector and for a matrix of queries (after giving it seqlab's 1/√d scaling)")


def _softmax(x):
    e_x = np.exp(x - np.max(x))
    return e_x / e_x.sum(axis=0)


def notes_attention(query, key, value):
    """The notes' snippet, verbatim in behaviour."""
    scores = np.dot(query, key.T)
    weights = _softmax(scores)
    return np.dot(weights, value), weights


def run(ctx) -> StudyResult:
    torch.manual_seed(ctx.seed)
    T, d = 6, 8
    layer = MultiHeadSelfAttention(d, 1).eval()
    x = torch.randn(1, T, d)
    with torch.no_grad():
        q, k, v = layer.q_proj(x)[0], layer.k_proj(x)[0], layer.v_proj(x)[0]  # (T, d) each: one head
        w_ref = attention_weights(q[None, None], k[None, None])[0, 0]  # (T, T) rows sum to 1
        out_ref = w_ref @ v  # (T, d)
    Q, K, V = (t.double().numpy() for t in (q, k, v))
    scale = 1.0 / math.sqrt(d)
    rows, numbers = [], {}
    # 1) one query vector: scores (S,), axis=0 is the keys: right after scaling
    out1, _ = notes_attention(Q[0] * scale, K, V)
    e1 = float(np.abs(out1 - out_ref[0].double().numpy()).max())
    # 2) the same without the scaling (the snippet as written)
    out1u, _ = notes_attention(Q[0], K, V)
    e1u = float(np.abs(out1u - out_ref[0].double().numpy()).max())
    # 3) a matrix of queries: scores (T, S), axis=0 normalises each key's column over the queries
    outm, wm = notes_attention(Q * scale, K, V)
    em = float(np.abs(outm - out_ref.double().numpy()).max())
    row_sums = wm.sum(axis=1)
    # 4) the fix: softmax over the last axis, row by row
    s = Q @ K.T * scale
    wf = np.exp(s - s.max(axis=-1, keepdims=True))
    wf /= wf.sum(axis=-1, keepdims=True)
    ef = float(np.abs(wf @ V - out_ref.double().numpy()).max())
    rows += [["one query vector, scaled by 1/√d", e1, "yes" if e1 < 1e-5 else "no"],
             ["one query vector, as written (no 1/√d)", e1u, "yes" if e1u < 1e-5 else "no"],
             ["query matrix (T×d), scaled, softmax(axis=0)", em, "yes" if em < 1e-5 else "no"],
             ["query matrix, softmax(axis=-1) (the fix)", ef, "yes" if ef < 1e-5 else "no"]]
    numbers = {"max_abs_diff_vector": e1, "max_abs_diff_vector_unscaled": e1u, "max_abs_diff_matrix": em,
               "max_abs_diff_fixed": ef, "snippet_row_sums": [round(float(r), 4) for r in row_sums]}
    fig = ctx.path("weights.png")
    both = np.concatenate([wm, np.full((T, 1), np.nan), w_ref.double().numpy()], axis=1)
    heatmap(fig, both, [f"k{j}" for j in range(T)] + [""] + [f"k{j}" for j in range(T)], [f"q{i}" for i in range(T)],
            "left: the notes' softmax(axis=0) · right: seqlab (each row sums to 1)", "key position", "query position",
            CLAIM_KO[:40] + "…")
    holds = e1 < 1e-5 and em < 1e-5
    summary = (f"one query: max |difference| {e1:.1e} (matches once scaled by 1/√d; {e1u:.2g} as written); query matrix: "
               f"{em:.2g} (rows of the snippet's weights sum to {row_sums.min():.2f}..{row_sums.max():.2f}, not 1)")
    explanation = (
        "For a single query vector the scores form a 1-D array and axis=0 runs over the keys, so the snippet computes "
        "exactly softmax(q Kᵀ) V; it only lacks the Transformer's 1/√d scaling, which keeps the scores' variance near "
        "1 as d grows (without it, large d saturates the softmax). With a (T, S) matrix of queries, which is how "
        "self-attention is always used, np.dot(query, key.T) has one row per query and sum(axis=0) normalises each "
        "column over the queries instead of each row over the keys: the weights of a query no longer sum to 1 and "
        "the output mixes values with the wrong proportions. np.max(x) over the whole array is harmless (any constant "
        "cancels). softmax(axis=-1, keepdims=True) fixes it, and then it matches seqlab to rounding.")
    return StudyResult("holds" if holds else "does not hold", summary, ["case", "max |notes − seqlab|", "equal (1e-5)"],
                       rows, [fig.name], explanation, numbers)


STUDY = Study("attention-numpy", "Query와 Key의 내적을 구합니다 … Softmax를 적용하여 Attention weights를 구합니다 "
              "(softmax: e_x / e_x.sum(axis=0))",
              "The notes' numpy attention(query, key, value) computes the same attention as a Transformer layer.",
              THRESHOLD, quick_s=2, full_s=2, run=run)

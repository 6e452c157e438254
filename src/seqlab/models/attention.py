"""Attention for RNN encoder-decoders: Bahdanau (additive) and Luong (dot, general).

One decoder step asks one question (the query, the decoder hidden state) of all encoder
states (the keys, which are also the values). The answer is a weighted average of the values,
the context vector, whose weights say where the decoder "looks" in the source sentence.

    score(q, k_j)  -> e_j                      one number per source position j
    a = softmax(e)  over real source tokens    padding gets exactly zero weight
    c = sum_j a_j v_j                          the context vector

Shapes (batch first):  query (B, H_q), keys/values (B, S, H_k), mask (B, S) bool with
**True = a real source token**; outputs context (B, H_k) and weights (B, S).

Example::

    >>> attn = BahdanauAttention(query_dim=8, key_dim=6, attn_dim=5)
    >>> q, k = torch.randn(2, 8), torch.randn(2, 4, 6)
    >>> mask = torch.tensor([[True] * 4, [True, True, False, False]])
    >>> context, weights = attn(q, k, k, mask)
    >>> context.shape, weights.shape
    (torch.Size([2, 6]), torch.Size([2, 4]))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dim of ``scores`` (B, S) where ``mask`` (B, S) is True.

    Masked positions get weight exactly 0. A row with no True at all would divide by zero;
    callers guarantee at least one real token per sentence (empty sources are dropped earlier).
    """
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1)


class BahdanauAttention(nn.Module):
    """Additive attention (Bahdanau, Cho and Bengio 2015).

    e_j = v^T tanh(W_q q + W_k k_j)

    The key projection ``W_k k_j`` does not depend on the decoder step, so the decoder computes
    it once per sentence with :meth:`project_keys` and passes it as ``proj_keys`` at every step.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.W_q = nn.Linear(query_dim, attn_dim, bias=False)
        self.W_k = nn.Linear(key_dim, attn_dim, bias=True)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        """keys (B, S, H_k) -> W_k keys (B, S, A); compute once per source batch."""
        return self.W_k(keys)

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        proj_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend from one query per sentence over its source states.

        Args:
            query: (B, H_q) float, the decoder hidden state.
            keys: (B, S, H_k) float, encoder states (ignored when ``proj_keys`` is given).
            values: (B, S, H_v) float, usually the same tensor as ``keys``.
            mask: (B, S) bool, True = real source token; False positions get weight 0.
            proj_keys: (B, S, A) float, the cached ``project_keys(keys)``.

        Returns:
            context (B, H_v) and weights (B, S), each weights row summing to 1.
        """
        if proj_keys is None:
            proj_keys = self.project_keys(keys)
        energy = torch.tanh(self.W_q(query).unsqueeze(1) + proj_keys)  # (B, S, A)
        scores = self.v(energy).squeeze(-1)  # (B, S)
        weights = masked_softmax(scores, mask)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, 1, S) @ (B, S, H) -> (B, H)
        return context, weights


class LuongAttention(nn.Module):
    """Multiplicative attention (Luong, Pham and Manning 2015).

    dot:      e_j = q^T k_j            (needs H_q == H_k)
    general:  e_j = q^T W_a k_j
    """

    METHODS = ("dot", "general")

    def __init__(self, query_dim: int, key_dim: int, method: str = "general"):
        super().__init__()
        if method not in self.METHODS:
            raise ValueError(f"Luong attention method must be one of {self.METHODS}; got {method!r}")
        if method == "dot" and query_dim != key_dim:
            raise ValueError(f"dot attention needs query_dim == key_dim; got {query_dim} and {key_dim}")
        self.method = method
        # W_a maps keys into the query space, so the cached projection works like Bahdanau's.
        self.W_a = nn.Linear(key_dim, query_dim, bias=False) if method == "general" else None

    def project_keys(self, keys: Tensor) -> Tensor:
        """keys (B, S, H_k) -> W_a keys (B, S, H_q) for ``general``, keys itself for ``dot``."""
        return self.W_a(keys) if self.W_a is not None else keys

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        values: Tensor,
        mask: Tensor | None = None,
        proj_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Same contract as :meth:`BahdanauAttention.forward`: returns context (B, H_v), weights (B, S)."""
        if proj_keys is None:
            proj_keys = self.project_keys(keys)
        scores = torch.bmm(proj_keys, query.unsqueeze(2)).squeeze(2)  # (B, S, H) @ (B, H, 1) -> (B, S)
        weights = masked_softmax(scores, mask)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, H_v)
        return context, weights


def build_attention(kind: str, query_dim: int, key_dim: int, attn_dim: int) -> nn.Module:
    """``bahdanau`` | ``luong`` (= general) | ``luong-dot`` | ``luong-general`` -> an attention module."""
    if kind == "bahdanau":
        return BahdanauAttention(query_dim, key_dim, attn_dim)
    if kind in ("luong", "luong-general"):
        return LuongAttention(query_dim, key_dim, "general")
    if kind == "luong-dot":
        return LuongAttention(query_dim, key_dim, "dot")
    raise ValueError(f"unknown attention {kind!r}; expected bahdanau, luong, luong-dot or luong-general")

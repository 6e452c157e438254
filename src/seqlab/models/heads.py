"""Pooling a sequence of vectors into one, and the classifier head on top.

Shapes: ``h`` (B, T, C) float, ``mask`` (B, T) bool with **True = a real token**; padding is at the
end of each row (a row's real tokens are positions 0 .. len-1). Every pooling ignores padded
positions: changing what sits there never changes the result.

    last       the state after the last real token; bidirectional: [forward half at len-1,
               backward half at position 0] (each direction's final state)
    mean       sum_t m_t h_t / sum_t m_t
    max        max_t over real positions, per channel
    attention  a_t = softmax_t(v . tanh(W h_t + b)) over real t;  sum_t a_t h_t   (Yang et al. 2016)
    cls        h_0, the first position (a [CLS] token the model put there)

A row with no real token pools to zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .fast_dropout import Dropout

POOLS = ("last", "mean", "max", "attention", "cls")


def _lengths(mask: Tensor) -> Tensor:
    return mask.long().sum(dim=1)  # (B,)


def pool_last(h: Tensor, mask: Tensor, bidirectional: bool = False) -> Tensor:
    """(B, T, C) -> (B, C): the output at each row's last real position (see module docstring)."""
    idx = (_lengths(mask) - 1).clamp(min=0)  # (B,)
    rows = torch.arange(h.shape[0], device=h.device)
    last = h[rows, idx]  # (B, C)
    if bidirectional:
        C = h.shape[-1] // 2
        last = torch.cat([last[:, :C], h[:, 0, C:]], dim=-1)  # backward direction ends at position 0
    return last * mask.any(dim=1, keepdim=True)  # empty rows -> 0


def pool_mean(h: Tensor, mask: Tensor) -> Tensor:
    """(B, T, C) -> (B, C): the average over real positions."""
    m = mask.unsqueeze(-1).to(h.dtype)  # (B, T, 1)
    return (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


def pool_max(h: Tensor, mask: Tensor) -> Tensor:
    """(B, T, C) -> (B, C): the per-channel maximum over real positions (padding never wins)."""
    out = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)  # (B, C)
    return out.masked_fill(~mask.any(dim=1, keepdim=True), 0.0)


def pool_cls(h: Tensor, mask: Tensor) -> Tensor:
    """(B, T, C) -> (B, C): the first position."""
    return h[:, 0]


class AttentionPool(nn.Module):
    """Additive attention with one learned query (Yang et al. 2016, "Hierarchical Attention Networks").

    u_t = tanh(W h_t + b);  a_t = softmax over real t of (v . u_t);  pooled = sum_t a_t h_t
    """

    def __init__(self, dim: int, attn_dim: int | None = None):
        super().__init__()
        self.proj = nn.Linear(dim, attn_dim or dim)  # W, b
        self.query = nn.Linear(attn_dim or dim, 1, bias=False)  # v, the learned query

    def forward(self, h: Tensor, mask: Tensor, return_weights: bool = False):
        """h (B, T, C) float, mask (B, T) bool True = real -> pooled (B, C) [and weights (B, T)]."""
        scores = self.query(torch.tanh(self.proj(h))).squeeze(-1)  # (B, T)
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)  # finite: no NaN for empty rows
        weights = torch.softmax(scores, dim=-1) * mask  # (B, T); padding gets exactly 0, empty rows all 0
        pooled = torch.einsum("bt,btc->bc", weights, h)  # (B, C)
        return (pooled, weights) if return_weights else pooled


class ClassifierHead(nn.Module):
    """Pool a sequence, apply dropout, project to class logits.

    Args:
        in_dim: C, the width of the sequence vectors.
        n_classes: number of classes.
        pool: one of ``POOLS``.
        dropout: dropout on the pooled vector.
        bidirectional: the vectors are [forward; backward] halves (only changes ``pool="last"``).
    """

    def __init__(self, in_dim: int, n_classes: int, pool: str = "max", dropout: float = 0.0,
                 bidirectional: bool = False):
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}; got {pool!r}")
        if bidirectional and in_dim % 2:
            raise ValueError(f"bidirectional vectors need an even width; got in_dim={in_dim}")
        self.pool, self.bidirectional = pool, bidirectional
        self.attention = AttentionPool(in_dim) if pool == "attention" else None
        self.dropout = Dropout(dropout)
        self.out = nn.Linear(in_dim, n_classes)

    def pooled(self, h: Tensor, mask: Tensor) -> Tensor:
        """(B, T, C), (B, T) bool True = real -> (B, C)."""
        if self.pool == "last":
            return pool_last(h, mask, self.bidirectional)
        if self.pool == "mean":
            return pool_mean(h, mask)
        if self.pool == "max":
            return pool_max(h, mask)
        if self.pool == "attention":
            return self.attention(h, mask)
        return pool_cls(h, mask)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        """Logits for a batch of sequences.

        Args:
            h: float (B, T, C), one vector per position.
            mask: bool (B, T), True = a real token, False = padding (ignored).

        Returns:
            float (B, n_classes) logits = W dropout(pool(h, mask)) + b.

        Example::

            >>> head = ClassifierHead(8, 3, pool="mean")
            >>> head(torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]).bool()).shape
            torch.Size([2, 3])
        """
        return self.out(self.dropout(self.pooled(h, mask)))

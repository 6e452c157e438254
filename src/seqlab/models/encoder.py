"""A Transformer encoder (Vaswani et al. 2017) for classification: self-attention written out.

Shapes: x (B, T, C) with C = d_model, heads (B, nh, T, hs) with hs = C / nh; mask (B, T) bool,
**True = a real token**. Padded positions are never attended to (they are keys nobody looks at);
their own outputs are computed but meaningless, and pooling must ignore them.

One layer, post-LN (the paper) or pre-LN (GPT-2, more stable when deep)::

    post-LN:  x = LN(x + Dropout(MHA(x)));   x = LN(x + Dropout(FFN(x)))
    pre-LN:   x = x + Dropout(MHA(LN(x)));   x = x + Dropout(FFN(LN(x)))   (and a final LN)

    MHA(x)  = concat_h softmax(Q_h K_h^T / sqrt(hs) + mask) V_h  W_O,   Q = x W_Q, K = x W_K, V = x W_V
    FFN(x)  = Dropout(act(x W_1 + b_1)) W_2 + b_2,    act = GELU or ReLU

Positions are added to the input: sinusoidal PE(t, 2i) = sin(t / 10000^(2i/C)), PE(t, 2i+1) = cos(...),
or a learned table of ``max_len`` rows.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .fast_dropout import Dropout, attention, dropout

POSITIONS = ("sinusoidal", "learned")
ACTIVATIONS = ("gelu", "relu")


def sinusoidal_positions(T: int, C: int, device=None, dtype=None) -> Tensor:
    """The sinusoidal table (T, C): PE(t, 2i) = sin(t / 10000^(2i/C)), PE(t, 2i+1) = cos(t / 10000^(2i/C))."""
    t = torch.arange(T, device=device, dtype=torch.float32)[:, None]  # (T, 1)
    inv_freq = torch.exp(torch.arange(0, C, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / C))
    pe = torch.zeros(T, C, device=device)
    pe[:, 0::2] = torch.sin(t * inv_freq)
    pe[:, 1::2] = torch.cos(t * inv_freq[: C // 2])
    return pe.to(dtype or torch.float32)


def attention_weights(q: Tensor, k: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
    """The attention weights softmax(q k^T / sqrt(hs)) over the allowed keys, written out (no dropout).

    q (B, nh, T, hs), k (B, nh, S, hs); attn_mask bool broadcastable to (B, nh, T, S), True = may attend;
    ``is_causal``: query t sees keys <= t. Returns float (B, nh, T, S); each row sums to 1 over its allowed
    keys and is 0 elsewhere (a row with no allowed key is all 0). Used only when weights are asked for.
    """
    T, S = q.shape[-2], k.shape[-2]
    scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(q.shape[-1])  # (B, nh, T, S)
    allowed = attn_mask
    if is_causal:
        causal = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
        allowed = causal if allowed is None else allowed & causal
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if allowed is not None:
        weights = weights.masked_fill(~allowed, 0.0).nan_to_num(0.0)  # an all-masked row: NaN -> 0
    return weights.to(q.dtype)


class MultiHeadSelfAttention(nn.Module):
    """Q/K/V projections, per-head scaled dot-product attention over real keys, output projection."""

    def __init__(self, d_model: int, n_head: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_head:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_head ({n_head})")
        self.n_head, self.dropout = n_head, dropout
        self.q_proj = nn.Linear(d_model, d_model)  # W_Q
        self.k_proj = nn.Linear(d_model, d_model)  # W_K
        self.v_proj = nn.Linear(d_model, d_model)  # W_V
        self.out_proj = nn.Linear(d_model, d_model)  # W_O

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = False):
        """softmax(Q K^T / sqrt(hs), real keys only) V per head, heads concatenated, then W_O.

        x float (B, T, C), mask bool (B, T) True = real (a key that may be attended to) -> (B, T, C).
        With ``need_weights`` (evaluation only) returns ``(y, weights)``, weights float (B, nh, T, T) that sum
        to 1 over the real keys of each row (0 on padded keys), computed by an explicit softmax; the default
        path never builds them.
        Example: ``MultiHeadSelfAttention(16, 4)(torch.randn(2, 5, 16), torch.ones(2, 5).bool())``.
        """
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        q = self.q_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = self.k_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = self.v_proj(x).view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        keys = mask | ~mask.any(dim=1, keepdim=True)  # a row with no real token attends to all: no NaN
        attn_mask = keys[:, None, None, :]  # (B, 1, 1, T): True = may attend (SDPA's bool convention)
        if need_weights:
            weights = attention_weights(q, k, attn_mask)  # (B, nh, T, T)
            y = dropout(weights, self.dropout, self.training) @ v  # (B, nh, T, hs)
        else:
            y = attention(q, k, v, attn_mask=attn_mask, dropout_p=self.dropout,
                          training=self.training)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): heads side by side
        return (self.out_proj(y), weights) if need_weights else self.out_proj(y)


class EncoderLayer(nn.Module):
    """Self-attention + feed-forward, each wrapped in a residual connection and LayerNorm."""

    def __init__(self, d_model: int, n_head: int, d_ff: int, dropout: float = 0.1,
                 activation: str = "gelu", norm_first: bool = True, residual: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}; got {activation!r}")
        self.norm_first, self.residual = norm_first, residual
        self.attn = MultiHeadSelfAttention(d_model, n_head, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.ff1, self.ff2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)  # W_1, W_2
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()
        self.drop_attn, self.drop_ff, self.drop_out = Dropout(dropout), Dropout(dropout), Dropout(dropout)

    def _ffn(self, x: Tensor) -> Tensor:
        return self.drop_out(self.ff2(self.drop_ff(self.act(self.ff1(x)))))  # (B, T, C)

    def forward(self, x: Tensor, mask: Tensor, need_weights: bool = False):
        """One layer (equations in the module docstring): x float (B, T, C), mask bool (B, T) True = real -> (B, T, C).

        With ``need_weights`` returns ``(x, weights)``, weights (B, nh, T, T) as in MultiHeadSelfAttention.
        With ``residual=False`` the skip connections are dropped (x = Dropout(MHA(LN(x))), ...): the
        residual study's "same stack without skips".

        Example: ``EncoderLayer(16, 4, 32)(torch.randn(2, 5, 16), torch.ones(2, 5).bool()).shape == (2, 5, 16)``.
        """
        a = self.attn(self.norm1(x) if self.norm_first else x, mask, need_weights=need_weights)
        a, weights = a if need_weights else (a, None)
        if self.norm_first:
            x = self._skip(x, self.drop_attn(a))
            x = self._skip(x, self._ffn(self.norm2(x)))
        else:
            x = self.norm1(self._skip(x, self.drop_attn(a)))
            x = self.norm2(self._skip(x, self._ffn(x)))
        return (x, weights) if need_weights else x

    def _skip(self, x: Tensor, y: Tensor) -> Tensor:
        return x + y if self.residual else y  # the residual connection, or none


class TransformerEncoder(nn.Module):
    """Positions + a stack of ``EncoderLayer`` (+ a final LayerNorm when pre-LN).

    Args:
        d_model: C, the model width.
        n_head: attention heads (C must be divisible by it).
        n_layer: number of layers.
        d_ff: inner width of the feed-forward block.
        dropout: on positions+input, attention weights, and each sub-block's output.
        activation: "gelu" or "relu".
        norm_first: True = pre-LN, False = post-LN.
        positions: "sinusoidal" (any length) or "learned" (at most ``max_len`` positions).
        max_len: rows of the learned position table.
        residual: False drops every skip connection (for the residual study only).
    """

    def __init__(self, d_model: int = 128, n_head: int = 4, n_layer: int = 2, d_ff: int = 512,
                 dropout: float = 0.1, activation: str = "gelu", norm_first: bool = True,
                 positions: str = "sinusoidal", max_len: int = 512, residual: bool = True):
        super().__init__()
        if positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}; got {positions!r}")
        self.d_model, self.positions, self.max_len = d_model, positions, max_len
        self.pos = nn.Embedding(max_len, d_model) if positions == "learned" else None
        if self.pos is not None:
            nn.init.normal_(self.pos.weight, std=0.02)
        self.drop = Dropout(dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_head, d_ff, dropout, activation, norm_first, residual) for _ in range(n_layer))
        self.norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(self, x: Tensor, mask: Tensor, return_attention: bool = False):
        """Contextual vectors for every position.

        Args:
            x: float (B, T, C), embedded inputs (positions are added here).
            mask: bool (B, T), True = real token; padded keys are never attended to.
            return_attention: also return each layer's attention weights (explicit softmax, same outputs).

        Returns:
            float (B, T, C). Outputs at padded positions are not meaningful. With ``return_attention``:
            ``(h, [weights (B, nh, T, T) per layer])``, rows summing to 1 over real keys.

        Example::

            >>> enc = TransformerEncoder(d_model=16, n_head=2, n_layer=1, d_ff=32)
            >>> enc(torch.randn(2, 5, 16), torch.tensor([[1, 1, 1, 0, 0], [1] * 5]).bool()).shape
            torch.Size([2, 5, 16])
        """
        B, T, C = x.shape
        if self.pos is not None:
            if T > self.max_len:
                raise ValueError(f"sequence of {T} positions is longer than max_len={self.max_len}")
            x = x + self.pos(torch.arange(T, device=x.device))  # (B, T, C) + (T, C)
        else:
            x = x + sinusoidal_positions(T, C, x.device, x.dtype)  # (B, T, C) + (T, C)
        x = self.drop(x)
        maps = []
        for layer in self.layers:
            if return_attention:
                x, w = layer(x, mask, need_weights=True)
                maps.append(w)
            else:
                x = layer(x, mask)
        return (self.norm(x), maps) if return_attention else self.norm(x)

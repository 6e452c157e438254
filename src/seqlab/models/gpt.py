"""GPT: a decoder-only Transformer language model (Radford et al. 2018, 2019).

Shapes, batch first: B batch, T time steps (tokens), C = n_embd channels, nh heads, hs = C / nh head size,
V vocabulary size, L cache capacity (slots).

One block, pre-LayerNorm (GPT-2)::

    x = x + Dropout(W_o · CausalSelfAttention(LN_1(x)))
    x = x + Dropout(W_2 · GELU(W_1 · LN_2(x)))

and the whole model::

    h_0   = E[idx] + P[pos]                 token embedding E (V, C), learned positions P (block_size, C)
    h_l   = Block_l(h_{l-1})                l = 1 .. n_layer
    logits = LN_f(h_L) · Eᵀ                  the output layer shares E with the input (weight tying)

The parameter names follow Hugging Face's GPT-2 (``wte``, ``wpe``, ``h.{i}.ln_1``, ``h.{i}.attn.c_attn``,
``h.{i}.attn.c_proj``, ``h.{i}.ln_2``, ``h.{i}.mlp.c_fc``, ``h.{i}.mlp.c_proj``, ``ln_f``, ``lm_head``), so a
GPT-2 checkpoint maps onto this model by transposing its Conv1D weights (see ``seqlab.interop.hf``).

Generation keeps a key/value cache (:class:`KVCache`): each block stores the keys and values of every
position it has seen, so a new token costs one position instead of re-running the whole prefix.
Batched prompts are left-padded; a padding mask (``True`` = real token) gives every row its own
positions (0 at its first real token) and hides the padding from attention.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .encoder import attention_weights
from .fast_dropout import Dropout, attention, dropout

logger = logging.getLogger(__name__)

ACTIVATIONS = ("gelu_tanh", "gelu")
_COMPILED = None  # torch.compile(GPT._plain_forward), made on first use (GPTConfig.compile)


@dataclass
class GPTConfig:
    vocab_size: int = 65  # number of token ids (65 = the characters of tinyshakespeare)
    block_size: int = 256  # context length: the most positions the model attends over (GPT-2: 1024)
    n_layer: int = 6  # number of Transformer blocks
    n_head: int = 6  # attention heads per block; must divide n_embd
    n_embd: int = 384  # model width C (d_model)
    n_inner: int | None = None  # MLP hidden width; None means 4 * n_embd as in GPT-2
    dropout: float = 0.1  # dropout on embeddings and residual branches (GPT-2: resid_pdrop, embd_pdrop)
    attn_dropout: float | None = None  # dropout on attention weights (attn_pdrop); None = dropout. 0 lets the CPU
    # use its fused attention kernel in training (with dropout it falls back to materialising (T, T) weights)
    bias: bool = True  # biases in Linear and LayerNorm layers (GPT-2 has them)
    activation: str = "gelu_tanh"  # MLP non-linearity: "gelu_tanh" (GPT-2's gelu_new) or "gelu" (exact erf)
    layer_norm_eps: float = 1e-5  # epsilon inside every LayerNorm (GPT-2: 1e-5)
    tie_weights: bool = True  # the output layer reuses the token embedding matrix
    compile: bool = False  # torch.compile (inductor) the plain training forward (no cache, no padding); the
    # first batch pays the compilation; where it fails (no C++ compiler, unsupported op) eager takes over

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be >= 1; got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if self.n_inner is not None and self.n_inner < 1:
            raise ValueError(f"GPTConfig.n_inner must be >= 1 or None; got {self.n_inner}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1); got {self.dropout}")
        if self.attn_dropout is not None and not 0.0 <= self.attn_dropout < 1.0:
            raise ValueError(f"GPTConfig.attn_dropout must be in [0, 1) or None; got {self.attn_dropout}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"GPTConfig.activation must be one of {ACTIVATIONS}; got {self.activation!r}")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"GPTConfig.layer_norm_eps must be > 0; got {self.layer_norm_eps}")


class KVCache:
    """Keys and values of every block for the positions seen so far, preallocated to ``capacity`` slots.

    ``k`` and ``v`` are ``(n_layer, B, nh, L, hs)``; slots ``0 .. length-1`` are filled. All rows share
    the slot index; a left-padded row ``b`` has ``n_pad[b]`` padding slots at the front, which attention
    never reads, and its token in slot ``s`` sits at position ``s - n_pad[b]``. ``tokens`` keeps the ids
    per slot so the window can slide when the cache is full (:meth:`GPT.decode`).
    """

    def __init__(self, config: GPTConfig, batch_size: int, capacity: int, device, dtype):
        hs = config.n_embd // config.n_head
        shape = (config.n_layer, batch_size, config.n_head, capacity, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)  # (n_layer, B, nh, L, hs)
        self.v = torch.zeros(shape, device=device, dtype=dtype)  # (n_layer, B, nh, L, hs)
        self.tokens = torch.zeros(batch_size, capacity, dtype=torch.long, device=device)  # (B, L)
        self.capacity = capacity
        self.length = 0  # filled slots
        self.n_pad: Tensor | None = None  # (B,) left-padding slots per row; None when no row is padded

    def reset(self):
        self.length = 0
        self.n_pad = None


def left_padding(mask: Tensor) -> Tensor | None:
    """A cache's padding: mask (B, T) bool (True = real token) -> padding slots per row (B,), or None when no
    row is padded; ValueError unless each row is padding first, then real tokens."""
    n_pad = (~mask).sum(1)  # (B,)
    if not torch.equal(mask, torch.arange(mask.shape[1], device=mask.device)[None, :] >= n_pad[:, None]):
        raise ValueError("with a cache, padding must be on the left (mask False then True per row)")
    return n_pad if bool(n_pad.any()) else None


def slide_window(cache: KVCache) -> tuple[Tensor, Tensor | None]:
    """A full cache slides: the tokens of its last 3/4 (B, keep) and their padding mask (or None) to re-encode
    from position 0; the cache is emptied for them."""
    keep = cache.capacity - max(1, cache.capacity // 4)
    idx = cache.tokens[:, cache.capacity - keep:].clone()  # (B, keep)
    mask = None
    if cache.n_pad is not None:
        n_pad = (cache.n_pad - (cache.capacity - keep)).clamp(min=0)  # (B,)
        mask = torch.arange(keep, device=idx.device)[None, :] >= n_pad[:, None]  # (B, keep)
    cache.reset()
    return idx, mask


def _gelu_tanh(x: Tensor) -> Tensor:
    return F.gelu(x, approximate="tanh")


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where position t sees positions <= t (and, with a cache, all past slots)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # W_q, W_k, W_v stacked
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)  # W_o
        self.attn_dropout = config.dropout if config.attn_dropout is None else config.attn_dropout
        self.resid_dropout = Dropout(config.dropout)

    def forward(self, x: Tensor, attn_mask: Tensor | None, is_causal: bool,
                cache: KVCache | None = None, layer: int = 0, need_weights: bool = False):
        """x (B, T, C) -> (B, T, C). ``attn_mask`` (B|1, 1, T, S) bool, True = may attend; or None with
        ``is_causal`` telling SDPA to apply the plain causal mask itself."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if cache is not None:
            start, end = cache.length, cache.length + T
            cache.k[layer, :, :, start:end] = k
            cache.v[layer, :, :, start:end] = v
            k = cache.k[layer, :, :, :end]  # (B, nh, S, hs), S = end
            v = cache.v[layer, :, :, :end]  # (B, nh, S, hs)
            q = q.to(k.dtype)  # a bf16 model may keep an fp32 cache (see GPT.prefill)
        # softmax(q kᵀ / sqrt(hs) + mask) v
        if need_weights:  # written out only when asked: (B, nh, T, S), rows sum to 1 over allowed keys
            weights = attention_weights(q, k, attn_mask, is_causal)
            y = dropout(weights, self.attn_dropout, self.training) @ v  # (B, nh, T, hs)
        else:
            y = attention(q, k, v, attn_mask=attn_mask, is_causal=is_causal, dropout_p=self.attn_dropout,
                          training=self.training)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C).to(x.dtype)  # (B, T, C)
        out = self.resid_dropout(self.c_proj(y))
        return (out, weights) if need_weights else out


class MLP(nn.Module):
    """Position-wise feed-forward: W_2 · GELU(W_1 x + b_1) + b_2, hidden width n_inner (4C)."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = nn.Linear(config.n_embd, inner, bias=config.bias)
        self.c_proj = nn.Linear(inner, config.n_embd, bias=config.bias)
        self.act = _gelu_tanh if config.activation == "gelu_tanh" else F.gelu
        self.dropout = Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm Transformer decoder block: x + Attn(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, attn_mask, is_causal, cache=None, layer=0, need_weights=False):
        if need_weights:
            a, weights = self.attn(self.ln_1(x), attn_mask, is_causal, cache, layer, need_weights=True)
            x = x + a
            return x + self.mlp(self.ln_2(x)), weights
        x = x + self.attn(self.ln_1(x), attn_mask, is_causal, cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Decoder-only Transformer language model with GPT-2's parameter layout.

    Example::

        >>> model = GPT(GPTConfig(vocab_size=65, block_size=32, n_layer=2, n_head=2, n_embd=32))
        >>> model(torch.randint(0, 65, (4, 16))).shape
        torch.Size([4, 16, 65])
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # E: token embeddings (V, C)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)  # P: learned positions (block_size, C)
        self.drop = Dropout(config.dropout)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight
        self.apply(self._init_weights)
        # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer) so the residual stream keeps its variance
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @classmethod
    def from_config(cls, config: GPTConfig) -> "GPT":
        return cls(config)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def context_size(self) -> int:
        return self.config.block_size

    def forward(self, idx: Tensor, mask: Tensor | None = None, cache: KVCache | None = None,
                last_only: bool = False, return_attention: bool = False):
        """Next-token logits for every position.

        Args:
            idx: (B, T) int64 token ids.
            mask: (B, T) bool padding mask, True = real token, False = padding; None = all real.
                Without a cache any padding layout works: a token's position is the number of real tokens
                before it and padding is never attended to. With a cache the padding must be on the left
                (the first call on an empty cache); later calls take mask=None.
            cache: a :class:`KVCache`; the T new tokens go into slots ``cache.length ..`` and attend to
                every earlier slot. ``cache.length`` advances by T.
            last_only: compute logits for the last position only (generation), returning (B, 1, V).
            return_attention: also return every layer's attention weights [(B, nh, T, S)] (explicit softmax;
                logits unchanged); returns ``(logits, maps)``.

        Returns:
            (B, T, V) float logits (B, 1, V) with ``last_only``); ``softmax(logits[:, t])`` is
            p(x_{t+1} | x_{<=t}).
        """
        B, T = idx.shape
        start = cache.length if cache is not None else 0
        if start + T > self.config.block_size:
            raise ValueError(f"sequence of {start + T} positions exceeds block_size {self.config.block_size}")
        if (cache is None and mask is None and not last_only and not return_attention and self.config.compile
                and not self._compile_failed):
            return self._compiled_forward(idx)
        if cache is not None and start + T > cache.capacity:
            raise ValueError(f"cache holds {cache.capacity} slots; {start} filled + {T} new do not fit")
        attn_mask, is_causal = None, False
        if cache is not None and mask is not None:
            if start:
                raise ValueError("a padding mask is only accepted on the first call with an empty cache")
            cache.n_pad = left_padding(mask)
            mask = None
        if mask is not None and not bool(mask.all()):
            pos = (mask.long().cumsum(1) - 1).clamp(min=0)  # (B, T): position = real tokens before
            x = self.wte(idx) + self.wpe(pos)  # (B, T, C)
            q = torch.arange(T, device=idx.device)
            causal = q[None, :] <= q[:, None]  # (T, S)
            # a padding query may see itself, so no row of the mask is empty (SDPA would give NaN)
            attn_mask = (causal & mask[:, None, :]) | torch.eye(T, dtype=torch.bool, device=idx.device)
            attn_mask = attn_mask[:, None]  # (B, 1, T, S)
        elif cache is not None and cache.n_pad is not None:
            slot = torch.arange(start, start + T, device=idx.device)  # (T,)
            pos = (slot[None, :] - cache.n_pad[:, None]).clamp(min=0)  # (B, T)
            x = self.wte(idx) + self.wpe(pos)  # (B, T, C)
            key = torch.arange(start + T, device=idx.device)  # (S,)
            allowed = (key[None, :] <= slot[:, None])[None] & (key[None, None, :] >= cache.n_pad[:, None, None])
            attn_mask = (allowed | (key[None, None, :] == slot[None, :, None]))[:, None]  # (B, 1, T, S)
        else:
            x = self.wte(idx) + self.wpe.weight[start:start + T]  # (B, T, C)
            if T > 1 and start == 0:
                is_causal = True
            elif T > 1:  # new tokens after a filled cache: query t sees keys <= start + t
                key = torch.arange(start + T, device=idx.device)
                slot = torch.arange(start, start + T, device=idx.device)
                attn_mask = (key[None, :] <= slot[:, None])[None, None]  # (1, 1, T, S)
        if cache is not None:
            cache.tokens[:, start:start + T] = idx
        x = self.drop(x)
        maps = []
        for layer, block in enumerate(self.h):
            if return_attention:
                x, w = block(x, attn_mask, is_causal, cache, layer, need_weights=True)
                maps.append(w)
            else:
                x = block(x, attn_mask, is_causal, cache, layer)
        if cache is not None:
            cache.length = start + T
        if last_only:
            x = x[:, -1:]
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        return (logits, maps) if return_attention else logits

    _compile_failed = False  # set per model when torch.compile raised; eager from then on

    def _plain_forward(self, idx: Tensor) -> Tensor:
        """(B, T) ids, no cache, no padding -> (B, T, V) logits: the training path, as one compilable graph."""
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe.weight[:T])  # (B, T, C)
        for block in self.h:
            x = block(x, None, T > 1)
        return self.lm_head(self.ln_f(x))  # (B, T, V)

    def _compiled_forward(self, idx: Tensor) -> Tensor:
        global _COMPILED
        if _COMPILED is None:
            _COMPILED = torch.compile(GPT._plain_forward, dynamic=False)
        try:
            return _COMPILED(self, idx)
        except Exception as e:  # noqa: BLE001 - any compiler failure: fall back to eager, once, loudly
            logger.warning("torch.compile of the GPT forward failed (%s: %s); continuing in eager mode",
                           type(e).__name__, str(e).splitlines()[0] if str(e) else "")
            self._compile_failed = True
            return self._plain_forward(idx)

    # ---- the generation protocol used by seqlab.models.sampling ----------------------------------------

    def prefill(self, idx: Tensor, mask: Tensor | None, max_new_tokens: int) -> tuple[Tensor, KVCache]:
        """Run left-padded prompts (B, T) through the model; returns next-token logits (B, V) and the cache."""
        B, T = idx.shape
        capacity = min(self.config.block_size, T + max_new_tokens)
        # on the CPU the cache (and so attention) stays fp32 even for a bf16 model: the bf16 attention
        # kernels are several times slower there for a single query
        dtype = torch.float32 if idx.device.type == "cpu" else self.wte.weight.dtype
        cache = KVCache(self.config, B, capacity, idx.device, dtype)
        logits = self(idx, mask=mask, cache=cache, last_only=True)  # (B, 1, V)
        return logits[:, -1], cache

    def decode(self, token: Tensor, cache: KVCache) -> Tensor:
        """Append one token per row (B,) and return the next-token logits (B, V).

        When the cache is full (the context is used up) the window slides: the oldest quarter of the
        context is dropped and the rest is re-encoded from position 0, once every block_size/4 tokens.
        """
        if cache.length == cache.capacity:
            self._slide(cache)
        return self(token[:, None], cache=cache, last_only=True)[:, -1]

    def _slide(self, cache: KVCache):
        idx, mask = slide_window(cache)
        self(idx, mask=mask, cache=cache, last_only=True)

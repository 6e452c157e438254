"""Fast one-token decoding for :class:`~seqlab.models.gpt.GPT` (batch-1 generation on the CPU).

Generating one token runs a single position through every block. The arithmetic is small (about
2 x n_params flops), so at batch 1 the time goes to two things: streaming the weights from memory, and
the fixed cost of every PyTorch call (Python, ``nn.Module.__call__``, the dispatcher), about 80 calls per
token for a 6-layer model. :class:`GPTDecoder` attacks both:

- the weights are bound once into flat lists and the step calls torch ops directly, with no module
  ``__call__`` per layer;
- the key/value cache is the preallocated :class:`~seqlab.models.gpt.KVCache`, written in place, and
  single-query attention reads slot views of it (no concatenation, no per-step allocation of the cache);
- each precision multiplies with the CPU kernel that is fastest for a few rows of activations:
  ``fp32`` uses ``addmm`` on input-major (in, out) weights; ``bf16`` uses oneDNN with weights reordered
  once into its blocked layout, with GELU and the residual add fused into the matmul; ``int8`` uses
  ``torch._weight_int8pack_mm`` (weight-only int8, one scale per output row; the C step instead quantizes
  each product's inputs per row too and multiplies in int8 with exact int32 sums, as ONNX Runtime's and
  CTranslate2's int8 do);
- in every precision the step goes through :mod:`seqlab.native.gpt_step` instead where that C
  kernel can be compiled (and the PyTorch step's weights are then not bound at all): the whole step in
  one call, fp32 activations, a bf16 key/value cache for bf16 and int8 (half the bytes of the fp32 one;
  at batch 8 and a few hundred slots, reading the cache costs as much as reading int8 weights), the
  weights streamed once (rows of a batch share each read) on all
  ``threads`` threads, and none of the ~80 PyTorch calls' fixed costs (run A of benchmarks/RESULTS.md:
  3.9x the oneDNN bf16 step, 4.8x the addmm fp32 step).

With the C step, the prompt itself (prefill) and the re-encoding when the context window slides run in C
too (many positions a call, :meth:`NativeGPTStep.rows`), so decoding needs nothing but the step's packed
weights, and the model is never copied into another dtype (bf16 and int8 used to keep a bf16 copy for the
prompt). Without it they run through the model's ordinary ``forward`` on the same cache.

Shapes: B batch, C = n_embd, nh heads, hs = C / nh head size, L cache slots, V vocabulary.
"""

from __future__ import annotations

import contextlib
import logging

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from ..native.gpt_step import native_gpt_step, quantize_rows
from .gpt import GPT, KVCache, left_padding, slide_window

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "int8")
PREFILL_CHUNK = 256  # prompt tokens per C call of the native prefill (bounds its scratch: ~15 x 256 x C floats)


def has_onednn_bf16() -> bool:
    """oneDNN's packed bf16 linear is usable (an x86 CPU with AVX512-BF16/AMX, or one oneDNN emulates)."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def has_int8_kernel() -> bool:
    return hasattr(torch, "_weight_int8pack_mm")


# ---- one bound weight per Linear: y = x Wᵀ + b, and the fused forms the step needs --------------------------


class _AddmmLinear:
    """fp32: addmm(b, x, W_t) with W_t = Wᵀ stored (in, out) contiguous, faster than (out, in) for few rows."""

    def __init__(self, weight: Tensor, bias: Tensor | None):
        self.w_t = weight.detach().float().t().contiguous()  # (in, out)
        self.b = bias.detach().float() if bias is not None else weight.new_zeros(weight.shape[0], dtype=torch.float32)

    def __call__(self, x: Tensor) -> Tensor:
        return torch.addmm(self.b, x, self.w_t)

    def gelu(self, x: Tensor) -> Tensor:
        return F.gelu(torch.addmm(self.b, x, self.w_t), approximate="tanh")

    def add(self, x: Tensor, residual: Tensor) -> Tensor:
        return torch.addmm(self.b, x, self.w_t).add_(residual)


class _OneDNNLinear:
    """bf16: oneDNN matmul on a weight reordered once into its blocked layout; GELU and add fused in."""

    def __init__(self, weight: Tensor, bias: Tensor | None):
        w = weight.detach().to(torch.bfloat16).contiguous()  # (out, in)
        self.w = torch.ops.mkldnn._reorder_linear_weight(w, 1)
        self.b = bias.detach().to(torch.bfloat16) if bias is not None else None

    def __call__(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.w, self.b, "none", [], "")

    def gelu(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.w, self.b, "gelu", [], "tanh")

    def add(self, x: Tensor, residual: Tensor) -> Tensor:
        return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.w, self.b, "add")


def quantize_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """Weight-only int8, one scale per output row: W (out, in) -> (W_q int8 (out, in), scale bf16 (out,)),
    W ≈ scale[:, None] * W_q; the operands of ``torch._weight_int8pack_mm``."""
    w_q, scale = quantize_rows(weight)  # the C step's int8 weights are the same
    return w_q, scale.to(torch.bfloat16)


class _Int8Linear:
    """Weight-only int8 (:func:`quantize_int8`); bf16 activations."""

    def __init__(self, weight: Tensor, bias: Tensor | None):
        self.w_q, self.scale = quantize_int8(weight)
        self.b = bias.detach().to(torch.bfloat16) if bias is not None else None

    def __call__(self, x: Tensor) -> Tensor:
        y = torch._weight_int8pack_mm(x, self.w_q, self.scale)
        return y.add_(self.b) if self.b is not None else y

    def gelu(self, x: Tensor) -> Tensor:
        return F.gelu(self(x), approximate="tanh")

    def add(self, x: Tensor, residual: Tensor) -> Tensor:
        return self(x).add_(residual)


class _BF16Linear:
    """bf16 where oneDNN's packed kernel is missing: plain F.linear on bf16 weights."""

    def __init__(self, weight: Tensor, bias: Tensor | None):
        self.w = weight.detach().to(torch.bfloat16).contiguous()  # (out, in)
        self.b = bias.detach().to(torch.bfloat16) if bias is not None else None

    def __call__(self, x: Tensor) -> Tensor:
        return F.linear(x, self.w, self.b)

    def gelu(self, x: Tensor) -> Tensor:
        return F.gelu(F.linear(x, self.w, self.b), approximate="tanh")

    def add(self, x: Tensor, residual: Tensor) -> Tensor:
        return F.linear(x, self.w, self.b).add_(residual)


def _linear_kind(precision: str):
    if precision == "fp32":
        return _AddmmLinear
    if precision == "int8":
        return _Int8Linear
    return _OneDNNLinear if has_onednn_bf16() else _BF16Linear


def default_kv_dtype(precision: str, native: bool) -> torch.dtype:
    """The key/value cache's dtype for a step in ``precision``: bf16 for the C step's (``native``) bf16 and
    int8 (half the bytes a step reads from it; each key and value rounded once, when written), else fp32
    (fp32: the module's bits; the PyTorch step's bf16 attention kernels are slower on the CPU for a single
    query, as GPT.prefill notes)."""
    return torch.bfloat16 if native and precision != "fp32" else torch.float32


@contextlib.contextmanager
def torch_threads(n: int | None):
    """PyTorch's intra-op thread count set to ``n`` inside the block (None: left as it is), restored after."""
    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class GPTDecoder(nn.Module):
    """A GPT bound for fast decoding in ``precision`` (fp32 | bf16 | int8); speaks the generation protocol.

    With the C step (``native`` and a compiler) ``model`` is only read: the step packs its weights once and
    runs the prompt and the window slides too, whatever the model's mode and dtype. Without it ``model`` is
    used as given for the prompt (prefill) and for re-encoding when the window slides, so it should already
    be in eval mode and in the matching dtype (fp32 for ``fp32``, bf16 otherwise); the one-token step uses
    weights bound from it once. ``threads``: how many CPU threads the step (and the C prompt pass) uses
    (None = leave PyTorch's setting alone); at batch 1 the matrices are small and one thread can beat two.
    The step's logits match ``model``'s to float rounding (fp32: ~1e-6). ``native``: in fp32 and bf16,
    run the step in the C kernel when it can be built here. ``kernel`` says what runs the step:
    ``native-fp32``, ``native-avx512bf16``, ``native-bf16`` (portable C), ``onednn``, ``torch``, ``addmm``
    or ``int8pack``. ``kv_dtype``: the key/value cache's dtype, None = bf16 for the C step's bf16 and int8
    (half the bytes each step reads from the cache), fp32 otherwise; bf16 needs the C step.
    """

    def __init__(self, model: GPT, precision: str = "fp32", threads: int | None = None, native: bool = True,
                 kv_dtype: torch.dtype | None = None):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
        cfg = model.config
        self.model = model
        self.config = cfg
        self.precision = precision
        self.threads = threads
        self.dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        self.native = native_gpt_step(model, precision, threads) if native else None
        if precision == "int8" and self.native is None and not has_int8_kernel():
            raise ValueError("int8 decoding needs seqlab's C step or PyTorch's CPU kernel torch._weight_int8pack_mm")
        make = _linear_kind(precision)
        self.kernel = {_AddmmLinear: "addmm", _OneDNNLinear: "onednn", _BF16Linear: "torch", _Int8Linear: "int8pack"}[make]
        if self.native is not None:
            self.kernel = ("native-avx512bf16" if self.native.uses_dpbf16 else
                           "native-avx512vnni" if self.native.uses_vnni else f"native-{precision}")
        self.eps = cfg.layer_norm_eps
        self.C, self.nh = cfg.n_embd, cfg.n_head
        self.exact_gelu = cfg.activation == "gelu"
        if self.native is None:
            self._bind_weights(model, make)
        if kv_dtype is None:
            kv_dtype = default_kv_dtype(precision, self.native is not None)
        if kv_dtype not in (torch.float32, torch.bfloat16) or (kv_dtype == torch.bfloat16 and self.native is None):
            raise ValueError(f"kv_dtype must be torch.float32, or torch.bfloat16 with the C step; got {kv_dtype}")
        self.kv_dtype = kv_dtype
        self._bound: tuple | None = None  # (cache, per-layer K views, V views, padding mask (B, 1, 1, L) | None)

    def _bind_weights(self, model: GPT, make) -> None:
        """The PyTorch step's weights, in this precision, each Linear as ``make`` binds it."""
        dt = self.dtype

        def ln(m):
            return (m.weight.detach().to(dt), m.bias.detach().to(dt) if m.bias is not None else None)

        self.layers = []
        for blk in model.h:
            self.layers.append((
                ln(blk.ln_1), make(blk.attn.c_attn.weight, blk.attn.c_attn.bias),
                make(blk.attn.c_proj.weight, blk.attn.c_proj.bias),
                ln(blk.ln_2), make(blk.mlp.c_fc.weight, blk.mlp.c_fc.bias),
                make(blk.mlp.c_proj.weight, blk.mlp.c_proj.bias),
            ))
        self.wte = model.wte.weight.detach().to(dt)  # (V, C)
        self.wpe = model.wpe.weight.detach().to(dt)  # (block_size, C)
        self.ln_f = ln(model.ln_f)
        head = model.lm_head
        self.head = make(head.weight, head.bias) if self.precision != "fp32" else _AddmmLinear(head.weight, head.bias)

    @property
    def context_size(self) -> int:
        return self.config.block_size

    @property
    def host_threads(self) -> int | None:
        """PyTorch threads for the work between two steps (picking the next tokens), or None (PyTorch's own).

        With the C step, 1: the step runs on its own thread pool, and any PyTorch op that went parallel
        between steps (an argmax or softmax over (B, V) logits) would leave PyTorch's OpenMP threads
        spinning for a while after it, on the cores the next C step needs; its threads then wait for one
        another at every barrier. At GPT-2 size, batch 8, that cost 40% of int8 and bf16 decoding here
        (RESULTS.md #14). Without the C step the PyTorch step uses that pool itself, so it is left alone."""
        return 1 if self.native is not None else None

    def prefill(self, idx: Tensor, mask: Tensor | None, max_new_tokens: int) -> tuple[Tensor, KVCache]:
        """Prompts (B, T) left-padded (mask True = real token) -> next-token logits (B, V) and the cache."""
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} positions exceeds block_size {self.config.block_size}")
        capacity = min(self.config.block_size, T + max_new_tokens)
        cache = KVCache(self.config, B, capacity, idx.device, self.kv_dtype)
        self._bound = None
        if self.native is not None:
            with torch_threads(self.threads):
                return self._native_fill(idx, mask, cache, emit=True), cache
        logits = self.model(idx, mask=mask, cache=cache, last_only=True)  # (B, 1, V)
        return logits[:, -1], cache

    def _native_fill(self, idx: Tensor, mask: Tensor | None, cache: KVCache, emit: bool) -> Tensor | None:
        """Prompts (B, T) left-padded into an empty ``cache`` through the C step, as ``GPT.forward`` with the
        cache would (positions count real tokens; padding slots are never attended to; a row that is all
        padding sees only its last token, at position 0); returns the last position's logits (B, V) when
        ``emit``. The rows go in slot-major chunks of at most PREFILL_CHUNK tokens (the last one holding
        every row's last token), each chunk one C call that reads the weights once."""
        B, T = idx.shape
        n_pad = cache.n_pad = None if mask is None else left_padding(mask)
        cache.tokens[:, :T] = idx
        slot_grid = torch.arange(T)[:, None].expand(T, B)  # (T, B): slot-major, so a chunk only needs earlier slots
        row_grid = torch.arange(B)[None, :].expand(T, B)
        if n_pad is None:
            slots, crow = slot_grid.reshape(-1), row_grid.reshape(-1)
            pad = torch.zeros_like(slots)
        else:
            first = n_pad.clamp(max=T - 1)  # (B,): the first slot run per row (an all-padding row: its last)
            take = slot_grid >= first[None, :]
            slots, crow = slot_grid[take], row_grid[take]
            pad = n_pad[crow]
        tokens = idx[crow, slots]  # (R,)
        pos = (slots - pad).clamp(min=0)
        start = torch.minimum(pad, slots)
        R, size = slots.shape[0], max(PREFILL_CHUNK, B)
        logits = None
        for hi in range(R, 0, -size)[::-1]:  # chunks ending at R, R - size, ...; the last holds the last B rows
            lo = max(0, hi - size)
            last = emit and hi == R
            out = self.native.rows(tokens[lo:hi], pos[lo:hi], start[lo:hi], slots[lo:hi], crow[lo:hi], cache.k, cache.v,
                                   emit=torch.arange(hi - B - lo, hi - lo) if last else None)
            if last:
                logits = out
        cache.length = T
        return logits

    def _slide(self, cache: KVCache) -> None:
        """The cache is full: keep its last 3/4 of tokens and re-encode them from position 0 (GPT._slide)."""
        if self.native is None:
            self.model._slide(cache)
            return
        idx, mask = slide_window(cache)
        self._bound = None
        self._native_fill(idx, mask, cache, emit=False)

    def _bind(self, cache: KVCache) -> tuple:
        if self._bound is None or self._bound[0] is not cache or self._bound[4] is not cache.n_pad:
            keep = None
            if cache.n_pad is not None:  # left padding: slot s of row b is real when s >= n_pad[b]
                slots = torch.arange(cache.capacity, device=cache.k.device)
                keep = (slots[None, :] >= cache.n_pad[:, None])[:, None, None]  # (B, 1, 1, L)
            self._bound = (cache, cache.k.unbind(0), cache.v.unbind(0), keep, cache.n_pad)
        return self._bound

    def decode(self, token: Tensor, cache: KVCache) -> Tensor:
        """Append one token per row (B,) int64 and return the next-token logits (B, V)."""
        with torch_threads(self.threads):
            if cache.length == cache.capacity:
                self._slide(cache)  # re-encodes the last 3/4 of the window
            return self._step(token, cache)

    @property
    def fused_greedy(self) -> bool:
        """:meth:`decode_greedy` is available: the C step runs many greedy steps in one call."""
        return self.native is not None

    def decode_greedy(self, token: Tensor, cache: KVCache, n: int, eos_id: int | None = None,
                      done: Tensor | None = None) -> Tensor:
        """Up to ``n`` rounds of ``token = argmax(decode(token, cache))`` in one C call (C step only, see
        :attr:`fused_greedy`): returns the picks (s, B) int64, the same tokens as the rounds would give. s < n
        when every row is done (``done`` (B,) bool, updated in place with the rows that emitted ``eos_id``),
        when the cache fills (the next call slides it), or when the thread chooser's pick ends sooner."""
        with torch_threads(self.threads):
            if cache.length == cache.capacity:
                self._slide(cache)  # re-encodes the last 3/4 of the window
            slot, pos, start = self._native_slot(cache)
            picks = self.native.greedy(token, slot, cache.k, cache.v, min(n, cache.capacity - slot), pos, start,
                                       eos_id, done)  # (s, B)
            s = picks.shape[0]
            cache.tokens[:, slot] = token
            cache.tokens[:, slot + 1:slot + s] = picks[:-1].T  # each step's input: the previous step's pick
            cache.length = slot + s
            return picks

    @staticmethod
    def _native_slot(cache: KVCache) -> tuple[int, Tensor | None, Tensor | None]:
        """Where the C step writes next: the slot, the tokens' positions there (B,) and each row's first real
        slot (B,) (both None without left padding; positions count real tokens, as in the PyTorch step below)."""
        slot, n_pad = cache.length, cache.n_pad
        return slot, (None if n_pad is None else (slot - n_pad).clamp(min=0)), n_pad

    def _step(self, token: Tensor, cache: KVCache) -> Tensor:
        slot = cache.length
        end = slot + 1
        cache.tokens[:, slot] = token
        if self.native is not None:  # the prefill's cache, fp32 or bf16 (kv_dtype), as the C step reads it
            _, pos, start = self._native_slot(cache)
            logits = self.native(token, slot, cache.k, cache.v, pos, start)  # (B, V) fp32, on self.threads
            cache.length = end
            return logits
        _, K, V, keep, n_pad = self._bind(cache)
        B, C, nh = token.shape[0], self.C, self.nh
        same = K[0].dtype == self.dtype  # weights and cache in the same dtype: no casts around attention
        if n_pad is None:
            x = F.embedding(token, self.wte).add_(self.wpe[slot])  # (B, C)
            mask = None
        else:
            x = F.embedding(token, self.wte).add_(F.embedding((slot - n_pad).clamp_(min=0), self.wpe))  # (B, C)
            mask = keep[..., :end]  # (B, 1, 1, S)
        for l, ((g1, b1), qkv_w, o_w, (g2, b2), fc_w, pr_w) in enumerate(self.layers):
            h = F.layer_norm(x, (C,), g1, b1, self.eps)  # (B, C)
            q, k, v = qkv_w(h).view(B, 3, nh, 1, -1).unbind(1)  # 3 x (B, nh, 1, hs)
            K[l].narrow(2, slot, 1).copy_(k)  # casts to the cache dtype
            V[l].narrow(2, slot, 1).copy_(v)
            y = F.scaled_dot_product_attention(q if same else q.float(), K[l].narrow(2, 0, end),
                                               V[l].narrow(2, 0, end), attn_mask=mask)  # (B, nh, 1, hs)
            y = y.view(B, C) if same else y.view(B, C).to(self.dtype)  # T = 1: (B, nh, 1, hs) is (B, C) in memory
            x = o_w.add(y, x)  # (B, C)
            h = F.layer_norm(x, (C,), g2, b2, self.eps)
            h = F.gelu(fc_w(h)) if self.exact_gelu else fc_w.gelu(h)  # (B, 4C)
            x = pr_w.add(h, x)
        cache.length = end
        return self.head(F.layer_norm(x, (C,), *self.ln_f, self.eps))  # (B, V)

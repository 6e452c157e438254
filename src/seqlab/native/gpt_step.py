"""The GPT decode step in C (gpt_step.c): bf16, fp32 or int8 weights, fp32 activations, an fp32 or bf16 cache,
one call a step.

:class:`NativeGPTStep` packs a :class:`~seqlab.models.gpt.GPT`'s weights once into the kernel's layout and
runs one token per row through every block (rows share each read of a weight block), reading and writing
a :class:`~seqlab.models.gpt.KVCache`: in fp32, the same cache PyTorch's forward fills, so the two paths
mix freely; or in bf16 (what :class:`~seqlab.models.gpt_decode.GPTDecoder` gives the bf16 and int8 steps);
:meth:`NativeGPTStep.rows` runs many positions at once (a prompt, or the window re-encoded after a slide);
:meth:`NativeGPTStep.greedy` many greedy steps in one call (argmax in C).
:func:`native_gpt_step` returns None where the kernel cannot be built (no C compiler, SEQLAB_NATIVE=0).
"""

from __future__ import annotations

import ctypes
import math
import time
from collections import deque

import torch
import torch.nn as nn
from torch import Tensor

from .build import load


class _Linear(ctypes.Structure):
    _fields_ = [("w", ctypes.c_void_p), ("b", ctypes.c_void_p), ("wscale", ctypes.c_void_p), ("wsum", ctypes.c_void_p),
                ("out", ctypes.c_int32), ("in_", ctypes.c_int32), ("kind", ctypes.c_int32)]


KINDS = {"bf16": 0, "fp32": 1, "int8": 2}  # gpt_step.c's W_BF16, W_FP32, W_INT8


class _Layer(ctypes.Structure):
    _fields_ = [("ln1_w", ctypes.c_void_p), ("ln1_b", ctypes.c_void_p), ("ln2_w", ctypes.c_void_p),
                ("ln2_b", ctypes.c_void_p), ("qkv", _Linear), ("proj", _Linear), ("fc", _Linear),
                ("fc_proj", _Linear)]


class _Model(ctypes.Structure):
    _fields_ = [("n_layer", ctypes.c_int32), ("n_embd", ctypes.c_int32), ("n_head", ctypes.c_int32),
                ("gelu_exact", ctypes.c_int32), ("n_positions", ctypes.c_int32), ("eps", ctypes.c_float),
                ("wte", ctypes.c_void_p), ("wpe", ctypes.c_void_p), ("lnf_w", ctypes.c_void_p), ("lnf_b", ctypes.c_void_p),
                ("head", _Linear), ("layers", ctypes.POINTER(_Layer))]


BLOCK_F32, BLOCK = 32, 64  # output rows per packed block: fp32, bf16 and int8 (SL_BLOCK, SL_BLOCK_64 in gpt_step.c)


def pack_bf16(weight: Tensor) -> Tensor:
    """W (out, in) -> bf16 (ceil(out/64), ceil(in/2), 64, 2): for each block of 64 output rows, input pairs
    in order, each pair holding the two inputs' weights of all 64 rows (zero padded); see gpt_step.c."""
    out, n_in = weight.shape
    w = torch.zeros(math.ceil(out / BLOCK) * BLOCK, math.ceil(n_in / 2) * 2, dtype=torch.bfloat16)
    w[:out, :n_in] = weight.detach().to(torch.bfloat16)
    return w.view(-1, BLOCK, w.shape[1] // 2, 2).permute(0, 2, 1, 3).contiguous()


def pack_f32(weight: Tensor) -> Tensor:
    """W (out, in) -> fp32 (ceil(out/32), in, 32): for each block of 32 output rows, the inputs in order,
    each holding that input's weights of all 32 rows (zero padded). (PyTorch's own (out, in) layout read in
    place would save this copy; a dot-product kernel on it was 0.6-0.7x as fast at batch 8: RESULTS.md #14.)"""
    out, n_in = weight.shape
    w = torch.zeros(math.ceil(out / BLOCK_F32) * BLOCK_F32, n_in, dtype=torch.float32)
    w[:out] = weight.detach().float()
    return w.view(-1, BLOCK_F32, n_in).transpose(1, 2).contiguous()


def quantize_rows(weight: Tensor) -> tuple[Tensor, Tensor]:
    """W (out, in) -> (W_q int8 (out, in), scale fp32 (out,)): one symmetric scale per output row,
    W ~ scale[:, None] W_q with W_q in [-127, 127]."""
    w = weight.detach().float()
    scale = w.abs().amax(1).clamp(min=1e-8) / 127.0
    return (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8).contiguous(), scale.contiguous()


def pack_int8(weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """W (out, in) -> (int8 (ceil(out/64), ceil(in/4), 64, 4), scale fp32 (out,), wsum int32 (out,)): W_q and
    scale of :func:`quantize_rows`, laid out for each block of 64 output rows as the inputs in groups of four,
    each group holding those inputs' W_q of all 64 rows (zero padded); wsum[o] = sum_i W_q[o, i] (the
    kernel's correction for its uint8 inputs' offset of 128)."""
    out, n_in = weight.shape
    w_q, scale = quantize_rows(weight)
    p = torch.zeros(math.ceil(out / BLOCK) * BLOCK, math.ceil(n_in / 4) * 4, dtype=torch.int8)
    p[:out, :n_in] = w_q
    packed = p.view(-1, BLOCK, p.shape[1] // 4, 4).permute(0, 2, 1, 3).contiguous()
    return packed, scale, w_q.sum(1, dtype=torch.int32).contiguous()


def _library(portable: bool):
    lib = load("gpt_step", ("SEQLAB_PORTABLE",) if portable else ())
    if lib is not None and not hasattr(lib, "_seqlab_typed"):
        lib.seqlab_gpt_step.argtypes = [ctypes.POINTER(_Model), ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_int32]
        lib.seqlab_gpt_step.restype = ctypes.c_int32
        lib.seqlab_gpt_rows.argtypes = [ctypes.POINTER(_Model), ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32,
                                        ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32,
                                        ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_int32]
        lib.seqlab_gpt_rows.restype = ctypes.c_int32
        lib.seqlab_gpt_greedy.argtypes = [ctypes.POINTER(_Model), ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p,
                                          ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, ctypes.c_int64,
                                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_int32, ctypes.c_void_p]
        lib.seqlab_gpt_greedy.restype = ctypes.c_int32
        lib.seqlab_gpt_scratch_floats.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
        lib.seqlab_gpt_scratch_floats.restype = ctypes.c_int64
        lib.seqlab_has_dpbf16.restype = ctypes.c_int
        lib.seqlab_has_vnni.restype = ctypes.c_int
        lib._seqlab_typed = True
    return lib


class ThreadChooser:
    """Per step, ``n`` threads or one, whichever is faster here and now.

    Threads meet about 30 times a step; on a machine busier than its cores a peer is often descheduled
    and every meeting waits for it, so one thread can then be several times faster than two. The chooser
    runs the current count, and every so often probes the other for ``probe`` steps; it switches when the
    other's fastest probe step beats the current count's fastest of its last ``probe`` steps by ``margin``
    (fastest, not mean: a step that lost the CPU says little; the margin keeps a few percent of timer noise
    from flipping the count back and forth, which cost 5-10% on an idle machine: RESULTS.md #14). After a
    probe that lost, the next comes twice as late (up to 32 x ``explore`` steps), since probing a bad
    count costs time. The thread count never changes the results (see gpt_step.c), only the speed."""

    def __init__(self, n: int, explore: int = 32, probe: int = 3, margin: float = 0.85):
        self.n, self.explore, self.probe, self.margin = n, explore, probe, margin
        self.best, self.other = n, 1
        self.recent: deque[float] = deque(maxlen=probe)  # the current count's latest step times
        self.probed: list[float] = []
        self.interval, self.countdown, self.probing = explore, probe, 0  # the first probe comes at once

    def pick(self) -> int:
        if self.n <= 1:
            return 1
        return self.other if self.probing else self.best

    def horizon(self) -> int:
        """How many more steps the current pick holds for: the probe's remaining steps, or those before the
        next probe (what a call running many steps at one count may run)."""
        if self.n <= 1:
            return 1 << 30
        return self.probing if self.probing else max(1, self.countdown)

    def record(self, count: int, seconds: float) -> None:
        if self.n <= 1:
            return
        if self.probing:
            self.probed.append(seconds)
            self.probing -= 1
            if self.probing == 0:
                if min(self.probed) < self.margin * min(self.recent):
                    self.best, self.other = self.other, self.best
                    self.recent = deque(self.probed, maxlen=self.probe)
                    self.interval = self.explore
                else:
                    self.interval = min(2 * self.interval, 32 * self.explore)
                self.countdown = self.interval
            return
        self.recent.append(seconds)
        self.countdown -= 1
        if self.countdown <= 0 and len(self.recent) == self.probe:
            self.probing, self.probed = self.probe, []


class NativeGPTStep:
    """One decode step of ``model`` (a GPT in eval mode) in C, its matrices' weights in ``weights`` (bf16 |
    fp32 | int8: one scale per output row, the inputs quantized per row to int8 at each product; the other
    parameters are read as fp32), on ``threads`` CPU threads (None: PyTorch's setting, or one
    thread while that is faster: :class:`ThreadChooser`). The work is split so that each output is summed
    by one thread in a fixed order: the logits are the same bits for any thread count. ``uses_dpbf16`` says whether the bf16 products run on AVX512-BF16
    instructions or in the portable loop; ``uses_vnni`` the same for the int8 products and AVX512-VNNI."""

    def __init__(self, model: nn.Module, lib, weights: str = "bf16", threads: int | None = None):
        if weights not in KINDS:
            raise ValueError(f"weights must be one of {tuple(KINDS)}; got {weights!r}")
        cfg = model.config
        self.lib = lib
        self.weights = weights
        self.threads = threads
        self._chooser: ThreadChooser | None = None
        self.uses_dpbf16 = bool(lib.seqlab_has_dpbf16()) and weights == "bf16"
        self.uses_vnni = bool(lib.seqlab_has_vnni()) and weights == "int8"
        self.config = cfg
        self._keep: list[Tensor] = []  # every tensor the C structs point into

        def f32(t: Tensor | None) -> int | None:
            if t is None:
                return None
            t = t.detach().float().contiguous()
            self._keep.append(t)
            return t.data_ptr()

        def lin(m: nn.Linear) -> _Linear:
            scale = wsum = None
            if weights == "int8":
                w, scale, wsum = pack_int8(m.weight)
                self._keep += [scale, wsum]
            else:
                w = pack_bf16(m.weight) if weights == "bf16" else pack_f32(m.weight)
            self._keep.append(w)
            return _Linear(w.data_ptr(), f32(m.bias), scale.data_ptr() if scale is not None else None,
                           wsum.data_ptr() if wsum is not None else None, m.weight.shape[0], m.weight.shape[1],
                           KINDS[weights])

        layers = (_Layer * cfg.n_layer)()
        for l, blk in enumerate(model.h):
            layers[l] = _Layer(f32(blk.ln_1.weight), f32(blk.ln_1.bias), f32(blk.ln_2.weight), f32(blk.ln_2.bias),
                               lin(blk.attn.c_attn), lin(blk.attn.c_proj), lin(blk.mlp.c_fc), lin(blk.mlp.c_proj))
        self._layers = layers
        self.model = _Model(cfg.n_layer, cfg.n_embd, cfg.n_head, int(cfg.activation == "gelu"),
                            model.wpe.weight.shape[0], cfg.layer_norm_eps,
                            f32(model.wte.weight), f32(model.wpe.weight), f32(model.ln_f.weight), f32(model.ln_f.bias),
                            lin(model.lm_head), layers)
        self._scratch: Tensor | None = None

    def __call__(self, tokens: Tensor, slot: int, k: Tensor, v: Tensor, pos: Tensor | None = None,
                 start: Tensor | None = None) -> Tensor:
        """Run ``tokens`` (B,) into cache slot ``slot`` of ``k``/``v`` (n_layer, B, nh, L, hs) contiguous, both
        fp32 or both bf16 (:func:`check_cache`; written in place) and return the next-token logits (B, V)
        fp32. ``pos`` (B,): the tokens' positions (default: ``slot``); ``start`` (B,): the first slot each
        row attends to (default 0; > 0 skips a row's left padding)."""
        B, L = tokens.shape[0], k.shape[3]
        kv_bf16, tokens, pos, start, n = self._prepare(tokens, slot, k, v, pos, start)
        logits = torch.empty(B, self.config.vocab_size, dtype=torch.float32)
        t = time.perf_counter()
        used = self.lib.seqlab_gpt_step(ctypes.byref(self.model), B, tokens.data_ptr(), pos.data_ptr(),
                                        start.data_ptr(), slot, L, k.data_ptr(), v.data_ptr(), kv_bf16,
                                        logits.data_ptr(), self._scratch.data_ptr(), n)
        if self.threads is None and used > 0:
            self._chooser.record(n, time.perf_counter() - t)
        if used < 0:
            raise ValueError(f"out of range: tokens {tokens.tolist()} (vocabulary {self.config.vocab_size}), "
                             f"positions {pos.tolist()} (< {self.model.n_positions}), slot {slot} (< {L}), "
                             f"start {start.tolist()} (<= slot)")
        return logits

    def greedy(self, tokens: Tensor, slot: int, k: Tensor, v: Tensor, n: int, pos: Tensor | None = None,
               start: Tensor | None = None, eos: int | None = None, done: Tensor | None = None) -> Tensor:
        """Up to ``n`` greedy steps in one C call, no Python between them: the first feeds ``tokens`` (B,) into
        cache slot ``slot`` (``pos``, ``start`` as :meth:`__call__`), each next one the previous step's argmax
        (numpy's: the first of the largest logits, a NaN first). Returns the picks (s, B) int64, the same as
        ``s`` rounds of ``tokens = argmax(self(tokens, slot + i, ...))``; s < n when every row is done
        (``done`` (B,) bool: rows already finished, updated in place with those that emitted ``eos``) or, with
        the thread chooser on, when its pick of a thread count ends sooner."""
        B, L = tokens.shape[0], k.shape[3]
        kv_bf16, tokens, pos, start, threads = self._prepare(tokens, slot, k, v, pos, start)
        if self.threads is None:
            n = min(n, self._chooser.horizon())
        done_i = torch.zeros(B, dtype=torch.int32) if done is None else done.to(torch.int32).contiguous()
        out = torch.empty(n, B, dtype=torch.int64)
        seconds = torch.empty(n, dtype=torch.float64)
        logits = torch.empty(B, self.config.vocab_size, dtype=torch.float32)
        steps = self.lib.seqlab_gpt_greedy(ctypes.byref(self.model), B, tokens.data_ptr(), pos.data_ptr(),
                                           start.data_ptr(), slot, L, k.data_ptr(), v.data_ptr(), kv_bf16, n,
                                           -1 if eos is None else eos, done_i.data_ptr(), out.data_ptr(),
                                           logits.data_ptr(), self._scratch.data_ptr(), threads, seconds.data_ptr())
        if steps == -2:
            raise MemoryError("seqlab_gpt_greedy: out of memory")
        if steps < 0:
            raise ValueError(f"out of range: tokens {tokens.tolist()} (vocabulary {self.config.vocab_size}), "
                             f"positions {pos.tolist()} + {n} steps (< {self.model.n_positions}), slots {slot} + "
                             f"{n} (<= {L}), start {start.tolist()} (<= slot)")
        if self.threads is None:
            for t in seconds[:steps].tolist():
                self._chooser.record(threads, t)
        if done is not None:
            done.copy_(done_i.bool())
        return out[:steps]

    def _prepare(self, tokens: Tensor, slot: int, k: Tensor, v: Tensor, pos: Tensor | None,
                 start: Tensor | None) -> tuple[int, Tensor, Tensor, Tensor, int]:
        """A decode call's checked cache (1 = bf16), its int64 tokens and int32 positions and starts (defaults
        filled in), and the thread count to run (the chooser's pick unless fixed); the scratch sized for it."""
        B, L = tokens.shape[0], k.shape[3]
        kv_bf16 = check_cache(k, v, B)
        tokens = tokens.to(torch.int64).contiguous()
        pos = torch.full((B,), slot, dtype=torch.int32) if pos is None else pos.to(torch.int32).contiguous()
        start = torch.zeros(B, dtype=torch.int32) if start is None else start.to(torch.int32).contiguous()
        if self.threads is None and (self._chooser is None or self._chooser.n != torch.get_num_threads()):
            self._chooser = ThreadChooser(torch.get_num_threads())
        n = self.threads if self.threads is not None else self._chooser.pick()
        self._scratch_for(B, L, n)
        return kv_bf16, tokens, pos, start, n

    def _scratch_for(self, rows: int, L: int, n: int) -> Tensor:
        size = self.lib.seqlab_gpt_scratch_floats(rows, self.config.n_embd, L, n)
        if self._scratch is None or self._scratch.numel() < size:
            self._scratch = torch.empty(size, dtype=torch.float32)
        return self._scratch

    def rows(self, tokens: Tensor, pos: Tensor, start: Tensor, slots: Tensor, crow: Tensor, k: Tensor, v: Tensor,
             emit: Tensor | None = None) -> Tensor:
        """Run R tokens anywhere in the cache at once (a prompt's prefill): token ``tokens[r]`` at position
        ``pos[r]`` goes into slot ``slots[r]`` of cache row ``crow[r]`` of ``k``/``v`` (n_layer, Bc, nh, L, hs)
        (:func:`check_cache`), written in place, and attends to that row's slots ``start[r] .. slots[r]``, each
        filled before or by this call (all R rows' keys and values are written before any row attends,
        layer by layer). Returns the logits (E, V) fp32 of the rows ``emit`` (E,) (default: none, (0, V)).
        All index tensors are (R,). Uses every thread of :attr:`threads` (or PyTorch's setting): many rows
        share each read of the weights."""
        R, Bc, L = tokens.shape[0], k.shape[1], k.shape[3]
        kv_bf16 = check_cache(k, v)
        i32 = [t.to(torch.int32).contiguous() for t in (pos, start, slots, crow)]
        emit = torch.zeros(0, dtype=torch.int32) if emit is None else emit.to(torch.int32).contiguous()
        tokens = tokens.to(torch.int64).contiguous()
        n = self.threads if self.threads is not None else torch.get_num_threads()
        scratch = self._scratch_for(R, L, n)
        logits = torch.empty(emit.shape[0], self.config.vocab_size, dtype=torch.float32)
        used = self.lib.seqlab_gpt_rows(ctypes.byref(self.model), R, tokens.data_ptr(), *(t.data_ptr() for t in i32[:4]),
                                        Bc, L, k.data_ptr(), v.data_ptr(), kv_bf16, emit.data_ptr(), emit.shape[0],
                                        logits.data_ptr(), scratch.data_ptr(), n)
        if used < 0:
            raise ValueError(f"out of range: {R} rows of tokens < {self.config.vocab_size}, positions < "
                             f"{self.model.n_positions}, slots < {L}, start <= slot, cache rows < {Bc}, "
                             f"emitted rows < {R}")
        return logits


def check_cache(k: Tensor, v: Tensor, rows: int | None = None) -> int:
    """The C step's cache: ``k`` and ``v`` contiguous, the same shape (n_layer, B, nh, L, hs), both fp32 or both
    bf16 (read back into fp32: each key and value rounded once, when written), B = ``rows`` if given.
    Returns 1 for bf16, else 0; ValueError otherwise."""
    if (k.dtype not in (torch.float32, torch.bfloat16) or v.dtype != k.dtype or k.shape != v.shape or k.dim() != 5
            or not (k.is_contiguous() and v.is_contiguous()) or (rows is not None and k.shape[1] != rows)):
        raise ValueError(f"expected contiguous fp32 or bf16 caches of one shape (n_layer, {rows or 'B'}, nh, L, hs); "
                         f"got k {k.dtype} {tuple(k.shape)}, v {v.dtype} {tuple(v.shape)}")
    return int(k.dtype == torch.bfloat16)


def fits(config, weights: str) -> bool:
    """The C step can run this GPT config with these weights (int8: n_embd >= 4, its per-row int8 inputs fit
    the kernel's scratch); whether it can be compiled here is :func:`native_gpt_step`'s to find out."""
    return weights != "int8" or config.n_embd >= 4


def native_gpt_step(model: nn.Module, weights: str = "bf16", threads: int | None = None,
                    portable: bool = False) -> NativeGPTStep | None:
    """A :class:`NativeGPTStep` for ``model`` with ``weights`` bf16 | fp32 | int8 on ``threads`` threads, or
    None where the kernel cannot be built here (or, for int8, the model is narrower than 4: the kernel's
    per-row int8 inputs must fit its scratch). ``portable``: the plain-C loops even where AVX512-BF16 or
    AVX512-VNNI is present (for tests)."""
    if not fits(model.config, weights):
        return None
    lib = _library(portable)
    return NativeGPTStep(model, lib, weights, threads) if lib is not None else None

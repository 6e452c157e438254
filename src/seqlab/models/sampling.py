"""Autoregressive generation: logit processors and one decoding loop for every language model.

A model takes part by providing the small cache protocol (GPT keeps keys/values, the recurrent LMs keep
their hidden state)::

    model.prefill(idx (B, T) int64, mask (B, T) bool | None, max_new_tokens) -> (logits (B, V), state)
    model.decode(token (B,) int64, state) -> logits (B, V)      # appends one token, advances state
    model.context_size -> int | None                             # longest prompt it can read; None = any

and, optionally, many greedy rounds in one call (``GPTDecoder`` on the C step; used for plain greedy decoding)::

    model.fused_greedy -> bool
    model.decode_greedy(token (B,), state, n, eos_id, done (B,) bool) -> picks (s <= n, B) int64

Prompts of different lengths are left-padded and the mask (``True`` = real token) tells the model which
slots are padding. Each step costs one position: the prefix is never recomputed.

Generating one token at batch size 1 multiplies vectors by every weight matrix once, so its speed is
set by how fast the weights stream from memory. :func:`prepare_for_generation` makes a copy of the
model for decoding in ``fp32``, ``bf16`` (half the bytes; on CPUs with AVX512-BF16 usually faster) or
``int8`` (weight-only int8 with one scale per output row, bf16 activations: a quarter of the bytes;
logits move by ~1e-2, so greedy text can differ from fp32 at near-ties). ``auto`` times fp32 and bf16
on the model and keeps the faster.

The processors run in this order, as in Hugging Face's ``generate``: repetition penalty, temperature,
top-k, top-p; then either argmax (``greedy``) or a draw from ``softmax(logits)`` with a seeded generator.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn as nn
from torch import Tensor

from ..errors import UserError
from .candidates import filter_candidates
from .gpt import GPT
from .gpt_decode import GPTDecoder, has_int8_kernel, quantize_int8, torch_threads

logger = logging.getLogger(__name__)

FUSED_FIRST, FUSED_MAX, FUSED_SECONDS = 4, 64, 0.03  # greedy steps per C call: the first, at most, about how long


@dataclass
class GenerationConfig:
    max_new_tokens: int = 200  # tokens to generate after the prompt (per sample)
    greedy: bool = False  # take the most likely token (argmax) instead of sampling
    temperature: float = 1.0  # divide logits by this before sampling: < 1 sharper, > 1 flatter; must be > 0
    top_k: int = 0  # sample only among the k most likely tokens; 0 = no limit
    top_p: float = 1.0  # nucleus: the smallest set of tokens whose probability reaches top_p; in (0, 1]
    repetition_penalty: float = 1.0  # > 1 discourages tokens already in the prompt or output (CTRL, HF)
    num_samples: int = 1  # independent samples per prompt
    seed: int | None = None  # seed of the sampling generator; the same seed gives the same samples

    def __post_init__(self):
        if self.max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be >= 0; got {self.max_new_tokens}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0; got {self.temperature} (use greedy decoding for argmax)")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off); got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1]; got {self.top_p}")
        if not self.repetition_penalty > 0:
            raise ValueError(f"repetition_penalty must be > 0 (1 = off); got {self.repetition_penalty}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1; got {self.num_samples}")


# ---- logit processors: (B, V) float logits in, (B, V) out; filtered tokens get -inf ------------------------


def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """For tokens already seen (``seen`` (B, V) bool): l / penalty if l > 0 else l * penalty."""
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)


def apply_top_k(logits: Tensor, k: int) -> Tensor:
    """Keep the k largest logits of each row (ties with the k-th are kept too); the rest become -inf."""
    if k <= 0 or k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]  # (B, 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def apply_top_p(logits: Tensor, p: float) -> Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probabilities sum to >= p.

    Sorted descending, token i is kept when the mass before it, sum_{j<i} p_j, is still below p, so the
    most likely token always survives.
    """
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = probs.cumsum(-1) - probs  # (B, V)
    drop_sorted = mass_before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def scale_logits(logits: Tensor, cfg: GenerationConfig, seen: Tensor | None) -> Tensor:
    """(B, V) logits -> float32, with the repetition penalty and (when sampling) the temperature applied."""
    logits = logits.float()
    if cfg.repetition_penalty != 1.0 and seen is not None:
        logits = apply_repetition_penalty(logits, seen, cfg.repetition_penalty)
    if not cfg.greedy and cfg.temperature != 1.0:
        logits = logits / cfg.temperature
    return logits


def process_logits(logits: Tensor, cfg: GenerationConfig, seen: Tensor | None) -> Tensor:
    """Apply the configured processors to (B, V) logits (float32 on return)."""
    logits = scale_logits(logits, cfg, seen)
    if cfg.greedy:
        return logits
    return apply_top_p(apply_top_k(logits, cfg.top_k), cfg.top_p)


def next_tokens(logits: Tensor, cfg: GenerationConfig, seen: Tensor | None,
                generator: torch.Generator | None) -> Tensor:
    """(B, V) logits -> (B,) int64 next tokens: :func:`process_logits` then :func:`pick_next`, except that
    top-k and top-p sampling filter and draw among the largest few logits when those decide
    (:mod:`seqlab.models.candidates`: the same distribution, ~1 ms instead of 4-20 ms at (8, 50,257))."""
    logits = scale_logits(logits, cfg, seen)
    if not cfg.greedy:
        found = filter_candidates(logits, cfg.top_k, cfg.top_p)
        if found is not None:
            vals, idx = found  # (B, m) each
            return idx.gather(-1, sample_rows(torch.softmax(vals, dim=-1), generator)[:, None]).squeeze(1)
        logits = apply_top_p(apply_top_k(logits, cfg.top_k), cfg.top_p)
    return pick_next(logits, cfg, generator)


def pick_next(logits: Tensor, cfg: GenerationConfig, generator: torch.Generator | None) -> Tensor:
    """(B, V) processed logits -> (B,) int64 next tokens: argmax, or one draw from softmax(logits)."""
    if cfg.greedy:
        if logits.device.type == "cpu" and logits.dtype in (torch.float32, torch.float64):
            # numpy's argmax: one thread, 0.03 vs 0.37 ms at (8, 50257) (benchmarks/pick_speed.py); same ties, NaN
            return torch.from_numpy(logits.detach().contiguous().numpy().argmax(-1))
        return logits.argmax(-1)
    return sample_rows(torch.softmax(logits, dim=-1), generator)


def sample_rows(probs: Tensor, generator: torch.Generator | None) -> Tensor:
    """(B, V) probabilities (rows summing to ~1, zeros allowed) -> (B,) int64: one draw per row, by inverse CDF.

    The distribution of ``torch.multinomial(probs, 1)``, which on the CPU draws an exponential variate for every
    vocabulary entry (10 ms at (8, 50,257) on one thread here, as long as the C decode step at GPT-2 size); this
    draws one uniform per row (0.5 ms; benchmarks/pick_speed.py). A zero-probability entry adds nothing to the
    running sum, so the first entry whose sum passes the draw is never one."""
    cdf = probs.cumsum(-1, dtype=torch.promote_types(probs.dtype, torch.float32))  # (B, V), non-decreasing
    if not bool(torch.isfinite(cdf[:, -1]).all()):
        raise UserError("cannot sample: the next-token probabilities are not finite (the model's logits hold NaN or "
                         "inf); check the run (its training loss) or decode greedily")
    u = torch.rand(probs.size(0), 1, generator=generator, device=probs.device, dtype=cdf.dtype) * cdf[:, -1:]
    idx = torch.searchsorted(cdf, u, right=True).squeeze(1)  # (B,)
    over = idx >= probs.size(-1)  # u rounded up to the total (rare): the likeliest token
    return torch.where(over, probs.argmax(-1), idx) if bool(over.any()) else idx


# ---- the decoding loop ---------------------------------------------------------------------------------


def left_pad(prompts: list[list[int]], pad_id: int, device=None) -> tuple[Tensor, Tensor | None]:
    """Token lists -> (B, T) int64 ids left-padded with pad_id, and a (B, T) bool mask (True = real token),
    or None when all prompts have the same length."""
    T = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), T), pad_id, dtype=torch.long)
    mask = torch.zeros(len(prompts), T, dtype=torch.bool)
    for b, p in enumerate(prompts):
        if p:
            ids[b, T - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[b, T - len(p):] = True
    if bool(mask.all()):
        mask = None
    return ids.to(device), (mask.to(device) if mask is not None else None)


def generate_stream(model, prompts: list[list[int]], cfg: GenerationConfig, *, pad_id: int = 0,
                    eos_id: int | None = None,
                    stop: Callable[[int, list[int]], bool] | None = None) -> Iterator[tuple[list[int], Tensor]]:
    """Generate token by token, yielding ``(rows, tokens)`` after each step. (Plain greedy decoding on a model
    with ``fused_greedy`` computes up to ~``FUSED_SECONDS`` of steps in one call and yields them one by one:
    the same tokens, arriving in bursts.)

    Args:
        model: anything with ``prefill``/``decode``/``context_size`` (see the module docstring).
        prompts: one list of token ids per prompt; each must hold at least one token.
        cfg: the decoding settings; each prompt is repeated ``cfg.num_samples`` times, row
            ``i * num_samples + j`` being sample j of prompt i.
        pad_id: the id written into left padding (never attended to).
        eos_id: a row stops after emitting this token (it is included in that row's output).
        stop: ``stop(row, generated_ids) -> bool``, asked after each token; True ends that row
            (used for stop text, which needs the tokenizer).

    Yields:
        ``rows`` the indices of rows still running before this step, and ``tokens`` (len(rows),) int64,
        the token each of them just emitted.
    """
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    ctx = model.context_size
    if ctx is not None and max(len(p) for p in prompts) > ctx:
        logger.warning("prompt of %d tokens is longer than the context of %d; keeping its last %d tokens",
                       max(len(p) for p in prompts), ctx, ctx)
        prompts = [p[-ctx:] for p in prompts]
    prompts = [p for p in prompts for _ in range(cfg.num_samples)]
    device = next(model.parameters()).device
    generator = None
    if not cfg.greedy:
        generator = torch.Generator(device=device)
        if cfg.seed is not None:
            generator.manual_seed(cfg.seed)
        else:
            generator.seed()  # a fresh random seed, without touching the global RNG
    B = len(prompts)
    ids, mask = left_pad(prompts, pad_id, device)
    seen = None
    if cfg.repetition_penalty != 1.0:
        vocab = model.config.vocab_size
        seen = torch.zeros(B, vocab, dtype=torch.bool, device=device)  # (B, V): in the prompt or output
        for b, p in enumerate(prompts):
            seen[b, torch.tensor(p, device=device)] = True
    if cfg.max_new_tokens == 0:
        return
    running = list(range(B))
    generated: list[list[int]] = [[] for _ in range(B)]
    # GPTDecoder: 1 beside its C step's own threads. A plain greedy pick needs no setting: numpy's argmax is serial
    host_threads = None if cfg.greedy and seen is None else getattr(model, "host_threads", None)
    # plain greedy on the C step: many steps per call, each picking its argmax in C (the same tokens)
    fused = cfg.greedy and seen is None and getattr(model, "fused_greedy", False)
    picked: list[Tensor] = []  # tokens the fused steps picked ahead, in order
    chunk, finished = FUSED_FIRST, None
    with torch.inference_mode():
        logits, state = model.prefill(ids, mask, cfg.max_new_tokens)  # (B, V)
        for step in range(cfg.max_new_tokens):
            if picked:
                tok = picked.pop()
            else:
                with torch_threads(host_threads):
                    tok = next_tokens(logits, cfg, seen, generator)  # (B,)
            if seen is not None:
                seen[torch.arange(B, device=device), tok] = True
            tok_list = tok.tolist()
            out_rows = running
            out_tok = tok[torch.tensor(running, device=device)] if len(running) < B else tok
            still = []
            for b in running:
                generated[b].append(tok_list[b])
                done = (eos_id is not None and tok_list[b] == eos_id) or (stop is not None and stop(b, generated[b]))
                if not done:
                    still.append(b)
            yield out_rows, out_tok
            running = still
            if not running or step == cfg.max_new_tokens - 1:
                break
            # finished rows keep stepping (batch shape is fixed) but their tokens are ignored
            if not fused:
                logits = model.decode(tok, state)
            elif not picked:
                if finished is None:
                    finished = torch.ones(B, dtype=torch.bool)
                finished.fill_(True)
                finished[running] = False
                t = time.perf_counter()
                ahead = model.decode_greedy(tok, state, min(chunk, cfg.max_new_tokens - 1 - step), eos_id,
                                           finished)
                picked = list(ahead.unbind(0))[::-1]  # popped from the end: in order
                # next chunk: about FUSED_SECONDS of steps (tokens arrive in bursts that long when streamed; a
                # stop() that ends every row mid-chunk wastes at most that)
                per_step = (time.perf_counter() - t) / len(picked)
                chunk = max(1, min(FUSED_MAX, int(FUSED_SECONDS / max(per_step, 1e-6))))


def generate(model, prompts: list[list[int]], cfg: GenerationConfig, *, pad_id: int = 0,
             eos_id: int | None = None, stop: Callable[[int, list[int]], bool] | None = None) -> list[list[int]]:
    """Generate continuations; returns the new token ids of each row (prompt excluded), rows ordered as in
    :func:`generate_stream` (prompt-major, ``num_samples`` rows per prompt)."""
    out: list[list[int]] = [[] for _ in range(len(prompts) * cfg.num_samples)]
    for rows, toks in generate_stream(model, prompts, cfg, pad_id=pad_id, eos_id=eos_id, stop=stop):
        for b, t in zip(rows, toks.tolist()):
            out[b].append(t)
    return out


# ---- decoding precision ----------------------------------------------------------------------------------

GEN_PRECISIONS = ("auto", "fp32", "bf16", "int8")


class Int8Linear(nn.Module):
    """Weight-only int8 Linear: W ≈ scale[:, None] * W_q with W_q int8 (out, in), scale (out,); y = x W^T + b.

    Activations are bf16; the product runs in ``torch._weight_int8pack_mm`` (PyTorch's CPU kernel for
    weight-only quantized decoding)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight_q, scale = quantize_int8(linear.weight)
        self.register_buffer("weight_q", weight_q)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", linear.bias.detach().to(torch.bfloat16) if linear.bias is not None else None)

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        y = torch._weight_int8pack_mm(x.reshape(-1, shape[-1]).to(torch.bfloat16), self.weight_q, self.scale)
        if self.bias is not None:
            y = y + self.bias
        return y.view(*shape[:-1], -1)


def _swap_linears(module: nn.Module, make, skip: set[int]) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Linear) and id(child.weight) not in skip:
            setattr(module, name, make(child))
        else:
            _swap_linears(child, make, skip)


def prepare_for_generation(model: nn.Module, precision: str = "auto",
                           threads: int | None = None) -> tuple[nn.Module, str]:
    """An eval-mode copy of ``model`` for decoding in ``precision`` (an eval-mode fp32 GPT is used as it is,
    not copied); returns it and the precision used.

    A :class:`~seqlab.models.gpt.GPT` on the CPU becomes a :class:`~seqlab.models.gpt_decode.GPTDecoder`
    (weights bound once, a flat one-token step with the fastest CPU kernel per precision); ``threads`` is
    the number of CPU threads its one-token step uses (None = PyTorch's setting). ``auto``: fp32 on
    anything but a CPU transformer; there, one prefill plus a few decode steps are timed in fp32 and
    bf16 and the faster is kept (bf16 must win by 10%). ``int8`` falls back to bf16 off the CPU, or
    where neither seqlab's C step nor PyTorch's int8 kernel is available. Recurrent models stay fp32 under ``auto``.
    """
    if precision not in GEN_PRECISIONS:
        raise ValueError(f"precision must be one of {GEN_PRECISIONS}; got {precision!r}")
    device = next(model.parameters()).device
    fast = device.type == "cpu" and isinstance(model, GPT)
    if precision == "auto":
        if device.type != "cpu" or model.context_size is None:
            return model.eval(), "fp32"
        # one candidate alive at a time: each holds its own packed weights (fp32: as large as the model), so
        # timing both side by side would hold three copies of the weights at once
        fp32, _ = prepare_for_generation(model, "fp32", threads)
        t32 = min(_time_decode(fp32), _time_decode(fp32))
        del fp32
        bf16, _ = prepare_for_generation(model, "bf16", threads)
        t16 = min(_time_decode(bf16), _time_decode(bf16))
        logger.info("generation precision auto: fp32 %.2f ms/token, bf16 %.2f ms/token", t32 * 1e3, t16 * 1e3)
        if t16 < 0.9 * t32:
            return bf16, "bf16"
        del bf16
        return prepare_for_generation(model, "fp32", threads)
    if fast and _native_available(model, precision):
        # the C step packs its own weights from the model's and runs the prompt too: the model is read,
        # never copied or changed (no bf16 copy beside the packed one: 250 MB at GPT-2 size)
        return GPTDecoder(model, precision, threads), precision
    if precision == "fp32":
        if not fast:
            return model.eval(), "fp32"
        # an eval-mode fp32 model is used as it is (the decoder never changes it)
        ready = not model.training and all(p.dtype == torch.float32 for p in model.parameters())
        return GPTDecoder(model if ready else copy.deepcopy(model).eval().float(), "fp32", threads), "fp32"
    m = copy.deepcopy(model).eval().to(torch.bfloat16)
    if precision == "int8" and (device.type != "cpu" or not (has_int8_kernel() or (fast and _native_available()))):
        logger.warning("int8 decoding needs the CPU: seqlab's C step or PyTorch's kernel _weight_int8pack_mm; using bf16")
        precision = "bf16"
    if fast:
        return GPTDecoder(m, precision, threads), precision
    if precision == "int8":
        _swap_linears(m, Int8Linear, set())  # the tied output layer too: it gets its own int8 copy
    return m, precision


def _native_available(model: nn.Module | None = None, precision: str = "fp32") -> bool:
    """seqlab's C step can be built here (and, given a GPT, runs it in ``precision``: int8 needs n_embd >= 4)."""
    from ..native.build import load
    from ..native.gpt_step import fits

    return (model is None or fits(model.config, precision)) and load("gpt_step") is not None


@torch.inference_mode()
def _time_decode(model, steps: int = 6) -> float:
    device = next(model.parameters()).device
    idx = torch.zeros(1, 8, dtype=torch.long, device=device)
    logits, state = model.prefill(idx, None, steps + 1)
    greedy = GenerationConfig(greedy=True)
    t = time.perf_counter()
    for _ in range(steps):  # as generate_stream's greedy steps: the pick stays off PyTorch's thread pool
        logits = model.decode(pick_next(logits, greedy, None), state)
    return (time.perf_counter() - t) / steps

"""Autoregressive generation: logit processors and one decoding loop for every language model.

A model takes part by providing the small cache protocol (GPT keeps keys/values, the recurrent LMs keep
their hidden state)::

    model.prefill(idx (B, T) int64, mask (B, T) bool | None, max_new_tokens) -> (logits (B, V), state)
    model.decode(token (B,) int64, state) -> logits (B, V)      # appends one token, advances state
    model.context_size -> int | None                             # longest prompt it can read; None = any

Prompts of different lengths are left-padded and the mask (``True`` = real token) tells the model which
slots are padding. Each step costs one position: the prefix is never recomputed.

The processors run in this order, as in Hugging Face's ``generate``: repetition penalty, temperature,
top-k, top-p; then either argmax (``greedy``) or a draw from ``softmax(logits)`` with a seeded generator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
from torch import Tensor

logger = logging.getLogger(__name__)


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


def process_logits(logits: Tensor, cfg: GenerationConfig, seen: Tensor | None) -> Tensor:
    """Apply the configured processors to (B, V) logits (float32 on return)."""
    logits = logits.float()
    if cfg.repetition_penalty != 1.0 and seen is not None:
        logits = apply_repetition_penalty(logits, seen, cfg.repetition_penalty)
    if cfg.greedy:
        return logits
    if cfg.temperature != 1.0:
        logits = logits / cfg.temperature
    logits = apply_top_k(logits, cfg.top_k)
    return apply_top_p(logits, cfg.top_p)


def pick_next(logits: Tensor, cfg: GenerationConfig, generator: torch.Generator | None) -> Tensor:
    """(B, V) processed logits -> (B,) int64 next tokens: argmax, or one draw from softmax(logits)."""
    if cfg.greedy:
        return logits.argmax(-1)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


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
    """Generate token by token, yielding ``(rows, tokens)`` after each step.

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
        seen = torch.zeros(B, vocab, dtype=torch.bool, device=device)
        seen.scatter_(1, ids, mask if mask is not None else True)
    if cfg.max_new_tokens == 0:
        return
    running = list(range(B))
    generated: list[list[int]] = [[] for _ in range(B)]
    with torch.inference_mode():
        logits, state = model.prefill(ids, mask, cfg.max_new_tokens)  # (B, V)
        for step in range(cfg.max_new_tokens):
            logits = process_logits(logits, cfg, seen)
            tok = pick_next(logits, cfg, generator)  # (B,)
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
            logits = model.decode(tok, state)


def generate(model, prompts: list[list[int]], cfg: GenerationConfig, *, pad_id: int = 0,
             eos_id: int | None = None, stop: Callable[[int, list[int]], bool] | None = None) -> list[list[int]]:
    """Generate continuations; returns the new token ids of each row (prompt excluded), rows ordered as in
    :func:`generate_stream` (prompt-major, ``num_samples`` rows per prompt)."""
    out: list[list[int]] = [[] for _ in range(len(prompts) * cfg.num_samples)]
    for rows, toks in generate_stream(model, prompts, cfg, pad_id=pad_id, eos_id=eos_id, stop=stop):
        for b, t in zip(rows, toks.tolist()):
            out[b].append(t)
    return out

"""Sequence-to-sequence data in and numbers out, shared by training (``seq2seq.py``) and a loaded run
(``seq2seq_run.py``): encoding pairs, batches, the loss, decoding (greedy or beam) and teacher-forced loss.

Shapes: a batch is ``{"src": (B, S) long, "src_mask": (B, S) bool (True = real), "tgt_in": (B, T), "tgt_out": (B, T)}``
where ``tgt_in`` = <sos> y_1 .. y_n and ``tgt_out`` = y_1 .. y_n <eos> (padded).
"""

from __future__ import annotations

import logging
import math

import torch

from ..data.batching import pad
from ..data.pairs import Pairs
from ..models.decoding import beam_search, greedy
from ..models.seq2seq import teacher_forcing_ratio
from ..train.xent import cross_entropy

log = logging.getLogger(__name__)


class Encoded:
    """Token ids of both sides; targets carry <sos>/<eos> at batching time."""

    def __init__(self, src: list[list[int]], tgt: list[list[int]]):
        self.src, self.tgt = src, tgt
        self.lengths = [max(len(s), len(t)) for s, t in zip(src, tgt)]

    def __len__(self):
        return len(self.src)

    def batch(self, idx: list[int], pad_id: int, sos: int, eos: int) -> dict:
        src, src_mask = pad([self.src[i] for i in idx], pad_id)  # (B, S)
        tgt, _ = pad([[sos] + self.tgt[i] + [eos] for i in idx], pad_id)  # (B, T+1)
        return {"src": src, "src_mask": src_mask, "tgt_in": tgt[:, :-1], "tgt_out": tgt[:, 1:]}


def encode_pairs(src_tok, tgt_tok, pairs: Pairs, cfg, drop_long: bool, encoded=None) -> tuple[Encoded, dict]:
    """Encode both sides (or take ``encoded``, the two sides' ids already computed). Training (``drop_long``)
    drops pairs over the length limits; evaluation truncates sources to max_src_len and targets to
    max_tgt_len. Returns the counts too."""
    S, T = encoded or (src_tok.encode_batch(pairs.src), tgt_tok.encode_batch(pairs.tgt))
    long_src = [i for i, s in enumerate(S) if len(s) > cfg.max_src_len]
    long_tgt = [i for i, t in enumerate(T) if len(t) > cfg.max_tgt_len]
    stats = {"pairs": len(S), "empty_skipped": pairs.empty}
    if drop_long:
        keep = trainable(S, T, cfg)
        stats["dropped_long"] = len(set(long_src) | set(long_tgt))
        if stats["dropped_long"]:
            log.warning("%s: dropped %d of %d pairs longer than max_src_len=%d / max_tgt_len=%d tokens "
                        "(raise them with --max-src-len / --max-tgt-len)", pairs.origin, stats["dropped_long"],
                        len(S), cfg.max_src_len, cfg.max_tgt_len)
        return Encoded([S[i] for i in keep], [T[i] for i in keep]), stats
    stats["truncated_src"] = len(long_src)
    if long_src:
        log.warning("%s: truncated %d source(s) to max_src_len=%d tokens", pairs.origin, len(long_src), cfg.max_src_len)
    S = [s[: cfg.max_src_len] or [src_tok.unk_id] for s in S]
    return Encoded(S, [t[: cfg.max_tgt_len] for t in T]), stats


def trainable(S: list[list[int]], T: list[list[int]], cfg) -> list[int]:
    """Indices of the pairs training keeps: a non-empty source within max_src_len, a target within max_tgt_len."""
    return [i for i, (s, t) in enumerate(zip(S, T)) if s and len(s) <= cfg.max_src_len and len(t) <= cfg.max_tgt_len]


def bpe_dropout_epochs(src_tok, tgt_tok, pairs: Pairs, keep: list[int], base: Encoded, cfg, seed: int):
    """``epoch -> Encoded``: the kept training pairs (``keep``, encoded as ``base``) segmented by BPE-dropout
    at rate ``cfg.bpe_dropout`` (:mod:`seqlab.data.bpe_dropout`; one sampler when both sides share a
    tokenizer). A pair whose dropped-out segmentation exceeds a length limit keeps ``base``'s, so every
    epoch trains the same pairs."""
    from ..data.bpe_dropout import BPEDropout

    src, tgt, n = [pairs.src[i] for i in keep], [pairs.tgt[i] for i in keep], len(keep)
    samplers = ([BPEDropout(src_tok.hf, src + tgt, cfg.bpe_dropout, seed)] if src_tok is tgt_tok else
                [BPEDropout(src_tok.hf, src, cfg.bpe_dropout, seed), BPEDropout(tgt_tok.hf, tgt, cfg.bpe_dropout, seed + 1)])

    def encode(epoch: int) -> Encoded:
        ids = [x for sampler in samplers for x in sampler.encode_epoch(epoch)]  # sources, then targets
        S, T = ids[:n], ids[n:]
        for i in range(n):
            if len(S[i]) > cfg.max_src_len or len(T[i]) > cfg.max_tgt_len:
                S[i], T[i] = base.src[i], base.tgt[i]
        return Encoded(S, T)

    return encode


def tf_ratio(data, progress: float) -> float:
    """The teacher-forcing ratio at ``progress`` in [0, 1] of training (schedules in models/seq2seq.py)."""
    return teacher_forcing_ratio(data.tf_schedule, round(progress * 1000), 1000, start=data.teacher_forcing, end=data.tf_end)


def seq2seq_loss(model, batch, label_smoothing: float = 0.0, pad_id: int = 0, teacher_forcing: float | None = None):
    """Mean token cross-entropy over real target tokens; returns (loss, number of target tokens).

    ``teacher_forcing``: the ratio for models with a ``teacher_forcing_schedule`` (None = always forced)."""
    if teacher_forcing is None:
        logits = model(batch["src"], batch["src_mask"], batch["tgt_in"])  # (B, T, V)
    else:
        logits = model(batch["src"], batch["src_mask"], batch["tgt_in"], teacher_forcing=teacher_forcing)
    target = batch["tgt_out"].flatten()
    if getattr(model, "copy", None) is not None:  # the copy head returns log-probabilities: no second log_softmax
        loss = smoothed_nll(logits.flatten(0, 1), target, label_smoothing, pad_id)
    else:
        loss = cross_entropy(logits.flatten(0, 1), target, ignore_index=pad_id, label_smoothing=label_smoothing)
    return loss, int((batch["tgt_out"] != pad_id).sum())


def smoothed_nll(log_probs, target, label_smoothing: float, pad_id: int):
    """``F.cross_entropy(x, target, ignore_index=pad_id, label_smoothing=eps)`` for x = log-probabilities
    (N, V) that are already normalised: mean over real targets of (1 - eps) (-log p_y) + eps mean_v (-log p_v)."""
    keep = (target != pad_id).to(log_probs.dtype)  # (N,): masked, not selected (a selection copies N x V)
    nll = -log_probs.gather(1, target[:, None])[:, 0]
    if label_smoothing:
        nll = (1 - label_smoothing) * nll - label_smoothing * log_probs.mean(-1)
    return (nll * keep).sum() / keep.sum()


def decode(model, enc: Encoded, tgt_tok, data, device, beam: int = 1, n_best: int = 1,
           batch_size: int = 64, return_attn: bool = False, limit: int | None = None) -> list[list]:
    """Hypotheses (best first) for each source in ``enc`` (first ``limit`` of them), in input order; the
    length limits, length penalty and n-gram blocking come from ``data`` (the run's data config)."""
    n = len(enc) if limit is None else min(limit, len(enc))
    order = sorted(range(n), key=lambda i: len(enc.src[i]))
    out: list = [None] * n
    cap = data.max_tgt_len + 1
    positions = getattr(getattr(model, "cfg", None), "max_len", None)  # a model with a position table
    if positions:
        cap = min(cap, positions - 1)
    for k in range(0, n, batch_size):
        idx = order[k : k + batch_size]
        src, mask = pad([enc.src[i] for i in idx], tgt_tok.pad_id)  # (B, S); both sides share the pad id
        src, mask = src.to(device), mask.to(device)
        kw = dict(max_len_a=data.max_len_a, max_len_b=data.max_len_b, max_len_cap=cap, return_attn=return_attn,
                  no_repeat_ngram=data.no_repeat_ngram)
        if beam == 1:
            hyps = [[h] for h in greedy(model, src, mask, tgt_tok.sos_id, tgt_tok.eos_id, **kw)]
        else:
            hyps = beam_search(model, src, mask, tgt_tok.sos_id, tgt_tok.eos_id, beam=beam, n_best=n_best,
                               length_penalty=data.length_penalty, **kw)
        for i, h in zip(idx, hyps):
            out[i] = h
    return out


@torch.inference_mode()
def teacher_forced_loss(model, batches, pad_id, device) -> dict:
    """Token-level NLL (no smoothing, always teacher forced) and perplexity."""
    total, n = 0.0, 0
    for b in batches:
        b = {k: v.to(device) for k, v in b.items()}
        loss, ntok = seq2seq_loss(model, b, 0.0, pad_id)
        total += loss.item() * ntok
        n += ntok
    nll = total / max(1, n)
    return {"loss": round(nll, 6), "perplexity": round(math.exp(min(nll, 50)), 4)}

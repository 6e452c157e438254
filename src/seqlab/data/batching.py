"""Padding and length-bucketed batching.

Batches are drawn from buckets of similar length so that little compute is spent on padding; the
order is a function of ``(seed, epoch)`` alone, so a resumed run sees exactly the batches an
uninterrupted one would.
"""

from __future__ import annotations

import random

import torch


def pad(seqs: list[list[int]], pad_id: int, min_len: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists. Returns ids ``(B, T)`` long and mask ``(B, T)`` bool, True = real token."""
    T = max(min_len, max((len(s) for s in seqs), default=0))
    ids = torch.full((len(seqs), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.bool)
    for i, s in enumerate(seqs):
        if s:
            ids[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
            mask[i, : len(s)] = True
    return ids, mask


def bucket_batches(lengths: list[int], batch_size: int, seed: int = 0, epoch: int = 0,
                   shuffle: bool = True, bucket: int = 50, max_tokens: int = 0) -> list[list[int]]:
    """Index batches of similar length.

    With ``shuffle``, indices are shuffled, cut into chunks of ``bucket * batch_size``, sorted by
    length inside each chunk, cut into batches, and the batches shuffled. Without it, batches
    follow length order (for evaluation: fastest, and the order does not matter).
    ``max_tokens`` (0 = none): a batch also ends before its padded size (rows x longest) would pass
    it, so batches of long items hold fewer of them (fairseq's ``--max-tokens`` beside ``--batch-size``).
    """
    idx = list(range(len(lengths)))
    if not shuffle:
        idx.sort(key=lambda i: lengths[i])
        return _cut(idx, lengths, batch_size, max_tokens)
    rng = random.Random(seed * 100003 + epoch)
    rng.shuffle(idx)
    chunk = batch_size * bucket
    batches = []
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c: c + chunk], key=lambda i: lengths[i])
        batches += _cut(part, lengths, batch_size, max_tokens)
    rng.shuffle(batches)
    return batches


def _cut(ordered: list[int], lengths: list[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Consecutive batches of ``ordered`` (sorted by length, ascending) of at most batch_size rows and, with
    max_tokens, at most max_tokens padded tokens (a single longer item still forms its own batch)."""
    if not max_tokens:
        return [ordered[i: i + batch_size] for i in range(0, len(ordered), batch_size)]
    out, cur = [], []
    for i in ordered:
        if cur and (len(cur) == batch_size or (len(cur) + 1) * lengths[i] > max_tokens):
            out.append(cur)
            cur = []
        cur.append(i)
    return out + ([cur] if cur else [])


class EpochCache:
    """Remember the last epoch's batches, so the engine's several calls for one epoch build them once."""

    def __init__(self, fn):
        self.fn, self.epoch, self.value = fn, None, None

    def __call__(self, epoch: int):
        if epoch != self.epoch:
            self.epoch, self.value = epoch, self.fn(epoch)
        return self.value

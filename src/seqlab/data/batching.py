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
                   shuffle: bool = True, bucket: int = 50) -> list[list[int]]:
    """Index batches of similar length.

    With ``shuffle``, indices are shuffled, cut into chunks of ``bucket * batch_size``, sorted by
    length inside each chunk, cut into batches, and the batches shuffled. Without it, batches
    follow length order (for evaluation: fastest, and the order does not matter).
    """
    idx = list(range(len(lengths)))
    if not shuffle:
        idx.sort(key=lambda i: lengths[i])
        return [idx[i: i + batch_size] for i in range(0, len(idx), batch_size)]
    rng = random.Random(seed * 100003 + epoch)
    rng.shuffle(idx)
    chunk = batch_size * bucket
    batches = []
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c: c + chunk], key=lambda i: lengths[i])
        batches += [part[i: i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


class EpochCache:
    """Remember the last epoch's batches, so the engine's several calls for one epoch build them once."""

    def __init__(self, fn):
        self.fn, self.epoch, self.value = fn, None, None

    def __call__(self, epoch: int):
        if epoch != self.epoch:
            self.epoch, self.value = epoch, self.fn(epoch)
        return self.value

"""Holding out validation examples from the training data when no ``--valid`` is given.

``random``: a seeded, stratified fraction of the examples.

``whole``: for training data whose examples nest inside each other, as SST-2's do (67,349 labelled
phrases cut from 6,920 sentences, every sentence's sub-phrases listed beside it). A random 10% of such
phrases is mostly fragments of sentences that stay in training, so validation accuracy says how well
the model memorised them (about 91 on SST-2 against 85 on the real dev sentences), and the checkpoint
and early stopping chosen on it are chosen for memorisation. Here only *whole* texts, those not
contained in another example, are held out (stratified), and every training example contained in a
held-out text is dropped, so no part of a validation sentence is seen in training.

Containment is on lower-cased whitespace tokens: "a good film" is in "not a good film ." but
"good" is not in "goodness". Cost: one pass over every sub-span of every distinct text (about 2 s
for SST-2).
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict

log = logging.getLogger(__name__)

SPLITS = ("random", "whole")


def stratified_split(labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, valid): ``fraction`` of each class held out, at least one per class when possible."""
    return _stratified(range(len(labels)), labels, fraction, seed)


def whole_text_split(texts: list[str], labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int], int]:
    """Indices (train, valid) and the number of training examples dropped because a held-out text
    contains them. ``fraction`` is of the whole texts (the sentences), stratified by label.

    Example: texts ``["a good film", "good", "bad", "a bad day"]`` hold out from the whole texts
    ``"a good film"`` and ``"a bad day"``; holding out ``"a bad day"`` also drops ``"bad"``.
    """
    toks = [tuple(t.lower().split()) for t in texts]
    distinct = set(toks)
    inside = set()  # texts that occur as a proper sub-span of a longer text
    for t in distinct:
        n = len(t)
        for a in range(n):
            for b in range(a + 1, n + 1 - (a == 0)):  # every span but t itself
                if t[a:b] in distinct:
                    inside.add(t[a:b])
    whole = [i for i, t in enumerate(toks) if t not in inside]
    _, valid = _stratified(whole, [labels[i] for i in whole], fraction, seed)
    held = set()  # every sub-span of a held-out text
    for i in valid:
        t = toks[i]
        held.update(t[a:b] for a in range(len(t)) for b in range(a + 1, len(t) + 1))
    valid_set = set(valid)
    train = [i for i, t in enumerate(toks) if i not in valid_set and t not in held]
    dropped = len(toks) - len(valid) - len(train)
    return train, valid, dropped


def _stratified(indices, labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    rng = random.Random(seed)
    by = defaultdict(list)
    for i, y in zip(indices, labels):
        by[y].append(i)
    train, valid = [], []
    for y in sorted(by):
        idx = by[y]
        rng.shuffle(idx)
        k = max(1, round(len(idx) * fraction)) if len(idx) > 1 else 0
        valid += idx[:k]
        train += idx[k:]
    return sorted(train), sorted(valid)


def random_split(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, valid) of ``n`` items: a seeded random ``fraction`` held out (at least one when n > 1)."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    k = max(1, round(n * fraction)) if n > 1 else 0
    return sorted(order[k:]), sorted(order[:k])


def hold_out_examples(ex, src, fraction: float, split: str, seed: int):
    """(train, valid) :class:`~seqlab.data.labelled.Examples` when no --valid is given: ``split`` is
    ``random`` (stratified) or ``whole`` (whole texts, see the module docstring)."""
    from ..errors import UserError
    from . import datasets

    if split == "whole":
        if ex.numeric:
            raise UserError("--set data.valid_split=whole holds out whole texts; numeric sequences need random (or --valid)")
        tr, va, dropped = whole_text_split(ex.inputs, ex.labels, fraction, seed)
        log.info("no --valid given: held out %d whole texts of %d examples, stratified, and left out of training the "
                 "%d examples contained in them (data.valid_split=whole)", len(va), len(ex.labels), dropped)
    else:
        tr, va = stratified_split(ex.labels, fraction, seed)
        log.info("no --valid given: held out %d of %d training examples, stratified", len(va), len(tr) + len(va))
        if src.kind == "dataset" and datasets.get(src.name).nested:
            log.info("%s lists the phrases of its sentences as examples: validation accuracy on random phrases, whose "
                     "sentences stay in training, overstates accuracy on new sentences; --set data.valid_split=whole "
                     "holds out whole sentences instead", src.name)
    return ex.subset(tr), ex.subset(va, ex.origin + " (held out)")

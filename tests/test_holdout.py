"""Holding out validation data: stratified random, and whole texts with none of their parts left in training."""

import random

import pytest

from seqlab.data.holdout import stratified_split, whole_text_split


def test_stratified_split_keeps_class_proportions():
    labels = ["a"] * 90 + ["b"] * 10
    tr, va = stratified_split(labels, 0.1, seed=0)
    assert sorted(tr + va) == list(range(100)) and not set(tr) & set(va)
    assert sorted(labels[i] for i in va) == ["a"] * 9 + ["b"]


def _treebank(n_sentences=60, seed=0):
    """Sentences of words plus all their contiguous phrases, as SST-2 lists them (deduplicated)."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(40)]
    texts, labels = [], []
    seen = set()
    for _ in range(n_sentences):
        s = [rng.choice(words) for _ in range(rng.randint(3, 7))]
        y = rng.choice("01")
        for a in range(len(s)):
            for b in range(a + 1, len(s) + 1):
                t = " ".join(s[a:b])
                if t not in seen:
                    seen.add(t)
                    texts.append(t.upper() if rng.random() < 0.2 else t)  # containment ignores case
                    labels.append(y)
    return texts, labels


def test_whole_split_holds_out_whole_texts_and_leaves_none_of_their_parts_in_training():
    texts, labels = _treebank()
    tr, va, dropped = whole_text_split(texts, labels, 0.2, seed=1)
    low = [t.lower() for t in texts]
    assert not set(tr) & set(va) and len(tr) + len(va) + dropped == len(texts) and dropped > 0
    for i in va:  # held out: whole texts, inside no other example
        assert not any(j != i and f" {low[i]} " in f" {low[j]} " and low[i] != low[j] for j in range(len(texts)))
    for i in tr:  # kept for training: no part of a held-out text
        assert not any(f" {low[i]} " in f" {low[j]} " for j in va)
    # the dropped examples are exactly those inside a held-out text
    inside_valid = {i for i in range(len(texts)) if i not in va and any(f" {low[i]} " in f" {low[j]} " for j in va)}
    assert set(range(len(texts))) - set(tr) - set(va) == inside_valid


def test_whole_split_is_seeded_and_stratified():
    texts, labels = _treebank()
    assert whole_text_split(texts, labels, 0.2, 3) == whole_text_split(texts, labels, 0.2, 3)
    assert whole_text_split(texts, labels, 0.2, 3) != whole_text_split(texts, labels, 0.2, 4)
    _, va, _ = whole_text_split(texts, labels, 0.5, 0)
    assert {labels[i] for i in va} == {"0", "1"}


def test_whole_split_on_unnested_texts_is_a_plain_stratified_split():
    texts = [f"review number {i}" for i in range(50)]
    labels = ["pos" if i % 2 else "neg" for i in range(50)]
    tr, va, dropped = whole_text_split(texts, labels, 0.2, 0)
    assert dropped == 0 and len(va) == 10 and len(tr) == 40


def test_classify_holds_out_whole_texts_on_request(caplog):
    from seqlab.data import datasets
    from seqlab.data.sources import parse_source
    from seqlab.data.holdout import hold_out_examples
    from seqlab.data.labelled import Examples
    from seqlab.tasks.classify import ClassifyData

    texts, labels = _treebank(30)
    ex = Examples(texts, labels, "x", ids=[f"id{i}" for i in range(len(texts))])
    sst2 = parse_source("sst2", "--data")
    assert datasets.get("sst2").nested and not datasets.get("nsmc").nested

    def indices(split):  # the held-out examples as index lists (train, valid), via the ids carried along
        tr, va = hold_out_examples(ex, sst2, 0.1, split, 0)
        return [int(i[2:]) for i in tr.ids], [int(i[2:]) for i in va.ids]

    with caplog.at_level("INFO"):
        assert indices("random") == stratified_split(labels, 0.1, 0)
    assert "data.valid_split=whole" in caplog.text  # the default says what it overstates, and the remedy
    assert indices("whole") == whole_text_split(texts, labels, 0.1, 0)[:2]
    with pytest.raises(ValueError, match="valid_split"):
        ClassifyData(valid_split="sentences")

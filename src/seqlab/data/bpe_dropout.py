"""BPE-dropout (Provilkov et al., ACL 2020): training text segmented a little differently every epoch.

A BPE tokenizer splits a word the same way every time. BPE-dropout skips each applicable merge with
probability ``p`` while segmenting, so a word is sometimes seen as smaller pieces ("▁playing" as
"▁play" "ing" or "▁pl" "aying"): the model learns how words are composed and becomes robust to
segmentation; the paper reports up to +2.3 BLEU on small translation sets (p = 0.1). Inference keeps
the ordinary segmentation (p = 0).

Hugging Face ``tokenizers`` has the option, but its random numbers cannot be seeded, and seqlab's
training is reproducible and resumable to the bit. So this module samples with its own seeded
generators over the tokenizer's own normaliser, pre-tokeniser, merges and vocabulary:

- every distinct word of the training text gets ``variants`` segmentations drawn once (a generator
  seeded by ``seed``; words in sorted order), each by the paper's algorithm: repeatedly list the
  adjacent symbol pairs that have a merge, drop each with probability ``p``, apply the best-ranked
  remaining one, until none remains;
- each epoch picks, per word occurrence, one of its word's variants (a generator seeded by
  ``(seed, epoch)``), so an epoch is the same on a resumed run.

With ``p = 0`` every variant equals the tokenizer's own segmentation (tested against ``tokenizers``).
"""

from __future__ import annotations

import json
import random

import numpy as np

from ..phases import phase

VARIANTS = 16  # segmentations drawn per distinct word: frequent words get varied splits across occurrences


class BPEDropout:
    """Seeded BPE-dropout over a trained BPE ``tokenizers.Tokenizer`` (``hf``).

    ``encode_epoch(epoch)`` -> token ids of every text given to the constructor, in order, as the
    tokenizer would encode them (no special tokens) but with merges dropped at rate ``p``."""

    def __init__(self, hf, texts: list[str], p: float, seed: int, variants: int = VARIANTS):
        if not 0 <= p < 1:
            raise ValueError(f"BPE-dropout probability must be in [0, 1); found {p}")
        model = json.loads(hf.to_str())["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"BPE-dropout needs a BPE tokenizer; found {model.get('type')}")
        self.vocab: dict[str, int] = model["vocab"]
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        self.rank = {pair: r for r, pair in enumerate(merges)}
        self.unk = self.vocab.get(model.get("unk_token") or "<unk>", 0)
        self.p, self.seed = p, seed
        words: dict[str, int] = {}
        self.texts: list[list[int]] = []  # per text, the indices of its words
        for text in texts:
            norm = hf.normalizer.normalize_str(text) if hf.normalizer is not None else text
            pieces = hf.pre_tokenizer.pre_tokenize_str(norm) if hf.pre_tokenizer is not None else [(norm, None)]
            self.texts.append([words.setdefault(w, len(words)) for w, _ in pieces if w])
        rng = random.Random(seed)
        self.words = sorted(words, key=words.get)
        table = [None] * len(self.words)
        with phase("BPE-dropout variants", total=len(words)) as ph:  # 7.6 s for Multi30k (benchmarks/bpe_dropout_stats.py)
            for w in sorted(words):  # drawn in sorted order: independent of the texts' order
                table[words[w]] = [self.segment(w, rng) for _ in range(variants)]
                ph.advance(1)
        self.table = table
        self.variants = variants

    def segment(self, word: str, rng: random.Random) -> list[int]:
        """One BPE-dropout segmentation of ``word`` as ids (unknown symbols -> the unk id)."""
        syms = list(word)
        rank, p = self.rank, self.p
        while len(syms) > 1:
            best, at = None, -1
            for i in range(len(syms) - 1):
                r = rank.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best) and not (p and rng.random() < p):
                    best, at = r, i
            if best is None:
                break
            syms[at: at + 2] = [syms[at] + syms[at + 1]]
        return [self.vocab.get(s, self.unk) for s in syms]

    def encode_epoch(self, epoch: int) -> list[list[int]]:
        """Every text's ids for ``epoch``: per word occurrence, one of its word's variants."""
        n = sum(len(t) for t in self.texts)
        pick = np.random.default_rng([self.seed % 2**32, epoch]).integers(0, self.variants, n).tolist()
        out, j, table = [], 0, self.table
        for words in self.texts:
            ids: list[int] = []
            for w in words:
                ids += table[w][pick[j]]
                j += 1
            out.append(ids)
        return out

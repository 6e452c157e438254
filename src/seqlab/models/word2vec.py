"""Word2Vec (Mikolov et al. 2013): CBOW and skip-gram with negative sampling, the notes' step from one-hot
vectors to dense word embeddings.

Two tables: input vectors ``W_in`` (V, D), the embeddings we keep, and output vectors ``W_out`` (V, D).
For a centre word w_c and a context word w_o (within a window of b <= ``window`` words, b drawn per
centre, as word2vec does, so nearer words count more often):

    skip-gram:  predict each context word from the centre      h = W_in[w_c],          target w_o
    CBOW:       predict the centre from its context's mean     h = mean_o W_in[w_o],   target w_c

Negative sampling replaces the softmax over V words by one true and k sampled "noise" words:

    loss = -log sigmoid(h . W_out[target]) - sum_{i=1..k} log sigmoid(-h . W_out[n_i]),
    n_i ~ P(w) proportional to count(w)^0.75          (drawn from the cumulative unigram^0.75 table, as
                                                       gensim's cum_table: exact, O(log V) per draw)

Frequent words are subsampled: each occurrence of w is kept with probability
``(sqrt(f(w) / t) + 1) * t / f(w)`` (f = relative frequency, t = ``sample``; the formula of word2vec.c
and gensim), redrawn every epoch.

Training is word2vec.c's plain SGD with a learning rate decaying linearly from ``lr`` to
``lr * min_lr_ratio`` over all epochs, applied to a batch of pairs at once: every gradient of a batch is
computed from the same tables, then added with ``index_add_`` (rows hit twice in a batch get both
updates, as Hogwild threads would give them). word2vec.c applies a row's updates one after another; a
sum of k updates computed from the same stale row is a step k times as long, which diverged in our
tests when every batch held each word of a tiny vocabulary dozens of times, so a batch never holds more
than 4 pairs per vocabulary word (``batch <= 4 V``; averaging repeated rows instead slowed learning
everywhere). No Python loop runs per token: windows, pairs, negatives and updates are tensor operations
over chunks of the corpus.

Shapes: a corpus is a 1-D long tensor of word ids with a parallel tensor of sentence ids (windows never
cross a sentence); batches are (B,) centres, (B,) or (B, 2W) contexts, (B, k) negatives.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch import Tensor

log = logging.getLogger(__name__)

ARCHS = ("cbow", "skipgram")


@dataclass
class Word2VecConfig:
    arch: str = "cbow"  # cbow | skipgram
    dim: int = 100  # D, the vector width
    window: int = 5  # largest distance between centre and context word (each centre draws b in 1..window)
    negative: int = 5  # k noise words per true pair
    ns_exponent: float = 0.75  # noise distribution: count^ns_exponent
    sample: float = 1e-3  # subsampling threshold t (0 = keep every word)
    min_count: int = 5  # words seen fewer times are dropped from the vocabulary and the corpus
    max_vocab: int = 0  # keep only the most frequent words (0 = no limit)
    epochs: int = 5  # passes over the corpus
    lr: float = 0.025  # starting SGD rate (word2vec: 0.025 for CBOW and skip-gram alike here)
    min_lr_ratio: float = 1e-4  # the rate decays linearly to lr * min_lr_ratio
    batch_size: int = 1024  # pairs (skip-gram) or centres (CBOW) per update
    chunk_tokens: int = 200_000  # corpus tokens turned into pairs at once (memory bound)
    seed: int = 0  # everything random (init, subsampling, windows, negatives, order) follows it

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}; got {self.arch!r}")
        for name in ("dim", "window", "negative", "min_count", "epochs", "batch_size", "chunk_tokens"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.max_vocab < 0 or self.sample < 0 or self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("max_vocab and sample must be >= 0, lr > 0, min_lr_ratio in [0, 1]")


@dataclass
class Vocab:
    words: list[str]  # id -> word, most frequent first (ties: first seen first)
    counts: list[int]  # id -> count in the corpus

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}


def build_vocab(sentences: Iterable[list[str]], min_count: int = 5, max_vocab: int = 0) -> Vocab:
    """Words seen at least ``min_count`` times, most frequent first."""
    counts: Counter = Counter()
    for s in sentences:
        counts.update(s)
    kept = [(w, c) for w, c in counts.most_common() if c >= min_count]  # most_common keeps first-seen order in ties
    if max_vocab:
        kept = kept[:max_vocab]
    return Vocab([w for w, _ in kept], [c for _, c in kept])


def encode_corpus(sentences: Iterable[list[str]], vocab: Vocab) -> tuple[Tensor, Tensor]:
    """(ids (N,), sentence ids (N,)) long: the in-vocabulary tokens of every sentence, in order."""
    index = vocab.index
    ids, sent = [], []
    for k, s in enumerate(sentences):
        row = [index[w] for w in s if w in index]
        ids.extend(row)
        sent.extend([k] * len(row))
    return torch.tensor(ids, dtype=torch.long), torch.tensor(sent, dtype=torch.long)


def keep_probability(counts: Tensor, sample: float) -> Tensor:
    """(V,) probability of keeping one occurrence of each word: min(1, (sqrt(f/t) + 1) t / f)."""
    if sample <= 0:
        return torch.ones(len(counts))
    f = counts.double() / counts.sum()
    p = (torch.sqrt(f / sample) + 1.0) * sample / f
    return p.clamp(max=1.0).float()


def noise_table(counts: Tensor, exponent: float = 0.75) -> Tensor:
    """The cumulative unigram^exponent table (V,) float64: entry i = sum_{j<=i} c_j^e / sum c^e."""
    w = counts.double() ** exponent
    cdf = torch.cumsum(w / w.sum(), 0)
    cdf[-1] = 1.0
    return cdf


def draw_noise(table: Tensor, shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
    """Word ids of ``shape`` drawn from the noise distribution of a :func:`noise_table`."""
    u = torch.rand(shape, generator=gen, dtype=torch.float64)
    return torch.searchsorted(table, u, right=True).clamp(max=len(table) - 1)


def skipgram_pairs(ids: Tensor, sent: Tensor, window: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """All (centre, context) id pairs of a chunk, each centre with its own window b ~ U{1..window}."""
    N = len(ids)
    b = torch.randint(1, window + 1, (N,), generator=gen)  # (N,) effective window per centre
    centres, contexts = [], []
    for o in range(1, min(window, N - 1) + 1):  # loops over offsets (<= window), never over tokens
        same = sent[o:] == sent[:-o]  # (N-o,) positions i, i+o in one sentence
        right = same & (b[:-o] >= o)  # centre i, context i+o
        left = same & (b[o:] >= o)  # centre i+o, context i
        centres += [ids[:-o][right], ids[o:][left]]
        contexts += [ids[o:][right], ids[:-o][left]]
    if not centres:
        return ids[:0], ids[:0]
    return torch.cat(centres), torch.cat(contexts)


def cbow_windows(ids: Tensor, sent: Tensor, window: int, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """(centres (M,), context ids (M, 2W), mask (M, 2W) bool True = a real context word); centres with no
    context word are dropped."""
    N = len(ids)
    b = torch.randint(1, window + 1, (N,), generator=gen)  # (N,)
    offsets = torch.tensor([o for o in range(-window, window + 1) if o != 0])  # (2W,)
    pos = torch.arange(N).unsqueeze(1) + offsets  # (N, 2W)
    inside = (pos >= 0) & (pos < N)
    pos_c = pos.clamp(0, max(N - 1, 0))
    mask = inside & (sent[pos_c] == sent.unsqueeze(1)) & (offsets.abs() <= b.unsqueeze(1))  # (N, 2W)
    has = mask.any(1)
    return ids[has], ids[pos_c][has], mask[has]


class Word2Vec:
    """Trains vectors for a tokenized corpus. ``W_in`` holds the embeddings after :meth:`train`.

    Example::

        >>> sents = [["the", "cat", "sat"], ["the", "dog", "sat"]] * 50
        >>> w2v = Word2Vec(Word2VecConfig(dim=8, min_count=1, epochs=1, sample=0))
        >>> stats = w2v.train(sents)
        >>> w2v.W_in.shape
        torch.Size([4, 8])
    """

    def __init__(self, cfg: Word2VecConfig):
        self.cfg = cfg
        self.vocab: Vocab | None = None
        self.W_in: Tensor | None = None  # (V, D)
        self.W_out: Tensor | None = None  # (V, D)

    def _init(self, V: int, gen: torch.Generator) -> None:
        D = self.cfg.dim
        W_in = (torch.rand(V, D, generator=gen) - 0.5) / D  # word2vec.c: U(-0.5/D, 0.5/D)
        if self.W_in is not None and self.W_in.shape == (V, D):  # tables given (e.g. a module's): fill in place
            self.W_in.copy_(W_in)
            self.W_out.zero_()
        else:
            self.W_in, self.W_out = W_in, torch.zeros(V, D)  # word2vec.c: output vectors start at zero

    def bind(self, module: "Word2VecModule") -> "Word2Vec":
        """Train directly into a :class:`Word2VecModule`'s tables (their ``.data``, no autograd)."""
        self.W_in, self.W_out = module.in_vectors.weight.data, module.out_vectors.weight.data
        return self

    def train(self, sentences: list[list[str]], vocab: Vocab | None = None,
              on_epoch: Callable[[int, dict], None] | None = None) -> dict:
        """Build the vocabulary (unless given), train ``epochs`` passes. Returns statistics:
        words (corpus tokens per epoch before subsampling), pairs, seconds, words_per_s, loss (last epoch)."""
        cfg = self.cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        self.vocab = vocab or build_vocab(sentences, cfg.min_count, cfg.max_vocab)
        V = len(self.vocab.words)
        if V < 2:
            raise ValueError(f"need at least 2 words with count >= min_count={cfg.min_count}; found {V}")
        ids, sent = encode_corpus(sentences, self.vocab)
        counts = torch.tensor(self.vocab.counts)
        keep = keep_probability(counts, cfg.sample)  # (V,)
        table = noise_table(counts, cfg.ns_exponent)
        self._init(V, gen)
        self.batch_size = min(cfg.batch_size, 4 * V)  # see the module docstring: no more than 4 pairs per word
        N = len(ids)
        total, done = cfg.epochs * N, 0
        t0 = time.perf_counter()
        stats = {"words": N, "vocab": V, "pairs": 0, "updates": 0}
        for epoch in range(cfg.epochs):
            loss_sum, loss_n = 0.0, 0
            for start in range(0, N, cfg.chunk_tokens):
                c_ids, c_sent = ids[start: start + cfg.chunk_tokens], sent[start: start + cfg.chunk_tokens]
                kept = torch.rand(len(c_ids), generator=gen) < keep[c_ids]  # subsampling, redrawn each epoch
                c_ids, c_sent = c_ids[kept], c_sent[kept]
                lr = cfg.lr * max(cfg.min_lr_ratio, 1.0 - done / total)
                l_sum, l_n, n_pairs = self._train_chunk(c_ids, c_sent, table, gen, lr, lr_end=cfg.lr * max(
                    cfg.min_lr_ratio, 1.0 - (done + len(kept)) / total))
                done += len(kept)
                loss_sum, loss_n = loss_sum + l_sum, loss_n + l_n
                stats["pairs"] += n_pairs
                stats["updates"] += math.ceil(n_pairs / self.batch_size)
            stats["loss"] = loss_sum / max(1, loss_n)
            if on_epoch is not None:
                on_epoch(epoch, dict(stats))
        stats["seconds"] = time.perf_counter() - t0
        stats["words_per_s"] = N * cfg.epochs / max(stats["seconds"], 1e-9)
        return stats

    def _train_chunk(self, ids: Tensor, sent: Tensor, table: Tensor, gen: torch.Generator, lr: float,
                     lr_end: float) -> tuple[float, int, int]:
        cfg = self.cfg
        if cfg.arch == "skipgram":
            centres, targets = skipgram_pairs(ids, sent, cfg.window, gen)
            ctx = mask = None
        else:
            targets, ctx, mask = cbow_windows(ids, sent, cfg.window, gen)
            centres = None
        M = len(targets)
        if M == 0:
            return 0.0, 0, 0
        order = torch.randperm(M, generator=gen)
        bs = self.batch_size
        n_batches = math.ceil(M / bs)
        loss_sum = 0.0
        for j in range(n_batches):
            sel = order[j * bs: (j + 1) * bs]
            rate = lr + (lr_end - lr) * j / n_batches
            neg = draw_noise(table, (len(sel), cfg.negative), gen)  # (B, k)
            if centres is not None:
                loss_sum += self._sg_step(centres[sel], targets[sel], neg, rate)
            else:
                loss_sum += self._cbow_step(ctx[sel], mask[sel], targets[sel], neg, rate)
        return loss_sum, M, M

    def _ns_grads(self, h: Tensor, pos: Tensor, neg: Tensor, lr: float) -> tuple[Tensor, float]:
        """Negative-sampling step for hidden vectors h (B, D): updates W_out, returns lr * dL/dh (B, D)
        (to be added to the input rows) and the batch's summed loss."""
        u_pos = self.W_out[pos]  # (B, D)
        u_neg = self.W_out[neg]  # (B, k, D)
        s_pos = torch.einsum("bd,bd->b", h, u_pos)  # (B,)
        s_neg = torch.einsum("bd,bkd->bk", h, u_neg)  # (B, k)
        g_pos = (1.0 - torch.sigmoid(s_pos)) * lr  # (B,)  = -lr dL/ds for the true word
        g_neg = -torch.sigmoid(s_neg) * lr  # (B, k)
        grad_h = g_pos.unsqueeze(1) * u_pos + torch.einsum("bk,bkd->bd", g_neg, u_neg)  # (B, D)
        D = h.shape[1]
        self.W_out.index_add_(0, pos, g_pos.unsqueeze(1) * h)
        self.W_out.index_add_(0, neg.reshape(-1), (g_neg.unsqueeze(-1) * h.unsqueeze(1)).reshape(-1, D))
        loss = -(torch.nn.functional.logsigmoid(s_pos).sum() + torch.nn.functional.logsigmoid(-s_neg).sum())
        return grad_h, float(loss)

    def _sg_step(self, centres: Tensor, contexts: Tensor, neg: Tensor, lr: float) -> float:
        h = self.W_in[centres]  # (B, D)
        grad_h, loss = self._ns_grads(h, contexts, neg, lr)
        self.W_in.index_add_(0, centres, grad_h)
        return loss

    def _cbow_step(self, ctx: Tensor, mask: Tensor, centres: Tensor, neg: Tensor, lr: float) -> float:
        m = mask.unsqueeze(-1).float()  # (B, 2W, 1)
        n = m.sum(1).clamp(min=1.0)  # (B, 1)
        h = (self.W_in[ctx] * m).sum(1) / n  # (B, D) mean of the context vectors
        grad_h, loss = self._ns_grads(h, centres, neg, lr)
        # word2vec.c (cbow_mean) adds the hidden layer's error to every context word as is
        D = h.shape[1]
        self.W_in.index_add_(0, ctx[mask], grad_h.unsqueeze(1).expand(-1, ctx.shape[1], D)[mask])
        return loss


def save_word2vec(path: str | Path, words: list[str], vectors: Tensor) -> Path:
    """Write word2vec text format: a header ``<count> <dim>``, then ``word v_1 ... v_D`` per line (6
    significant digits). Spaces inside a word would break the format; they are written as ``_``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    V, D = vectors.shape
    if len(words) != V:
        raise ValueError(f"{len(words)} words but {V} vectors")
    rows = vectors.detach().float().cpu().tolist()
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{V} {D}\n")
        for w, row in zip(words, rows):
            f.write(w.replace(" ", "_") + " " + " ".join(f"{x:.6g}" for x in row) + "\n")
    tmp.replace(path)
    return path


class Word2VecModule(torch.nn.Module):
    """The two tables as a module, so a run saves and loads them like any other model:
    ``in_vectors`` (the embeddings) and ``out_vectors`` (the context/output vectors), each (V, D)."""

    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.in_vectors = torch.nn.Embedding(vocab_size, dim)
        self.out_vectors = torch.nn.Embedding(vocab_size, dim)

    def forward(self, ids: Tensor) -> Tensor:
        """ids (B, T) long -> word vectors (B, T, D)."""
        return self.in_vectors(ids)

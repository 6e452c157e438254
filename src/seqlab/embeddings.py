"""Word vectors after training: read word2vec text, nearest neighbours, analogies (3CosAdd), similarity.

    cos(u, v)             = u . v / (|u| |v|)
    neighbours(w)         = the k words with the highest cos(w, .), w itself excluded
    a : b :: c : ?  (3CosAdd, Mikolov et al. 2013)
                          = argmax_{d not in {a, b, c}} cos(d, b - a + c)   on unit-normalised vectors

An analogy question file is the Google format (``questions-words.txt``): ``: section`` lines, then
``a b c d`` per line; questions with a word outside the vocabulary are counted as not covered (and
not scored, as gensim's ``evaluate_word_analogies`` does by default). A similarity file is
``word1 word2 score`` per line (tab or space separated, ``#`` comments): Spearman's rho between the
human scores and the cosines of the covered pairs.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import torch
from torch import Tensor

from .errors import UserError
from .metrics.regression import spearman
from .models.textcnn import load_word_vectors

log = logging.getLogger(__name__)


class WordVectors:
    """A vocabulary and its vectors (V, D), rows unit-normalised once for cosine queries."""

    def __init__(self, words: list[str], vectors: Tensor):
        if len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} words but {vectors.shape[0]} vectors")
        self.words = list(words)
        self.vectors = vectors.float()  # (V, D)
        self.index = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)
        self.unit = self.vectors / self.vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)  # (V, D)

    @classmethod
    def load(cls, path: str | Path) -> "WordVectors":
        """Read word2vec/GloVe text (header optional, ``.gz`` allowed). Words come from a first pass;
        the numbers are parsed by :func:`seqlab.models.textcnn.load_word_vectors`."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"expected a word-vector text file; found no file at {path} (check the path)")
        opener = gzip.open if path.suffix == ".gz" else open
        words, dim = [], None
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, start=1):
                parts = line.rstrip("\n\r ").split(" ")
                if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    dim = int(parts[1])
                    continue
                if not line.strip():
                    continue
                if dim is None:
                    dim = len(parts) - 1
                if dim < 1:
                    raise UserError(f"{path}:{lineno}: expected a word followed by numbers; found {line[:40]!r}")
                words.append(" ".join(parts[:-dim]))
        if not words:
            raise UserError(f"{path}: no word vectors found (expected word2vec text format)")
        vectors, found = load_word_vectors(path, words, dim)
        return cls(words, vectors)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def _id(self, word: str) -> int:
        if word not in self.index:
            close = [w for w in self.words if w.lower() == word.lower()][:3]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UserError(f"{word!r} is not in the vocabulary of {len(self.words)} words{hint}")
        return self.index[word]

    def _top(self, query: Tensor, k: int, exclude: set[int]) -> list[tuple[str, float]]:
        sims = self.unit @ (query / query.norm().clamp(min=1e-12))  # (V,)
        if exclude:
            sims[list(exclude)] = float("-inf")
        k = min(k, len(self.words) - len(exclude))
        vals, idx = sims.topk(max(k, 0))
        return [(self.words[i], float(v)) for v, i in zip(vals.tolist(), idx.tolist())]

    def similarity(self, a: str, b: str) -> float:
        return float(self.unit[self._id(a)] @ self.unit[self._id(b)])

    def most_similar(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The k nearest words by cosine, the word itself excluded."""
        i = self._id(word)
        return self._top(self.unit[i], k, {i})

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """a : b :: c : ?  by 3CosAdd: the words nearest b - a + c, excluding a, b and c."""
        ia, ib, ic = self._id(a), self._id(b), self._id(c)
        return self._top(self.unit[ib] - self.unit[ia] + self.unit[ic], k, {ia, ib, ic})

    def evaluate_analogies(self, questions: list[tuple[str, str, str, str]], sections: list[str] | None = None,
                           batch: int = 512) -> dict:
        """Accuracy of 3CosAdd on (a, b, c, d) questions; uncovered questions are skipped and counted.

        Returns {"accuracy", "correct", "covered", "total", "coverage", "sections": {name: {...}}}.
        """
        sections = sections or ["all"] * len(questions)
        ok = [all(w in self.index for w in q) for q in questions]
        rows = [q for q, o in zip(questions, ok) if o]
        secs = [s for s, o in zip(sections, ok) if o]
        correct = []
        for start in range(0, len(rows), batch):
            part = rows[start: start + batch]
            ids = torch.tensor([[self.index[w] for w in q] for q in part])  # (B, 4)
            query = self.unit[ids[:, 1]] - self.unit[ids[:, 0]] + self.unit[ids[:, 2]]  # (B, D)
            query = query / query.norm(dim=1, keepdim=True).clamp(min=1e-12)
            sims = query @ self.unit.T  # (B, V)
            sims.scatter_(1, ids[:, :3], float("-inf"))
            correct += (sims.argmax(1) == ids[:, 3]).tolist()
        per: dict[str, dict] = {}
        for s, c in zip(secs, correct):
            d = per.setdefault(s, {"correct": 0, "covered": 0})
            d["correct"] += int(c)
            d["covered"] += 1
        for d in per.values():
            d["accuracy"] = d["correct"] / d["covered"]
        n_ok = sum(correct)
        return {"accuracy": n_ok / len(rows) if rows else 0.0, "correct": n_ok, "covered": len(rows),
                "total": len(questions), "coverage": len(rows) / len(questions) if questions else 0.0,
                "sections": per}

    def evaluate_similarity(self, pairs: list[tuple[str, str, float]]) -> dict:
        """Spearman's rho between human scores and cosines over the covered pairs."""
        got = [(self.similarity(a, b), s) for a, b, s in pairs if a in self.index and b in self.index]
        rho = spearman([g for g, _ in got], [s for _, s in got]) if len(got) > 1 else 0.0
        return {"spearman": rho, "covered": len(got), "total": len(pairs)}


def read_analogies(path: str | Path, lowercase: bool = False) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """Google-format analogy questions: (questions, section name of each)."""
    questions, sections, section = [], [], "all"
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            section = line[1:].strip() or "all"
            continue
        parts = line.lower().split() if lowercase else line.split()
        if len(parts) != 4:
            raise UserError(f"{path}:{lineno}: expected four words 'a b c d' (a : b :: c : d); found {len(parts)}")
        questions.append(tuple(parts))
        sections.append(section)
    return questions, sections


def read_similarity(path: str | Path, lowercase: bool = False) -> list[tuple[str, str, float]]:
    """``word1 word2 score`` lines (tab or spaces; ``#`` comments; a header row without a number is skipped)."""
    pairs = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.lower().split() if lowercase else line.split()
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except (IndexError, ValueError):
            if lineno == 1:
                continue  # header
            raise UserError(f"{path}:{lineno}: expected 'word1 word2 score'; found {line.strip()[:60]!r}") from None
    return pairs

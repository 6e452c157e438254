"""A trained ``embed`` run: nearest neighbours, analogies, and evaluation on analogy/similarity files.

``predict(["king", "king:queen::man"], k=10)`` answers each query: a word gets its k nearest neighbours
by cosine, ``a:b::c`` the k best answers by 3CosAdd. A query word that is not in the vocabulary is
tokenized with the run's tokenizer first (``King`` -> ``king`` for a lower-casing word tokenizer).
"""

from __future__ import annotations

from pathlib import Path

from ..data import builtin
from ..data.sources import parse_source
from ..embeddings import WordVectors, read_analogies, read_similarity
from ..errors import UserError
from .loaded import LoadedRun, check_texts


def _looks_like_analogies(path: Path) -> bool:
    for line in path.read_text(encoding="utf-8").splitlines()[:50]:
        if line.startswith(":"):
            return True
        parts = line.split()
        if len(parts) == 4:
            return True
        if len(parts) == 3:
            return False
    return False


def answer_query(vectors: WordVectors, q: str, k: int = 10, word=lambda w: w) -> dict:
    """Neighbours of a word, or the answers of an analogy written ``a:b::c``; ``word`` maps a query word to
    a vocabulary word (e.g. through a tokenizer)."""
    if "::" in q:
        left, _, c = q.partition("::")
        a, _, b = left.partition(":")
        if not (a.strip() and b.strip() and c.strip()):
            raise UserError(f"{q!r}: an analogy is written a:b::c (a is to b as c is to ?)")
        res = vectors.analogy(word(a.strip()), word(b.strip()), word(c.strip()), k)
        return {"query": q, "answers": [{"word": w, "cos": round(s, 4)} for w, s in res]}
    res = vectors.most_similar(word(q.strip()), k)
    return {"query": q, "neighbours": [{"word": w, "cos": round(s, 4)} for w, s in res]}


def format_answer(pred: dict) -> str:
    items = pred.get("neighbours") or pred.get("answers") or []
    return f"{pred['query']}: " + ", ".join(f"{d['word']} {d['cos']:.3f}" for d in items)


class LoadedEmbedding(LoadedRun):
    task = "embed"
    predict_options = {"k": "how many neighbours (or analogy answers) per query"}
    evaluate_options = {}

    def __init__(self, run, module, config, meta, vocab, tokenizer, device="auto"):
        super().__init__(run, module, config, device)
        self.meta, self.vocab, self.tokenizer = meta, vocab, tokenizer
        self.vectors = WordVectors(vocab.words, module.in_vectors.weight.detach().float().cpu())

    def word(self, w: str) -> str:
        if w in self.vectors:
            return w
        toks = self.tokenizer.tokenize(w)
        if len(toks) == 1 and toks[0] in self.vectors:
            return toks[0]
        return w  # WordVectors raises the not-in-vocabulary error

    def read_inputs(self, src: str, id_col: str | None = None, **columns):
        p = Path(src)
        if not p.is_file():
            raise UserError(f"--data {src}: expected a text file with one query per line (a word, or a:b::c)")
        return [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()], None

    def predict(self, inputs, k: int = 10, **_) -> list[dict]:
        """One dict per query: ``{"query", "neighbours": [{"word", "cos"}]}`` or, for ``a:b::c``,
        ``{"query", "answers": [{"word", "cos"}]}``."""
        return [answer_query(self.vectors, q, k, self.word) for q in check_texts(inputs, "word")]

    def evaluate(self, src: str, write: bool = False, **_) -> dict:
        """Analogy accuracy (Google format, or builtin:analogies) or similarity Spearman (word1 word2 score)."""
        lower = bool(getattr(self.tokenizer, "lowercase", False))
        parsed = parse_source(src, "--data")
        if parsed.kind == "builtin":
            d = builtin.generate(parsed.name, parsed.params)
            if "analogies" not in d:
                raise UserError(f"builtin:{parsed.name} has no analogy questions; use builtin:analogies or a file")
            res = {"analogy": self.vectors.evaluate_analogies([tuple(q) for q in d["analogies"]])}
        elif parsed.kind == "file" and len(parsed.paths) == 1:
            p = parsed.paths[0]
            if _looks_like_analogies(p):
                qs, secs = read_analogies(p, lowercase=lower)
                res = {"analogy": self.vectors.evaluate_analogies(qs, secs)}
            else:
                res = {"similarity": self.vectors.evaluate_similarity(read_similarity(p, lowercase=lower))}
        else:
            raise UserError(f"--data {src}: expected an analogy file (a b c d per line), a similarity file "
                            "(word1 word2 score) or builtin:analogies")
        flat = {}
        if "analogy" in res:
            a = res["analogy"]
            flat.update({"analogy_accuracy": a["accuracy"], "analogy_covered": a["covered"], "analogy_total": a["total"],
                         "sections": {k: round(v["accuracy"], 4) for k, v in a["sections"].items()}})
        if "similarity" in res:
            s = res["similarity"]
            flat.update({"spearman": s["spearman"], "pairs_covered": s["covered"], "pairs_total": s["total"]})
        if write:
            self.run.write_json("test_metrics.json", flat)
        return flat

    def format_prediction(self, inp, pred: dict) -> str:
        return format_answer(pred)

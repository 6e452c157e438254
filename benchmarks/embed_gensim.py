"""Word2Vec in seqlab vs gensim's (the reference implementation) on the same corpus with the same settings:
training speed (words/s) and vector quality (Google analogies by 3CosAdd, WordSim-353 Spearman).

    python benchmarks/embed_gensim.py                       # local English text: SST-2 + Multi30k en + SAMSum + Shakespeare
    python benchmarks/embed_gensim.py --smoke               # seconds

Both read the corpus tokenized once by seqlab's word tokenizer (lower-cased), so the vocabularies are equal;
both use dim 100, window 5, 5 negatives, sample 1e-3, min_count 5, 5 epochs, lr 0.025, one worker thread for
gensim (``--workers`` to change) and one torch thread for seqlab. The analogy and similarity files are the ones
gensim ships for its own tests (``gensim/test/test_data/questions-words.txt``, ``wordsim353.tsv``). On a corpus of a
few million words most analogy questions are not covered; both tools are scored on the same covered questions.
gensim is a benchmark-only dependency (``pip install 'seqlab[bench]'``). Results: OUT/results.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import out_dir, write_results  # noqa: E402

COLUMNS = ["tool", "arch", "words_per_s", "train_s", "vocab", "analogy_accuracy", "analogy_covered", "wordsim_spearman",
           "wordsim_covered"]


def corpus(smoke: bool) -> list[str]:
    from seqlab.data.corpus import read_corpus
    from seqlab.data.sources import parse_source

    if smoke:
        return read_corpus(parse_source("builtin:analogies?n=3000"))
    lines = []
    for src in ("sst2", "multi30k:de-en", "samsum", "tinyshakespeare"):
        part = read_corpus(parse_source(src))
        if src.startswith("multi30k"):
            part = part[len(part) // 2:]  # the English side only
        lines += part
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", default="cbow,skipgram")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/results/embed_gensim")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    import gensim
    import torch

    from seqlab.data.tokenizers import make_tokenizer
    from seqlab.embeddings import WordVectors, read_analogies, read_similarity
    from seqlab.models.word2vec import Word2Vec, Word2VecConfig

    torch.set_num_threads(1)
    os.environ.setdefault("SEQLAB_DATA_MIRROR", "/work/shared/data")
    out = out_dir(args.out, args.smoke)
    tok = make_tokenizer("word", lowercase=True)
    sents = tok.tokenize_batch(corpus(args.smoke))
    n_words = sum(map(len, sents))
    test_data = Path(gensim.__file__).parent / "test" / "test_data"
    questions, sections = read_analogies(test_data / "questions-words.txt", lowercase=True)
    pairs = read_similarity(test_data / "wordsim353.tsv", lowercase=True)
    if args.smoke:
        from seqlab.data.builtin import generate

        questions, sections = [tuple(q) for q in generate("analogies", {"n": "3000"}, 0)["analogies"]], None
    settings = dict(dim=100, window=5, negative=5, sample=1e-3, min_count=1 if args.smoke else 5, epochs=args.epochs,
                    lr=0.025)
    rows = []
    for arch in args.archs.split(","):
        cfg = Word2VecConfig(arch=arch, dim=settings["dim"], window=5, negative=5, sample=settings["sample"],
                             min_count=settings["min_count"], epochs=args.epochs, lr=0.025, seed=0)
        w = Word2Vec(cfg)
        stats = w.train(sents)
        ours = WordVectors(w.vocab.words, w.W_in)
        t0 = time.perf_counter()
        g = gensim.models.Word2Vec(sents, vector_size=settings["dim"], window=5, negative=5, sample=settings["sample"],
                                   min_count=settings["min_count"], epochs=args.epochs, alpha=0.025, sg=int(arch == "skipgram"),
                                   workers=args.workers, seed=0)
        g_s = time.perf_counter() - t0
        theirs = WordVectors(list(g.wv.index_to_key), torch.tensor(g.wv.vectors))
        for tool, kv, secs in (("seqlab", ours, stats["seconds"]), ("gensim", theirs, g_s)):
            a = kv.evaluate_analogies(questions, sections)
            s = kv.evaluate_similarity(pairs)
            rows.append({"tool": tool, "arch": arch, "words_per_s": round(n_words * args.epochs / secs), "train_s": round(secs, 1),
                         "vocab": len(kv.words), "analogy_accuracy": round(a["accuracy"], 4),
                         "analogy_covered": f"{a['covered']}/{a['total']}", "wordsim_spearman": round(s["spearman"], 4),
                         "wordsim_covered": f"{s['covered']}/{s['total']}"})
    write_results(out, "Word2Vec: seqlab vs gensim, same corpus and settings",
                  {"corpus_words": n_words, "settings": settings, "gensim": gensim.__version__, "gensim_workers": args.workers},
                  rows, COLUMNS, args.smoke)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

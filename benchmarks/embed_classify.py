"""Word vectors trained by seqlab itself, used by classifiers: SST-2 and NSMC with vectors from each dataset's own
training text (plus, for English, the other local English text: Multi30k en, SAMSum, tiny Shakespeare; no external
vectors) vs random initialisation, for TextCNN (Kim's non-static) and the bi-GRU.

    python benchmarks/embed_classify.py                     # both datasets, 15 min per classifier, 10 min per embedding
    python benchmarks/embed_classify.py --datasets sst2
    python benchmarks/embed_classify.py --smoke             # seconds, builtin data

For each dataset: the corpus is written to OUT/DATASET.corpus.txt, then
``seqlab train embed --data CORPUS --model skipgram --set model.dim=100 --tokenizer word|morpheme`` (the tokenizer
the classifier uses, so the vocabularies match), then ``seqlab train classify --data DATASET --model M
--set model.embed_dim=100`` with and without ``--set model.vectors=EMBED_RUN`` (TextCNN: ``model.mode=non-static``).
Results: OUT/results.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import out_dir, run_seqlab, write_results  # noqa: E402

COLUMNS = ["dataset", "model", "init", "accuracy", "vectors_found", "train_min", "epochs_done"]
EXTRA_EN = ("multi30k:de-en", "samsum", "tinyshakespeare")


def write_corpus(dataset: str, path: Path, smoke: bool) -> int:
    from seqlab.data.corpus import read_corpus
    from seqlab.data.sources import parse_source

    lines = read_corpus(parse_source(dataset))
    if not smoke and dataset == "sst2":
        for src in EXTRA_EN:
            part = read_corpus(parse_source(src))
            lines += part[len(part) // 2:] if src.startswith("multi30k") else part  # Multi30k: the English side
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="sst2,nsmc")
    ap.add_argument("--models", default="textcnn,gru")
    ap.add_argument("--time-budget", type=float, default=15.0, help="minutes per classifier")
    ap.add_argument("--embed-epochs", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/embed_classify")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("SEQLAB_DATA_MIRROR", "/work/shared/data")
    out = out_dir(args.out, args.smoke)
    datasets = ["builtin:longrange?distance=5&n=400"] if args.smoke else args.datasets.split(",")
    budget = ["--epochs", "1"] if args.smoke else ["--time-budget", str(args.time_budget)]
    rows = []
    for ds in datasets:
        name = "smoke" if args.smoke else ds
        corpus = out / f"{name}.corpus.txt"
        if args.smoke:
            from seqlab.data.builtin import generate

            corpus.write_text("\n".join(generate("longrange", {"distance": "5", "n": "400"}, 0)["texts"]) + "\n")
        else:
            write_corpus(ds, corpus, args.smoke)
        tok = "morpheme" if ds == "nsmc" else "word"
        emb = out / f"{name}.embed"
        s, secs, cmd = run_seqlab(["train", "embed", "--data", str(corpus), "--model", "skipgram", "--set", "model.dim=100",
                                   "--tokenizer", tok, "--epochs", str(1 if args.smoke else args.embed_epochs),
                                   "--set", f"model.min_count={1 if args.smoke else 3}", "--out", str(emb), "--overwrite"],
                                  out / f"{name}.embed.log")
        rows.append({"dataset": ds, "model": "embed skipgram", "init": "-", "train_min": round(secs / 60, 1),
                     "epochs_done": s and s.get("epochs_done"), "command": cmd})
        for model in args.models.split(","):
            for init in ("random", "seqlab vectors"):
                run = out / f"{name}.{model}.{'vec' if init != 'random' else 'rand'}"
                extra = ["--set", "model.embed_dim=100"]
                if init != "random":
                    extra += ["--set", f"model.vectors={emb}"] + (["--set", "model.mode=non-static"] if model == "textcnn" else [])
                s, secs, cmd = run_seqlab(["train", "classify", "--data", ds, "--model", model, "--tokenizer", tok, "--out",
                                           str(run), "--seed", str(args.seed), "--overwrite", *budget, *extra],
                                          out / f"{run.name}.log")
                if s is None:
                    continue
                test = s.get("test") or {}
                meta = json.loads((run / "meta.json").read_text())
                rows.append({"dataset": ds, "model": model, "init": init,
                             "accuracy": round(100 * test.get("accuracy", s.get("best_accuracy", 0.0)), 2),
                             "vectors_found": (meta.get("vectors_coverage") or {}).get("found", "-"),
                             "train_min": round(secs / 60, 1), "epochs_done": s.get("epochs_done"), "command": cmd})
    write_results(out, "classifiers from random vs seqlab-trained word vectors (test accuracy; SST-2: dev)",
                  {"time_budget_min": args.time_budget}, rows, COLUMNS, args.smoke)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

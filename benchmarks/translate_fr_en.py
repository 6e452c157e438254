"""Multi30k French -> English (the notes' "je suis étudiant -> I am a student"): the Transformer and Bahdanau
attention trained from scratch, test BLEU on test_2016_flickr, and the notes' sentence translated.

    python benchmarks/translate_fr_en.py                    # 40 min per model
    python benchmarks/translate_fr_en.py --smoke            # seconds

Each model: ``seqlab train translate --data multi30k:fr-en --model M --time-budget MIN`` (validation = val, greedy
BLEU picks the checkpoint), then the run's test evaluation (beam 5, sacreBLEU on detokenised text) and
``seqlab translate RUN "je suis étudiant"``. Results: OUT/results.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import out_dir, run_seqlab, write_results  # noqa: E402

COLUMNS = ["model", "bleu", "bleu_lowercase", "chrf", "example", "train_min", "epochs_done", "stop_reason"]
SENTENCE = "je suis étudiant"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="transformer,bahdanau")
    ap.add_argument("--time-budget", type=float, default=40.0, help="minutes per model")
    ap.add_argument("--out", default="benchmarks/results/translate_fr_en")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("SEQLAB_DATA_MIRROR", "/work/shared/data")
    out = out_dir(args.out, args.smoke)
    import seqlab

    rows = []
    for model in args.models.split(","):
        extra = ["--time-budget", str(args.time_budget)]
        if args.smoke:
            small = ["model.d_model=32", "model.d_ff=64"] if model == "transformer" else ["model.hidden=32", "model.emb_dim=32"]
            extra = ["--set", "train.max_steps=3", "--set", "data.valid_bleu_max=5", "--test", "multi30k:fr-en?split=val"]
            extra += [x for s in small for x in ("--set", s)]
        summary, secs, cmd = run_seqlab(["train", "translate", "--data", "multi30k:fr-en", "--model", model, "--out",
                                         str(out / model), "--seed", str(args.seed), "--overwrite", *extra],
                                        out / f"{model}.train.log")
        if summary is None:
            continue
        t = summary["test"]
        example = seqlab.load(out / model).predict([SENTENCE], beam=5)[0]["translation"]
        rows.append({"model": model, **{k: round(t[k], 2) for k in ("bleu", "bleu_lowercase", "chrf")},
                     "example": f"{SENTENCE} -> {example}", "train_min": round(secs / 60, 1),
                     "epochs_done": summary.get("epochs_done"), "stop_reason": summary.get("stop_reason"), "command": cmd})
    write_results(out, "Multi30k fr -> en, test_2016_flickr (1,000 sentences), beam 5",
                  {"time_budget_min": args.time_budget}, rows, COLUMNS, args.smoke)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

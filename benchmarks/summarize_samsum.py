"""SAMSum dialogue summarisation: from-scratch seq2seq models vs the LEAD-3 / LONGEST-3 extractive baselines,
ROUGE-1/2/L on the full 819-dialogue test set (rouge-score, Porter stemming, F1; ROUGE-L reported both as
sentence-level ``rougeL`` and summary-level ``rougeLsum``, the one HF's ``rouge`` and most SAMSum papers quote).

    python benchmarks/summarize_samsum.py --baselines-only    # LEAD-3 / LONGEST-3 only (seconds, no training)
    python benchmarks/summarize_samsum.py                     # + transformer (copy) and bahdanau, 45 min each
    python benchmarks/summarize_samsum.py --smoke             # seconds

Each model: ``seqlab train seq2seq --data samsum --model M --time-budget 45 --max-src-len 320 --max-tgt-len 64
--tokenizer bpe`` plus the recipe flags below (validation = the official 818-dialogue split, greedy BLEU picks
the checkpoint), then the run's own test evaluation (beam 5), which reports ROUGE beside BLEU for samsum runs.
Then the decoding is chosen on the validation split only (``seqlab evaluate --data samsum?split=valid
--no-repeat-ngram N --length-penalty A`` for N in --ngram-choices and A in --length-penalties, best mean of
ROUGE-1/2/L) and the test set is scored once more with it. ``--decode-only RUN`` does only that, for a trained run. Target (issue 17): beat LEAD-3 on all three ROUGE scores. SAMSum is CC BY-NC-ND 4.0
(non-commercial); it is read from SEQLAB_DATA_MIRROR.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import out_dir, run_seqlab, write_results  # noqa: E402

COLUMNS = ["system", "rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "no_repeat_ngram", "length_penalty", "train_min",
           "epochs_done", "stop_reason"]
ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu")


def choose_decoding(run, ngrams: list[int], penalties: list[float]) -> tuple[dict, dict]:
    """The (--no-repeat-ngram, --length-penalty) with the best mean ROUGE-1/2/L on the validation split (beam 5)
    for a loaded run, and every pair's scores (with the mean words per summary)."""
    scores = {(n, a): run.evaluate("samsum?split=valid", no_repeat_ngram=n, length_penalty=a, rouge=True)
              for n in ngrams for a in penalties}
    best = max(scores, key=lambda k: (scores[k]["rouge1"] + scores[k]["rouge2"] + scores[k]["rougeL"]) / 3)
    table = {f"ngram {n}, lp {a}": {**{k: round(m[k], 2) for k in ROUGE}, "words": m["mean_words"]["output"]}
             for (n, a), m in scores.items()}
    return {"no_repeat_ngram": best[0], "length_penalty": best[1]}, table


def baselines(n: int | None = None) -> list[dict]:
    from seqlab.data import datasets
    from seqlab.data.summaries import read_dialogue_pairs
    from seqlab.metrics.rouge import rouge
    from seqlab.models.extractive import BASELINES

    src, tgt, _ = read_dialogue_pairs(datasets.fetch("samsum", "test"))
    src, tgt = src[:n], tgt[:n]
    rows = []
    for name, f in BASELINES.items():
        r = rouge([f(s) for s in src], tgt)
        rows.append({"system": name.upper().replace("3", "-3"), **{k: round(r[k], 2) for k in COLUMNS[1:5]},
                     "command": f"python benchmarks/summarize_samsum.py --baselines-only" if not n else ""})
    return rows


def decoded_row(run_dir: Path, name: str, ngrams: list[int], penalties: list[float], info: dict) -> dict:
    """The test scores with the decoding chosen on validation (one test evaluation)."""
    import seqlab

    run = seqlab.load(run_dir)
    best, valid = choose_decoding(run, ngrams, penalties)
    t = run.evaluate("samsum", rouge=True, **best)
    return {"system": f"{name}, decoding chosen on validation", **{k: round(t[k], 2) for k in ROUGE}, **best, **info,
            "words": t["mean_words"], "valid": valid,
            "command": f"seqlab evaluate {run_dir} --data samsum --no-repeat-ngram {best['no_repeat_ngram']} "
                       f"--length-penalty {best['length_penalty']}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="transformer,bahdanau")
    ap.add_argument("--time-budget", type=float, default=45.0, help="minutes per model")
    ap.add_argument("--baselines-only", action="store_true")
    ap.add_argument("--out", default="benchmarks/results/summarize_samsum")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--max-src-len", type=int, default=320)
    ap.add_argument("--max-tgt-len", type=int, default=64)
    ap.add_argument("--recipe", default="--batch-size 64 --precision bf16 --set data.shared_vocab=true "
                    "--set model.share_embeddings=true --set model.copy=true --set data.valid_bleu_max=300",
                    help="extra train flags for the transformer (default: the recipe of RESULTS #17)")
    ap.add_argument("--ngram-choices", default="0,3", help="--no-repeat-ngram values tried on validation")
    ap.add_argument("--length-penalties", default="0.6", help="--length-penalty values tried on validation")
    ap.add_argument("--decode-only", default=None, metavar="RUN",
                    help="no training: choose the decoding of this trained run on validation, then score the test once")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("SEQLAB_DATA_MIRROR", "/work/shared/data")
    out = out_dir(args.out + ("_baselines" if args.baselines_only else ""), args.smoke)
    rows = baselines(50 if args.smoke else None)
    ngrams = [int(x) for x in args.ngram_choices.split(",")]
    penalties = [float(x) for x in args.length_penalties.split(",")]
    if args.decode_only:
        rows.append(decoded_row(Path(args.decode_only), args.decode_only, ngrams, penalties, {}))
    elif not args.baselines_only:
        extra = ["--time-budget", str(args.time_budget)]
        if args.smoke:
            extra = ["--set", "train.max_steps=3", "--set", "data.valid_bleu_max=5", "--set", "model.d_model=32",
                     "--set", "model.d_ff=64", "--test", "samsum?split=valid"]
        for model in args.models.split(","):
            sets = [x for s in args.sets for x in ("--set", s)]
            if args.smoke and model != "transformer":
                extra = [e.replace("model.d_model=32", "model.hidden=32").replace("model.d_ff=64", "model.emb_dim=32")
                         for e in extra]
            recipe = args.recipe.split() if model == "transformer" else []
            summary, secs, cmd = run_seqlab(["train", "seq2seq", "--data", "samsum", "--model", model, "--out", str(out / model),
                                             "--max-src-len", str(args.max_src_len), "--max-tgt-len", str(args.max_tgt_len),
                                             "--tokenizer", "bpe", "--seed", str(args.seed), "--overwrite", *recipe, *extra,
                                             *sets], out / f"{model}.train.log")
            if summary is None:
                continue
            t = summary["test"]
            info = {"train_min": round(secs / 60, 1), "epochs_done": summary.get("epochs_done"),
                    "stop_reason": summary.get("stop_reason")}
            data_cfg = json.loads((out / model / "config.json").read_text())["data"]  # the run's own decoding
            rows.append({"system": model, **{k: round(t[k], 2) for k in ROUGE},
                         "no_repeat_ngram": data_cfg.get("no_repeat_ngram", 0),
                         "length_penalty": data_cfg.get("length_penalty"), **info, "command": cmd})
            rows.append(decoded_row(out / model, model, ngrams, penalties, info))
    write_results(out, "SAMSum test (819 dialogues): ROUGE F1 x100, rouge-score with stemming",
                  {"time_budget_min": args.time_budget}, rows, COLUMNS, args.smoke)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

"""Sequence regression on builtin:frames (the notes' "동작 점수": a clip's score from its frames): every sequence
model under the same time budget, against two references that need no training of a sequence model.

    python benchmarks/regress_frames.py                 # 5 models x 4 min on 10,000 clips (one thread each)
    python benchmarks/regress_frames.py --smoke         # seconds: shows the script works

For each model: ``seqlab train regress --data builtin:frames?n=N --model M --time-budget MIN`` and the run's own
test evaluation (the builtin test split: clips the training never saw). References on the same test clips:
``mean`` predicts the training mean (R² 0 by construction) and ``oracle`` is a least-squares fit on the three
statistics the score is made of (mean speed, peak height, wobble spread), so its RMSE is the generator's noise
floor (0.05). Results: OUT/results.{json,md}.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import out_dir, run_seqlab, sweep_args, write_results  # noqa: E402

COLUMNS = ["model", "mae", "rmse", "r2", "spearman", "train_min", "epochs_done"]


def _scores(pred: np.ndarray, y: np.ndarray) -> dict:
    from seqlab.metrics.regression import regression_report

    return {k: round(float(v), 4) for k, v in regression_report(y, pred).items() if k in COLUMNS}


def references(n: int, seed: int) -> list[dict]:
    """The mean predictor and the least-squares fit on the score's own three statistics, trained on the run's
    training clips and scored on its test clips (the builtin draws each role with seed + ROLE_SEED[role])."""
    from seqlab.data.builtin_frames import frames
    from seqlab.data.labelled import ROLE_SEED

    def stats(d):
        x = np.array([[np.mean(np.array(s)[:, 0]), np.max(np.array(s)[:, 1]), np.std(np.array(s)[:, 2])]
                      for s in d["sequences"]])
        return np.c_[x, np.ones(len(x))], np.array(d["targets"])

    xtr, ytr = stats(frames({"n": str(n)}, seed + ROLE_SEED["train"]))
    xte, yte = stats(frames({"n": str(n)}, seed + ROLE_SEED["test"]))
    w = np.linalg.lstsq(xtr, ytr, rcond=None)[0]
    return [{"model": "mean (reference)", **_scores(np.full_like(yte, ytr.mean()), yte)},
            {"model": "oracle statistics (reference)", **_scores(xte @ w, yte)}]


def main(argv=None) -> int:
    args = sweep_args(__doc__, "rnn,lstm,gru,textcnn,transformer", 10000, "training clips", 4.0, "benchmarks/results/regress_frames", argv)
    out = out_dir(args.out, args.smoke)
    n, budget, extra = args.n, args.time_budget, []
    if args.smoke:
        n, budget, extra = 200, 0.05, ["--epochs", "1"]
    rows = []
    for model in args.models.split(","):
        summary, secs, cmd = run_seqlab(["train", "regress", "--data", f"builtin:frames?n={n}", "--model", model,
                                         "--out", str(out / model), "--time-budget", str(budget), "--seed",
                                         str(args.seed), "--overwrite", *extra], out / f"{model}.train.log")
        if summary is None:
            continue
        t = summary["test"]
        rows.append({"model": model, **{k: round(float(t[k]), 4) for k in COLUMNS[1:5]},
                     "train_min": round(secs / 60, 1), "epochs_done": summary.get("epochs_done"), "command": cmd})
    rows += references(n, args.seed)
    write_results(out, "regress: builtin:frames test split (score about 0..10; noise sd 0.05)",
                  {"n_train": n, "time_budget_min": budget}, rows, COLUMNS, args.smoke)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

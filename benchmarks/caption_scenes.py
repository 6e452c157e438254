"""Captioning builtin:scenes: Show-Attend-Tell (GRU + Bahdanau attention) vs pure vec2seq (the pooled vector only
sets the decoder's first state) vs a Transformer decoder, the same CNN encoder trained from scratch for each.

    python benchmarks/caption_scenes.py                      # 10 min per model on 32x32 scenes, 20k images
    python benchmarks/caption_scenes.py --smoke              # seconds: shows the script works

For each model: ``seqlab train caption --data builtin:scenes?n=N --model M --time-budget MIN``, then test BLEU,
exact match and attribute accuracy (size, colour, shape, relation) on the i.i.d. test split and on the held-out
split of colour-shape pairs never seen in training (``builtin:scenes?split=heldout``). The attention gain is
sat minus vec2seq. Results: OUT/results.{json,md}.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import out_dir, run_seqlab, sweep_args, write_results  # noqa: E402

COLUMNS = ["model", "split", "bleu", "exact_match", "attribute_accuracy", "colour", "shape", "size", "relation",
           "train_min", "epochs_done"]


def main(argv=None) -> int:
    args = sweep_args(__doc__, "sat,vec2seq,transformer", 20000, "training images", 10.0, "benchmarks/results/caption_scenes", argv)
    out = out_dir(args.out, args.smoke)
    n, budget, extra = args.n, args.time_budget, []
    if args.smoke:
        n, budget = 200, 0.1
        extra = ["--set", "model.channels=8", "--set", "model.blocks=2", "--set", "model.hidden=32", "--set",
                 "data.image_size=16", "--epochs", "1"]
    rows = []
    import seqlab

    for model in args.models.split(","):
        summary, secs, cmd = run_seqlab(["train", "caption", "--data", f"builtin:scenes?n={n}", "--model", model, "--out",
                                     str(out / model), "--time-budget", str(budget), "--seed", str(args.seed),
                                     "--overwrite", *extra], out / f"{model}.train.log")
        if summary is None:
            continue
        run = seqlab.load(out / model)
        n_test = 100 if args.smoke else 2000
        for split in ("test", "heldout"):
            m = run.evaluate(f"builtin:scenes?split={split}&n={n_test}", beam=1)
            rows.append({"model": model, "split": split, **{k: m.get(k) for k in COLUMNS[2:9]},
                         "train_min": round(secs / 60, 1), "epochs_done": summary.get("epochs_done"),
                         "command": cmd if split == "test" else ""})
    write_results(out, "caption: builtin:scenes (greedy decoding)", {"n_train": n, "time_budget_min": budget}, rows,
                  COLUMNS, args.smoke)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

"""BERT transfer learning on SST-2, through the real CLI: does masked-LM pre-training help with few labels?

1. ``seqlab train mlm`` on the SST-2 training sentences (labels unused), under a time budget.
2. ``seqlab train classify --model bert --init MLM_RUN`` on 1%, 10% and 100% of the labelled training
   sentences (stratified, seeded subsets), against the same BERT trained from scratch on the same subset
   with the same tokenizer shape. Every run is tested on the SST-2 dev set (872 sentences).

    SEQLAB_DATA_MIRROR=/work/shared/data flock /tmp/seqlab-cpu.lock \\
        python benchmarks/bert_sst2.py --pretrain-minutes 20 --finetune-minutes 4 --out benchmarks/results/bert_sst2.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

BERT = ["--set", "model.n_layer=4", "--set", "model.n_head=4", "--set", "model.d_model=256", "--set", "model.d_ff=1024"]


def cli(*args) -> dict:
    cmd = [sys.executable, "-m", "seqlab", "-q", *map(str, args), "--json"]
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def subsets(rows: list[tuple[str, str]], fractions: list[float], folder: Path, seed: int) -> dict[float, Path]:
    by: dict[str, list] = {}
    for r in rows:
        by.setdefault(r[1], []).append(r)
    out = {}
    for f in fractions:
        rng = random.Random(seed)
        pick = [r for lab in sorted(by) for r in rng.sample(by[lab], max(10, round(len(by[lab]) * f)))]
        rng.shuffle(pick)
        path = folder / f"sst2_train_{f:g}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["sentence", "label"])
            w.writerows(pick)
        out[f] = path
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain-minutes", type=float, default=20)
    ap.add_argument("--finetune-minutes", type=float, default=4)
    ap.add_argument("--fractions", default="0.01,0.1,1.0")
    ap.add_argument("--runs", default="runs/bench-bert-sst2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if "SEQLAB_DATA_MIRROR" not in os.environ and Path("/work/shared/data/sst2").is_dir():
        os.environ["SEQLAB_DATA_MIRROR"] = "/work/shared/data"
    from seqlab.data import datasets
    from seqlab.data.readers import read_table

    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    table = read_table(datasets.fetch("sst2", "train"), wanted=("sentence", "label"))
    rows = list(zip(table.column("sentence"), table.column("label")))
    res = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "args": vars(args), "n_train": len(rows)}
    res["mlm"] = cli("train", "mlm", "--data", "sst2", "--model", "bert", *BERT, "--set", "data.max_len=64",
                     "--epochs", "100", "--time-budget", args.pretrain_minutes, "--set", "train.patience=0",
                     "--out", runs / "mlm", "--overwrite")
    res["finetune"] = {}
    for f, path in subsets(rows, [float(x) for x in args.fractions.split(",")], runs, args.seed).items():
        common = ["--data", path, "--test", "sst2", "--model", "bert", "--epochs", "30", "--lr", "1e-4",
                  "--time-budget", args.finetune_minutes, "--seed", args.seed]
        pre = cli("train", "classify", *common, "--init", runs / "mlm", "--out", runs / f"pre_{f:g}", "--overwrite")
        # from scratch: the same architecture and the pre-training run's WordPiece size, random weights
        scratch = cli("train", "classify", *common, *BERT, "--tokenizer", "wordpiece", "--set", "data.vocab_size=8000",
                      "--set", "model.max_position=64", "--lr", "5e-4", "--out", runs / f"scratch_{f:g}", "--overwrite")
        res["finetune"][f"{f:g}"] = {"pretrained_test_accuracy": pre["test"]["accuracy"],
                                     "scratch_test_accuracy": scratch["test"]["accuracy"],
                                     "n_labelled": sum(1 for _ in open(path, encoding="utf-8")) - 1}
        print(json.dumps(res["finetune"][f"{f:g}"]), flush=True)
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

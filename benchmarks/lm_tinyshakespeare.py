"""Character-level language models on tiny Shakespeare, each under a wall-clock budget, through the real CLI.

A GPT (decoder-only Transformer) and an LSTM beside it train on the first 90% of the 1,115,394
characters and are scored on the last 10% (loss in nats/char, bits/char, next-char accuracy; every
scored character has at least block_size/2 characters of context). Target: GPT val loss <= 1.60 within
15 minutes on 2 CPU cores. Then each writes a short sample.

    SEQLAB_DATA_MIRROR=/work/shared/data flock /tmp/seqlab-cpu.lock \\
        python benchmarks/lm_tinyshakespeare.py --minutes 15 --out benchmarks/results/lm_tinyshakespeare.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

MODELS = {
    # name: (seqlab model, flags)
    "gpt": ("gpt", ["--block-size", "128", "--batch-size", "32", "--lr", "2e-3",
                    "--set", "model.n_layer=4", "--set", "model.n_head=4", "--set", "model.n_embd=256",
                    "--set", "model.dropout=0.1", "--set", "model.attn_dropout=0", "--precision", "bf16"]),
    "lstm": ("lstm", ["--block-size", "128", "--batch-size", "32", "--lr", "3e-3",
                      "--set", "model.n_layer=2", "--set", "model.hidden=512", "--set", "model.d_emb=128",
                      "--set", "model.dropout=0.1"]),
}


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=15.0, help="time budget per model")
    ap.add_argument("--models", default="gpt,lstm")
    ap.add_argument("--runs", default="runs/bench-shakespeare", help="folder for the run directories")
    ap.add_argument("--eval-every", type=int, default=150)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if "SEQLAB_DATA_MIRROR" not in os.environ and Path("/work/shared/data/tinyshakespeare").is_dir():
        os.environ["SEQLAB_DATA_MIRROR"] = "/work/shared/data"
    seqlab = [sys.executable, "-m", "seqlab"]
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "minutes": args.minutes,
               "threads": os.environ.get("OMP_NUM_THREADS", "default"), "models": {}}
    for name in args.models.split(","):
        model, flags = MODELS[name]
        out = Path(args.runs) / name
        t = time.time()
        p = run([*seqlab, "-q", "train", "lm", "--data", "tinyshakespeare", "--model", model, *flags,
                 "--epochs", "1000", "--time-budget", str(args.minutes), "--set", f"train.eval_every={args.eval_every}",
                 "--set", "train.patience=0", "--out", str(out), "--overwrite", "--json"])
        if p.returncode:
            print(p.stderr, file=sys.stderr)
            results["models"][name] = {"error": p.stderr.strip().splitlines()[-1:]}
            continue
        summary = json.loads(p.stdout.strip().splitlines()[-1])
        g = run([*seqlab, "generate", str(out), "--prompt", "ROMEO:", "--max-new-tokens", "300", "--top-k", "20",
                 "--seed", "1", "--json"])
        sample = json.loads(g.stdout)["generations"][0]["text"] if g.returncode == 0 else g.stderr
        results["models"][name] = {"flags": flags, "val_loss": summary.get("best_loss"),
                                   "bits_per_char": summary.get("bits_per_char"), "accuracy": summary.get("accuracy"),
                                   "steps": summary.get("steps"), "tokens_per_s": summary.get("tokens_per_s"),
                                   "precision": summary.get("precision"), "stop_reason": summary.get("stop_reason"),
                                   "wall_s": round(time.time() - t, 1), "meets_1.60": (summary.get("best_loss") or 9) <= 1.60,
                                   "sample": "ROMEO:" + sample}
        print(json.dumps(results["models"][name], indent=2, ensure_ascii=False), flush=True)
        if args.out:  # after every model, so a cut-short session keeps what finished
            Path(args.out).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = json.dumps(results, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

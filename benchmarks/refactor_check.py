"""The task-protocol refactor changed no number: the same short, seeded runs on the real benchmark data
(one per task family) through the CLI of two commits, test metrics compared.

    SEQLAB_DATA_MIRROR=../shared/data python benchmarks/refactor_check.py --before SRC_DIR_OF_OLD_COMMIT --out DIR

``--before`` is the ``src`` folder of a checkout of the commit before the refactor (e.g. a git worktree);
the current checkout's ``src`` is the "after". Each run is fp32, seeded, on one thread, with a fixed number
of optimizer steps (no time budget), so its numbers depend on the code alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

COMMON = ["--precision", "fp32", "--seed", "0", "--device", "cpu"]
RUNS = {
    "classify-sst2-gru": ["train", "classify", "--data", "sst2", "--model", "gru", "--set", "train.max_steps=300",
                          "--set", "model.hidden=64", "--set", "model.embed_dim=64"],
    "seq2seq-multi30k-gru": ["train", "seq2seq", "--data", "multi30k:de-en", "--model", "gru", "--set",
                             "train.max_steps=150", "--set", "model.hidden=128", "--set", "model.emb_dim=64",
                             "--set", "data.beam=1", "--set", "data.valid_bleu_max=200"],
    "lm-tinyshakespeare-gpt": ["train", "lm", "--data", "tinyshakespeare", "--model", "gpt", "--set",
                               "train.max_steps=150", "--set", "model.n_layer=2", "--set", "model.n_embd=64",
                               "--set", "model.n_head=2", "--set", "model.block_size=64"],
    "mlm-sst2-bert": ["train", "mlm", "--data", "sst2", "--model", "bert", "--set", "train.max_steps=100",
                      "--set", "model.n_layer=1", "--set", "model.d_model=64", "--set", "model.n_head=2",
                      "--set", "model.d_ff=128", "--set", "data.max_len=48"],
    "forecast-etth1-dlinear": ["train", "forecast", "--data", "etth1", "--target", "all", "--model", "dlinear",
                               "--horizon", "96", "--epochs", "2"],
}


def run(src: Path, args: list[str], out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "seqlab", "-q", *args, *COMMON, "--out", str(out), "--json"],
                         env=env, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{args[:3]} failed in {src}:\n{res.stderr[-2000:]}")
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    keep = ("accuracy", "macro_f1", "loss", "bleu", "chrf", "perplexity", "bits_per_char", "mse", "mae", "mse_scaled")
    best = {k: v for k, v in summary.items() if k.startswith("best_") and k != "best_step"}
    test = {k: v for k, v in (summary.get("test") or {}).items() if k in keep}
    return {"best": best, "test": test, "steps": summary["steps"], "seconds": round(time.perf_counter() - t, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    after = Path(__file__).resolve().parents[1] / "src"
    rows = {}
    for name, args in RUNS.items():
        if a.only and name not in a.only:
            continue
        rows[name] = {"before": run(a.before, args, a.out / "before" / name),
                      "after": run(after, args, a.out / "after" / name)}
        same = rows[name]["before"]["best"] == rows[name]["after"]["best"] and \
            rows[name]["before"]["test"] == rows[name]["after"]["test"]
        rows[name]["identical"] = same
        print(f"{name}: identical={same} before={rows[name]['before']} after={rows[name]['after']}", flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "refactor_check.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(r["identical"] for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""One `seqlab train` command at two commits, rounds alternating, in one session: the speed-up a change gives
through the real CLI (data, batching, engine and all), as a ratio measured on the same machine minutes apart.

The base commit is checked out into a temporary git worktree and run with ``PYTHONPATH`` pointing at its
``src``; the other side runs the working tree. Each round runs both, in alternating order, each into a fresh
``--out``; what is compared is the trained tokens per second the command reports (its own clock, excluding data
preparation and the test set), plus the wall time of the whole command.

    SEQLAB_DATA_MIRROR=/work/shared/data OMP_NUM_THREADS=2 python benchmarks/ab_cli.py --base 86be72b --rounds 3 \
        --out benchmarks/results/ab_train_step_multi30k.json -- train translate --data multi30k:de-en \
        --model transformer --set model.dropout=0.3 --set data.shared_vocab=true --set model.share_embeddings=true \
        --set data.src_vocab_size=10000 --set train.ema=0.999 --set train.max_steps=60 --set data.valid_bleu_max=16
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import ab_args, ab_rounds, emit, git_commit, machine, now  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(src: Path, args: list[str], out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "seqlab.cli.main", "-q", *args, "--out", str(out), "--json"],
                          env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"exit {proc.returncode} from {src}: {proc.stderr.strip()[-2000:]}")
    summary = json.loads(proc.stdout)
    return {"tokens_per_s": summary.get("tokens_per_s"), "train_wall_s": summary.get("wall_s"),
            "steps": summary.get("steps"), "precision": summary.get("precision"), "command_wall_s": round(wall, 1)}


def main() -> int:
    a, args = ab_args(__doc__, "the seqlab arguments (without --out/--json)")
    rows, base = ab_rounds(a.base, a.rounds, lambda src, scratch: run(src, args, scratch))
    ratios = [h["tokens_per_s"] / b["tokens_per_s"] for b, h in zip(rows["base"], rows["head"])]
    result = {"benchmark": "ab_cli", "date": now(), "commit": git_commit(), "base": base, "machine": machine(),
              "command": " ".join(sys.argv), "runs": rows, "head_over_base_tokens_per_s": [round(x, 3) for x in ratios]}
    emit(result, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""engines.py's GPT generation at two commits, rounds alternating: what a change to seqlab's decoding does
to its tokens/s (and, with ``--rss``, its peak memory), as ratios measured on the same machine minutes apart.

The base commit is checked out into a temporary git worktree; each round runs the working tree's
``benchmarks/engines.py --rounds 1`` once with ``PYTHONPATH`` at the base's ``src`` and once at this tree's,
in alternating order, each in its own process (so the C kernels of each side are built and loaded apart).

    OMP_NUM_THREADS=2 python benchmarks/ab_engines.py --base HEAD~1 --rounds 3 --out benchmarks/results/ab_generate.json \\
        -- --sections gpt --sizes small gpt2 --gpt-engines seqlab_fp32 seqlab_bf16 seqlab_int8 --threads 2
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import ab_args, ab_rounds, emit, git_commit, machine, now  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def run(src: Path, args: list[str], out: Path) -> dict:
    """One engines.py run against ``src``: {"SIZE/batchB/ENGINE": tokens/s, "rss/ENGINE": MiB}."""
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "engines.py"), *args, "--rounds", "1",
                           "--out", str(out)], env=env, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"exit {proc.returncode} from {src}: {proc.stderr.strip()[-2000:]}")
    res = json.loads(out.read_text())
    flat = {}
    for size, batches in res.get("gpt", {}).items():
        for batch, r in batches.items():
            for engine, tps in r.get("tokens_per_s", {}).items():
                flat[f"{size}/{batch}/{engine}"] = tps
    for engine, mib in res.get("gpt_peak_rss_mib", {}).items():
        if engine not in ("size", "batch"):
            flat[f"rss/{engine}"] = mib
    return flat


def main() -> int:
    a, args = ab_args(__doc__, "engines.py's arguments (without --rounds/--out)")
    rows, base = ab_rounds(a.base, a.rounds, lambda src, scratch: run(src, args, scratch.with_suffix(".json")))
    ratios = {k: [round(h[k] / b[k], 3) for b, h in zip(rows["base"], rows["head"]) if b.get(k) and h.get(k)]
              for k in rows["head"][0]}
    result = {"benchmark": "ab_engines", "date": now(), "commit": git_commit(), "base": base, "machine": machine(),
              "command": " ".join(sys.argv), "runs": rows, "head_over_base_per_round": ratios}
    emit(result, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

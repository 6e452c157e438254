"""engines.py's GPT generation at two commits, rounds alternating: what a change to seqlab's decoding does
to its tokens/s (and, with ``--rss``, its peak memory), as ratios measured on the same machine minutes apart.

The base commit is checked out into a temporary git worktree; each round runs the working tree's
``benchmarks/engines.py --rounds 1`` once with ``PYTHONPATH`` at the base's ``src`` and once at this tree's,
in alternating order, each in its own process (so the C kernels of each side are built and loaded apart).

    OMP_NUM_THREADS=2 python benchmarks/ab_engines.py --base HEAD~1 --rounds 3 --out benchmarks/results/ab_generate.json \\
        -- --sections gpt --sizes small gpt2 --gpt-engines seqlab_fp32 seqlab_bf16 seqlab_int8 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import base_worktree, emit, git_commit, machine, now  # noqa: E402

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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the commit to compare against (run from a git worktree)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("args", nargs=argparse.REMAINDER, help="-- then engines.py's arguments (without --rounds/--out)")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    rows = {"base": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="seqlab-ab-") as tmp, base_worktree(a.base, Path(tmp)) as (tree, base):
        for r in range(a.rounds):
            for side in (["base", "head"] if r % 2 == 0 else ["head", "base"]):
                src = tree / "src" if side == "base" else ROOT / "src"
                rows[side].append(run(src, args, Path(tmp) / f"{side}{r}.json"))
                print(f"round {r} {side}: {rows[side][-1]}", file=sys.stderr, flush=True)
    ratios = {k: [round(h[k] / b[k], 3) for b, h in zip(rows["base"], rows["head"]) if b.get(k) and h.get(k)]
              for k in rows["head"][0]}
    result = {"benchmark": "ab_engines", "date": now(), "commit": git_commit(), "base": base, "machine": machine(),
              "command": " ".join(sys.argv), "runs": rows, "head_over_base_per_round": ratios}
    emit(result, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

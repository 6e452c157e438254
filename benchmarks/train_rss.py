"""Peak resident memory of a short ``seqlab train`` run, as it is and under allocator settings.

Runs the same training command once per ``--env`` variant (``-`` = the environment as it is) and round, each in
its own process under ``/usr/bin/time -v``, variants in rotated order each round, and reports the maximum resident
set size, the wall time and the trained tokens per second the command reports (its own clock). Used to tell
activation memory from allocator fragmentation (glibc serves freed tensors' memory again only when it fits;
``MALLOC_MMAP_THRESHOLD_`` sends large allocations to mmap, returned to the system on free) and to compare
allocators (``--env SEQLAB_ALLOCATOR=system --env SEQLAB_ALLOCATOR=tcmalloc``: seqlab/allocator.py).

    SEQLAB_DATA_MIRROR=/work/shared/data python benchmarks/train_rss.py --env - --env MALLOC_MMAP_THRESHOLD_=65536 \\
        --out benchmarks/results/train_rss_samsum.json -- seq2seq --data samsum --set train.max_steps=40 \\
        --set data.valid_bleu_max=16 --precision bf16
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import git_commit, machine, now  # noqa: E402


def run(variant: str, train: list[str], seqlab: str) -> dict:
    env = dict(os.environ)
    if variant != "-":
        name, _, value = variant.partition("=")
        env[name] = value
    with tempfile.TemporaryDirectory() as d:
        cmd = ["/usr/bin/time", "-v", seqlab, "-q", "train", *train, "--out", str(Path(d) / "run"), "--json"]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", p.stderr)
    try:
        tokens_per_s = json.loads(p.stdout).get("tokens_per_s")
    except ValueError:
        tokens_per_s = None
    return {"env": variant, "rc": p.returncode, "max_rss_mb": round(int(rss.group(1)) / 1024) if rss else None,
            "wall": wall.group(1) if wall else None, "tokens_per_s": tokens_per_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for one variant, or - (repeatable)")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each variant, the order rotated each round")
    ap.add_argument("--out", default=None)
    ap.add_argument("train", nargs=argparse.REMAINDER, help="-- then the arguments of seqlab train")
    args = ap.parse_args()
    train = [a for a in args.train if a != "--"]
    seqlab = str(Path(sys.executable).parent / "seqlab")
    variants = args.env or ["-"]
    rows = []
    for r in range(args.rounds):
        for variant in variants[r % len(variants):] + variants[:r % len(variants)]:
            rows.append({"round": r, **run(variant, train, seqlab)})
            print(rows[-1], flush=True)
    result = {"benchmark": "train_rss", "date": now(), "commit": git_commit(), "machine": machine(),
              "command": " ".join(sys.argv), "train": train, "rows": rows}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""This machine's streaming read bandwidth, and the decode speed it allows each GPT of engines.py.

A batch-1 decode step reads every weight once, so weights-bytes / bandwidth is a floor on its time (the
key/value cache, the activations and the threads' meetings come on top), whatever the engine. membw.c sums a
buffer with 64-byte loads on 1..T threads, each thread its contiguous share, as gpt_step.c's threads stream
their blocks of a weight; the best of ``--repeats`` reads is reported (a read that lost the CPU says little),
and the median beside it. Built with the system C compiler (``-O2 -march=native -pthread``).

    OMP_NUM_THREADS=2 python benchmarks/membw.py --threads 1 2 --out benchmarks/results/membw.json
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import emit, git_commit, machine, now  # noqa: E402
from engines import SIZES  # noqa: E402

BYTES_PER_WEIGHT = {"fp32": 4, "bf16": 2, "int8": 1}


def weights(spec: dict) -> int:
    """Parameters a decode step reads: the blocks' matrices and the (tied) output layer; the embedding rows,
    norms and biases are negligible (one row of wte and wpe per token)."""
    C, V = spec["n_embd"], spec["vocab_size"]
    return spec["n_layer"] * 12 * C * C + V * C


def build(tmp: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("membw: no C compiler (cc or gcc) on PATH; install one (Debian: apt-get install gcc)")
    exe = tmp / "membw"
    src = Path(__file__).with_name("membw.c")
    for flags in (["-march=native"], []):
        if subprocess.run([cc, "-O2", *flags, "-pthread", "-o", str(exe), str(src)], capture_output=True).returncode == 0:
            return exe
    sys.exit(f"membw: {cc} could not build {src}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--mib", type=int, default=1024, help="buffer size (MiB), far above the caches")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp))
        for t in args.threads:
            out = subprocess.run([str(exe), str(args.mib), str(t), str(args.repeats)], capture_output=True, text=True,
                                 check=True).stdout.split("\n")
            secs = [float(line.split()[0]) for line in out if line.strip()]
            gbs = [(args.mib << 20) / s / 1e9 for s in secs]
            rows.append({"threads": t, "best_gb_s": round(max(gbs), 2), "median_gb_s": round(statistics.median(gbs), 2)})
    best = max(r["best_gb_s"] for r in rows)
    ceilings = {size: {p: round(best * 1e9 / (weights(spec) * b), 1) for p, b in BYTES_PER_WEIGHT.items()}
                for size, spec in SIZES.items() if size != "smoke"}
    emit({"date": now(), "commit": git_commit(), "machine": machine(), "mib": args.mib, "repeats": args.repeats,
          "bandwidth": rows, "weights": {s: weights(SIZES[s]) for s in ceilings},
          "ceiling_tokens_per_s_batch1": ceilings,
          "note": "weights / best bandwidth: a floor on a batch-1 step's time where the weights do not fit the "
                  "last-level cache (the cache, the activations and the threads' meetings come on top)"},
          args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

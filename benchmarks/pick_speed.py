"""The work between two GPT decode steps, timed alone on one thread: picking the next tokens from (B, V) logits.

    OMP_NUM_THREADS=1 python benchmarks/pick_speed.py --out benchmarks/results/generate_speed21/pick_speed.json

Greedy: PyTorch's ``argmax`` against numpy's (what ``seqlab.models.sampling.pick_next`` uses on the CPU).
Sampling from ``softmax(logits)``: ``torch.multinomial(probs, 1)`` against ``sample_rows`` (inverse CDF, what
seqlab uses). Milliseconds per call, median of ``--calls`` calls after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from bench_util import git_commit, machine, now
from seqlab.models.sampling import sample_rows


def ms(fn, calls: int) -> float:
    fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(1e3 * statistics.median(times), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    logits = torch.randn(args.batch, args.vocab, generator=torch.Generator().manual_seed(0))
    probs = torch.softmax(logits, -1)
    g = torch.Generator().manual_seed(0)
    result = {"args": vars(args), "commit": git_commit(), "date": now(), "machine": machine(), "ms": {
        "torch_argmax": ms(lambda: logits.argmax(-1), args.calls),
        "numpy_argmax": ms(lambda: torch.from_numpy(logits.numpy().argmax(-1)), args.calls),
        "torch_multinomial": ms(lambda: torch.multinomial(probs, 1, generator=g), args.calls),
        "sample_rows": ms(lambda: sample_rows(probs, g), args.calls),
    }}
    print(json.dumps(result["ms"]))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The work between two GPT decode steps, timed alone on one thread: picking the next tokens from (B, V) logits.

    OMP_NUM_THREADS=1 python benchmarks/pick_speed.py --out benchmarks/results/generate_speed21/pick_speed.json

Greedy: PyTorch's ``argmax`` against numpy's (what ``seqlab.models.sampling.pick_next`` uses on the CPU).
Sampling from ``softmax(logits)``: ``torch.multinomial(probs, 1)`` against ``sample_rows`` (inverse CDF, what
seqlab uses). Top-k and top-p sampling from the logits: the processors over the whole row and a draw
(``full_*``: ``process_logits`` + ``pick_next``) against ``next_tokens`` (``cand_*``: filtering among the largest
logits, :mod:`seqlab.models.candidates`); top-p alone on the N(0, 1) logits (a nucleus of ~30,000 tokens at
p = 0.9: the candidates give up and the full row decides, so this times the fallback) and on logits x 4 (~270
tokens, nearer a trained model's). Milliseconds per call, median of ``--calls`` calls after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from bench_util import git_commit, machine, now
from seqlab.models.sampling import GenerationConfig, next_tokens, pick_next, process_logits, sample_rows


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
    peaked = logits * 4
    for name, cfg, x in [("top_k50", GenerationConfig(top_k=50), logits),
                         ("top_k50_top_p0.9", GenerationConfig(top_k=50, top_p=0.9), logits),
                         ("top_p0.9_flat", GenerationConfig(top_p=0.9), logits),
                         ("top_p0.9_peaked", GenerationConfig(top_p=0.9), peaked)]:
        result["ms"][f"full_{name}"] = ms(lambda: pick_next(process_logits(x, cfg, None), cfg, g), args.calls)
        result["ms"][f"cand_{name}"] = ms(lambda: next_tokens(x, cfg, None, g), args.calls)
    print(json.dumps(result["ms"]))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

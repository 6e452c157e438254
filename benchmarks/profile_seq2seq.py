"""Where a seq2seq run's beam search spends its time: PyTorch's profiler over one batch of real sources.

Loads RUN, decodes the first ``--sentences`` lines of ``--src`` once to warm up, times them, then profiles one
batch of ``--batch`` sentences and prints the operators by self CPU time (``--fp32`` keeps bf16 off at any
batch size, as CTranslate2's fp32 comparison in RESULTS.md #14 needs).

    OMP_NUM_THREADS=2 python benchmarks/profile_seq2seq.py RUN --src $SEQLAB_DATA_MIRROR/multi30k/test_2016_flickr.de.gz --fp32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import read_lines  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--src", required=True, help="source sentences, one a line (.gz too)")
    ap.add_argument("--sentences", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--fp32", action="store_true", help="no bf16 at any batch size")
    ap.add_argument("--rows", type=int, default=25, help="operators listed")
    args = ap.parse_args()
    from torch.profiler import ProfilerActivity, profile

    import seqlab
    from seqlab.tasks import seq2seq_run

    if args.fp32:
        seq2seq_run.BF16_MIN_ROWS = 10**9
    texts = read_lines(args.src, args.sentences)
    run = seqlab.load(args.run)
    if args.fp32:
        run.precision = "fp32"  # the output projection too
    run.predict(texts[:args.batch], beam=args.beam, batch_size=args.batch)  # warm-up
    t = time.perf_counter()
    run.predict(texts, beam=args.beam, batch_size=args.batch)
    print(f"{len(texts) / (time.perf_counter() - t):.1f} sentences/s, beam {args.beam}, batch {args.batch}")
    with profile(activities=[ProfilerActivity.CPU]) as p:
        run.predict(texts[:args.batch], beam=args.beam, batch_size=args.batch)
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


if __name__ == "__main__":
    main()

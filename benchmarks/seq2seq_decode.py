"""Decode speed of a seq2seq run by precision and batch size (the measurement behind seq2seq_run.BF16_MIN_ROWS).

Translates the first ``--sentences`` lines of ``--src`` with ``run.predict`` (beam ``--beam``) in batches of
each ``--batches`` size under bf16 autocast, in fp32, and ``mixed`` (fp32 but the Transformer's output projection in
bf16: what a bf16 run decodes below BF16_MIN_ROWS), alternating precisions over ``--rounds`` rounds; reports
sentences/s (best round) per batch size and precision. With ``--ref`` (the references of ``--src``, one a
line), also each precision's sacreBLEU at each batch size (the last round's translations) and the share of
sentences it translates exactly as fp32 does.

    OMP_NUM_THREADS=2 python benchmarks/seq2seq_decode.py RUN --src $SEQLAB_DATA_MIRROR/multi30k/test_2016_flickr.de.gz \
        --out benchmarks/results/seq2seq_decode_precision.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import read_lines  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--src", required=True, help="source sentences, one a line (.gz too)")
    ap.add_argument("--sentences", type=int, default=128)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 4, 16, 64])
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ref", default=None, help="references of --src (.gz too): BLEU per precision")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch

    import seqlab
    from seqlab.tasks import seq2seq_run

    texts = read_lines(args.src, args.sentences)
    refs = read_lines(args.ref, args.sentences) if args.ref else None
    run = seqlab.load(args.run)
    run.predict(texts[:4], beam=args.beam)  # warm-up
    res = {"run": args.run, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "threads": torch.get_num_threads(), "beam": args.beam, "sentences": len(texts), "sentences_per_s": {}}
    for B in args.batches:
        n = min(len(texts), 32) if B == 1 and not refs else len(texts)  # batch 1 is slow: 32 sentences are enough
        best, outputs = {}, {}
        for _ in range(args.rounds):
            for p in ("bf16", "fp32", "mixed"):
                run.precision = "bf16" if p == "mixed" else p
                seq2seq_run.BF16_MIN_ROWS = 10**9 if p == "mixed" else 0
                t = time.perf_counter()
                outputs[p] = [o["translation"] for o in run.predict(texts[:n], beam=args.beam, batch_size=B)]
                best[p] = max(best.get(p, 0.0), n / (time.perf_counter() - t))
        res["sentences_per_s"][f"batch{B}"] = {p: round(v, 1) for p, v in best.items()}
        if refs:
            from seqlab.metrics.translation import bleu_chrf

            res.setdefault("bleu", {})[f"batch{B}"] = {p: bleu_chrf(o, refs[:n])["bleu"] for p, o in outputs.items()}
            res.setdefault("same_as_fp32", {})[f"batch{B}"] = {
                p: round(sum(a == b for a, b in zip(o, outputs["fp32"])) / n, 4) for p, o in outputs.items()}
            print(f"batch {B}: BLEU {res['bleu'][f'batch{B}']}, same as fp32 {res['same_as_fp32'][f'batch{B}']}", flush=True)
        print(f"batch {B}: " + ", ".join(f"{p} {v:.1f}" for p, v in best.items()) + " sentences/s", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()

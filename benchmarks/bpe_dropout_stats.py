"""What BPE-dropout does to a seq2seq run's training text: token growth, agreement at rate 0, sampler cost.

    SEQLAB_DATA_MIRROR=/work/shared/data python benchmarks/bpe_dropout_stats.py RUN --data multi30k:de-en

Loads RUN's tokenizer (a BPE run, e.g. benchmarks/results/seq2seq_multi30k_bpedrop/transformer) and the
training pairs of ``--data``; prints, as JSON: how many texts the sampler at rate 0 segments exactly as
``tokenizers`` does, the tokens per epoch at ``--rate`` (default: the run's ``data.bpe_dropout``) against plain
BPE, and the seconds to draw the variants and to encode one epoch.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--data", required=True)
    ap.add_argument("--rate", type=float, default=None)
    args = ap.parse_args()
    from seqlab.data.bpe_dropout import BPEDropout
    from seqlab.data.pairs import read_pairs
    from seqlab.data.sources import parse_source
    from seqlab.data.tokenizers import load_tokenizer
    from seqlab.tasks.seq2seq import Seq2SeqData

    cfg = json.loads((Path(args.run) / "config.json").read_text())
    rate = args.rate if args.rate is not None else cfg["data"]["bpe_dropout"]
    tok = load_tokenizer(Path(args.run) / "tokenizer.src.json")
    pairs = read_pairs(parse_source(args.data, "--data"), Seq2SeqData(), "train", 0)
    texts = pairs.src + pairs.tgt
    plain = tok.encode_batch(texts)
    same = sum(a == b for a, b in zip(BPEDropout(tok.hf, texts, 0.0, 0).encode_epoch(0), plain))
    t = time.perf_counter()
    sampler = BPEDropout(tok.hf, texts, rate, 0)
    build = time.perf_counter() - t
    t = time.perf_counter()
    epoch = sampler.encode_epoch(1)
    enc = time.perf_counter() - t
    print(json.dumps({"texts": len(texts), "rate_0_equal_to_tokenizers": same, "rate": rate,
                      "tokens_plain": sum(map(len, plain)), "tokens_dropout_epoch1": sum(map(len, epoch)),
                      "ratio": round(sum(map(len, epoch)) / sum(map(len, plain)), 4),
                      "draw_variants_s": round(build, 2), "encode_epoch_s": round(enc, 2)}, indent=1))


if __name__ == "__main__":
    main()

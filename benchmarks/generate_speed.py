"""seqlab ``generate`` alone in its process, greedy and sampled: tokens/s per precision (issue 14's GPT sizes).

    OMP_NUM_THREADS=2 python benchmarks/generate_speed.py --size gpt2 --batch 8 --out OUT.json
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/generate_speed.py ...   # the same on other code

The weights are ``engines.py``'s random GPT-2-layout model (``small`` or ``gpt2``), imported as a seqlab run.
Each precision is prepared as ``seqlab generate --precision P`` prepares it, then each decoding (greedy; sampled
with ``--top-k``, seed 0, temperature 1) generates ``--new-tokens`` tokens after a 16-token prompt for each of
``--batch`` rows, ``--rounds`` times after one warm-up; the best round's tokens/s and every round's seconds are
written. No other engine runs in the process (unlike engines.py), as in ``seqlab generate``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_util import git_commit, machine, now
from engines import SIZES, build_gpt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="gpt2")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    ap.add_argument("--top-k", type=int, default=50, help="the sampled decoding's top-k (0 = the whole vocabulary)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import torch

    import seqlab
    from seqlab.models.sampling import GenerationConfig, generate, prepare_for_generation

    torch.set_num_threads(args.threads)
    prompts = np.random.default_rng(0).integers(1, SIZES[args.size]["vocab_size"], size=(args.batch, 16)).tolist()
    decodings = {"greedy": dict(greedy=True), f"sampled_top{args.top_k}": dict(top_k=args.top_k, seed=0)}
    result = {"args": vars(args), "seqlab": seqlab.__file__, "commit": git_commit(), "date": now(), "machine": machine(),
              "tokens_per_s": {}, "seconds": {}}
    with tempfile.TemporaryDirectory() as d:
        paths = build_gpt(args.size, 16 + args.new_tokens, Path(d), engines=("seqlab_fp32",))
        module = seqlab.load(paths["run"]).module
        for precision in args.precisions:
            model, used = prepare_for_generation(module, precision, None)
            for name, kw in decodings.items():
                cfg = GenerationConfig(max_new_tokens=args.new_tokens, **kw)
                generate(model, prompts, cfg)  # warm-up
                times = []
                for _ in range(args.rounds):
                    t = time.perf_counter()
                    generate(model, prompts, cfg)
                    times.append(round(time.perf_counter() - t, 4))
                key = f"{used}_{name}"
                result["seconds"][key] = times
                result["tokens_per_s"][key] = round(args.batch * args.new_tokens / min(times), 1)
                print(f"{args.size} batch {args.batch} {key}: {result['tokens_per_s'][key]:,.1f} tokens/s", file=sys.stderr)
            del model
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

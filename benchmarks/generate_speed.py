"""seqlab ``generate`` alone in its process, greedy and sampled: tokens/s per precision (issue 14's GPT sizes).

    OMP_NUM_THREADS=2 python benchmarks/generate_speed.py --size gpt2 --batch 8 --out OUT.json
    PYTHONPATH=/path/to/other/checkout/src python benchmarks/generate_speed.py ...   # the same on other code

The weights are ``engines.py``'s random GPT-2-layout model (``small`` or ``gpt2``), imported as a seqlab run.
Each precision is prepared as ``seqlab generate --precision P`` prepares it, then each decoding (greedy; sampled
with ``--top-k``, seed 0, temperature 1) generates ``--new-tokens`` tokens after a 16-token prompt for each of
``--batch`` rows, ``--rounds`` times after one warm-up; the best round's tokens/s and every round's seconds are
written. No other engine runs in the process (unlike engines.py), as in ``seqlab generate``. ``--stepwise``
adds greedy decoding with one C call a step (the loop before the fused greedy steps: ``GPTDecoder.fused_greedy``
off), the rounds of all decodings interleaved (order alternating) so a slow spell of the machine falls on each;
``fused_over_stepwise`` is the per-round ratio of their times.

    OMP_NUM_THREADS=2 python benchmarks/generate_speed.py --size small --batch 1 --new-tokens 256 --rounds 8 --stepwise --out OUT.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_util import git_commit, machine, now
from engines import SIZES, build_gpt


@contextlib.contextmanager
def stepwise(on: bool):
    """Inside: GPTDecoder without its fused greedy steps (one C call a step, the pick in Python), when ``on``."""
    from seqlab.models.gpt_decode import GPTDecoder

    if not on:
        yield
        return
    saved = GPTDecoder.__dict__["fused_greedy"]
    GPTDecoder.fused_greedy = property(lambda self: False)
    try:
        yield
    finally:
        GPTDecoder.fused_greedy = saved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), default="gpt2")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    ap.add_argument("--top-k", type=int, default=50, help="the sampled decoding's top-k (0 = the whole vocabulary)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stepwise", action="store_true", help="also greedy with one C call a step (fused greedy off)")
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
            cfgs = {name: GenerationConfig(max_new_tokens=args.new_tokens, **kw) for name, kw in decodings.items()}
            if args.stepwise:
                cfgs["greedy_stepwise"] = cfgs["greedy"]
            times = {name: [] for name in cfgs}
            for name, cfg in cfgs.items():
                with stepwise(name.endswith("_stepwise")):
                    generate(model, prompts, cfg)  # warm-up
            for r in range(args.rounds):
                for name in (list(cfgs) if r % 2 == 0 else list(cfgs)[::-1]):
                    with stepwise(name.endswith("_stepwise")):
                        t = time.perf_counter()
                        generate(model, prompts, cfgs[name])
                        times[name].append(round(time.perf_counter() - t, 4))
            for name in cfgs:
                key = f"{used}_{name}"
                result["seconds"][key] = times[name]
                result["tokens_per_s"][key] = round(args.batch * args.new_tokens / min(times[name]), 1)
                print(f"{args.size} batch {args.batch} {key}: {result['tokens_per_s'][key]:,.1f} tokens/s", file=sys.stderr)
            if args.stepwise:
                ratios = [round(b / a, 3) for a, b in zip(times["greedy"], times["greedy_stepwise"])]
                result.setdefault("fused_over_stepwise", {})[used] = {"per_round": ratios,
                                                                      "median": float(np.median(ratios))}
                print(f"  fused / stepwise greedy per round: {ratios}", file=sys.stderr)
            del model
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

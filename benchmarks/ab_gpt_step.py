"""The GPT's C decode step at two commits, in one process, step by step: what a change to the kernel does
to a step's time, as the ratio of each pair of adjacent steps.

Run in separate processes minutes apart, the two sides of a small kernel change land on different spells of
this shared machine (their step times moved by ±20% between runs here while the change moved them by 5%).
Here the base commit is checked out into a git worktree, its ``seqlab`` package copied under the name
``seqlab_base`` (its imports are relative), and both sides' C steps are built and loaded into the same
process; each pair of steps runs them back to back on the same weights, cache and tokens (order alternating),
so a slow spell falls on both. Reported per precision, batch and cache slot: each side's median step, the
median of the per-pair ratios base / head (> 1: the head is faster), and the largest logit difference.
The base reads an fp32 cache; the head reads the cache ``--head-kv`` names (``auto``: what the decoder gives
that precision, bf16 for bf16 and int8), a copy of the same values, so ``--base HEAD --head-kv bf16``
measures the bf16 cache alone.

    OMP_NUM_THREADS=2 python benchmarks/ab_gpt_step.py --base HEAD~1 --size gpt2 --batches 1 8 --slots 17 80 140 \\
        --out benchmarks/results/ab_gpt_step.json
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import base_worktree, emit, git_commit, machine, now  # noqa: E402
from engines import SIZES, build_gpt  # noqa: E402


def pairs(steps: dict, tok, slot: int, caches: dict, n: int) -> dict:
    """n pairs of steps, order alternating: each side's median ms, median per-pair ratio base / head."""
    import time

    times = {name: [] for name in steps}
    for i in range(n):
        for name in (("base", "head") if i % 2 == 0 else ("head", "base")):
            t = time.perf_counter()
            steps[name](tok, slot, *caches[name])
            times[name].append(time.perf_counter() - t)
    ratio = np.array(times["base"]) / np.array(times["head"])
    return {"base_ms": round(float(np.median(times["base"])) * 1e3, 3),
            "head_ms": round(float(np.median(times["head"])) * 1e3, 3),
            "ratio_base_over_head": round(float(np.median(ratio)), 4),
            "ratio_quartiles": [round(float(q), 4) for q in np.quantile(ratio, [0.25, 0.75])]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the commit to compare against")
    ap.add_argument("--size", choices=sorted(SIZES), default="gpt2")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--slots", nargs="+", type=int, default=[17, 80, 140], help="cache slots the step writes")
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--head-kv", choices=["fp32", "bf16", "auto"], default="fp32",
                    help="the head's cache dtype (the base's is fp32); auto: bf16 for bf16 and int8 weights")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch

    import seqlab
    from seqlab.models.gpt_decode import default_kv_dtype
    from seqlab.native.gpt_step import native_gpt_step as head_step

    torch.set_num_threads(args.threads)
    result = {"args": vars(args), "commit": git_commit(), "date": now(), "machine": machine(), "rows": []}
    with tempfile.TemporaryDirectory(prefix="seqlab-ab-step-") as tmp, base_worktree(args.base, Path(tmp)) as (tree, short):
        shutil.copytree(tree / "src" / "seqlab", Path(tmp) / "pkg" / "seqlab_base")
        sys.path.insert(0, str(Path(tmp) / "pkg"))
        base_step = importlib.import_module("seqlab_base.native.gpt_step").native_gpt_step
        result["base_commit"] = short
        paths = build_gpt(args.size, max(args.slots) + 1, Path(tmp) / "gpt", engines=("seqlab_fp32",))
        module = seqlab.load(paths["run"]).module.eval()
        cfg = module.config
        g = torch.Generator().manual_seed(0)
        for precision in args.precisions:
            steps = {"base": base_step(module, precision, threads=args.threads),
                     "head": head_step(module, precision, threads=args.threads)}
            if any(s is None for s in steps.values()):
                sys.exit("the C step cannot be built here (no C compiler)")
            for B in args.batches:
                shape = (cfg.n_layer, B, cfg.n_head, max(args.slots) + 1, cfg.n_embd // cfg.n_head)
                k, v = torch.randn(shape, generator=g) * 0.5, torch.randn(shape, generator=g)
                dt = (default_kv_dtype(precision, native=True) if args.head_kv == "auto"
                      else torch.bfloat16 if args.head_kv == "bf16" else torch.float32)
                head_kv = "bf16" if dt == torch.bfloat16 else "fp32"
                if head_kv == "bf16":  # both sides read the same values: the fp32 cache holds the bf16 ones
                    k, v = k.bfloat16().float(), v.bfloat16().float()
                caches = {"base": (k, v), "head": (k.to(dt), v.to(dt))}
                tok = torch.randint(1, cfg.vocab_size, (B,), generator=g)
                for slot in args.slots:
                    diff = (steps["base"](tok, slot, *caches["base"]) - steps["head"](tok, slot, *caches["head"])).abs().max().item()
                    row = {"precision": precision, "batch": B, "slot": slot, "head_kv": head_kv,
                           **pairs(steps, tok, slot, caches, args.pairs), "max_abs_logit_diff": diff}
                    result["rows"].append(row)
                    print(f"{precision} B={B} slot={slot}: base {row['base_ms']} ms, head {row['head_ms']} ms, "
                          f"base/head {row['ratio_base_over_head']}", file=sys.stderr, flush=True)
            del steps
    emit(result, args.out)


if __name__ == "__main__":
    main()

"""Causal self-attention, forward + backward, bf16 on the CPU: which kernel is fastest at which length.

Three ways to compute softmax(q kᵀ / sqrt(D) + causal mask) v with gradients, bf16 inputs (as under
autocast), no dropout, rounds alternating the order, best of rounds:

- ``flash_bf16``: ``F.scaled_dot_product_attention`` on the bf16 tensors (PyTorch's fused CPU kernel)
- ``flash_fp32``: the same kernel on fp32 copies, the output cast back (not used: no faster than bf16 from 256 keys)
- ``explicit``: ``seqlab.models.fast_dropout.explicit_attention`` (bf16 matmuls, fp32 softmax)
- ``seqlab``: ``fast_dropout.attention`` in training mode: what the models run (one of the three)

Shapes (B, H, T, D) are those of seqlab's GPT sizes (lm_sizing.LADDER) and a few longer ones.

    OMP_NUM_THREADS=2 python benchmarks/attention_step.py --out benchmarks/results/attention_step.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import emit, git_commit, machine, now  # noqa: E402

SHAPES = [(32, 4, 64, 32), (32, 4, 128, 64), (32, 6, 256, 64), (16, 8, 384, 64), (8, 12, 512, 64),
          (4, 12, 1024, 64)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3, help="forward+backward passes timed per variant and round")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    from seqlab.models.fast_dropout import attention, explicit_attention

    variants = {
        "flash_bf16": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "flash_fp32": lambda q, k, v: F.scaled_dot_product_attention(q.float(), k.float(), v.float(),
                                                                     is_causal=True).to(q.dtype),
        "explicit": lambda q, k, v: explicit_attention(q, k, v, None, True),
        "seqlab": lambda q, k, v: attention(q, k, v, is_causal=True, training=True),
    }
    rows = []
    for B, H, T, D in SHAPES:
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(B, H, T, D, generator=g).bfloat16().requires_grad_() for _ in range(3))
        grad = torch.randn(B, H, T, D, generator=g).bfloat16()
        names = list(variants)
        times = {n: [] for n in names}
        ref = variants["flash_fp32"](q, k, v).float()
        err = {n: (variants[n](q, k, v).float() - ref).abs().max().item() for n in names}
        for n in names:  # warm-up
            variants[n](q, k, v).backward(grad)
        for r in range(args.rounds):
            for n in names[r % len(names):] + names[: r % len(names)]:
                t0 = time.perf_counter()
                for _ in range(args.reps):
                    variants[n](q, k, v).backward(grad)
                times[n].append((time.perf_counter() - t0) / args.reps)
        best = {n: round(1e3 * min(t), 2) for n, t in times.items()}
        rows.append({"shape": [B, H, T, D], "best_ms": best,
                     "ms_per_round": {n: [round(1e3 * x, 2) for x in t] for n, t in times.items()},
                     "max_abs_diff_vs_flash_fp32": {n: round(e, 5) for n, e in err.items()},
                     "flash_bf16_over_seqlab": round(best["flash_bf16"] / best["seqlab"], 2)})
        print(f"{(B, H, T, D)}: " + "  ".join(f"{n} {ms} ms" for n, ms in best.items()), file=sys.stderr, flush=True)
    emit({"benchmark": "attention_step", "date": now(), "commit": git_commit(), "machine": machine(),
          "command": " ".join(sys.argv), "threads": torch.get_num_threads(), "args": vars(args), "rows": rows},
         args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""seqlab's CPU dropout (``seqlab.models.fast_dropout.dropout``) vs ``torch.nn.functional.dropout``, same process.

Shapes of a GPT training step at batch 16, context 256: attention weights (16, 6, 256, 256) in bf16 and
activations (16, 256, 384) in fp32 and bf16; p = 0.1; best of 5 rounds of 10 calls each, alternating.

    OMP_NUM_THREADS=2 flock /tmp/seqlab-cpu.lock python benchmarks/dropout_speed.py
"""

from __future__ import annotations

import json
import time

import torch
import torch.nn.functional as F

from seqlab.models.fast_dropout import dropout

CASES = [((16, 6, 256, 256), torch.bfloat16), ((16, 256, 384), torch.float32), ((16, 256, 384), torch.bfloat16)]


def best_ms(fn, rounds: int = 5, calls: int = 10) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls)
    return best * 1e3


def main():
    rows = []
    for shape, dtype in CASES:
        x = torch.randn(shape).to(dtype)
        torch_ms = best_ms(lambda: F.dropout(x, 0.1, True))
        ours_ms = best_ms(lambda: dropout(x, 0.1, True))
        rows.append({"shape": list(shape), "dtype": str(dtype).removeprefix("torch."), "torch_ms": round(torch_ms, 2),
                     "seqlab_ms": round(ours_ms, 2), "speedup": round(torch_ms / ours_ms, 2)})
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"threads": torch.get_num_threads(), "torch": torch.__version__, "rows": rows}))


if __name__ == "__main__":
    main()

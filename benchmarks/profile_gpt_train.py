"""Where a GPT training step spends its time on the CPU: step time, then torch.profiler's top operators.

One step as the engine runs it for `seqlab train lm` (bf16 autocast, cross-entropy on fp32 logits, gradient
clipping at 1, fused AdamW), on random token blocks of the given size; best and median of ``--steps`` timed
steps after three warm-up steps, then ``--profile-steps`` steps under the profiler. ``--compile`` builds the
model with ``model.compile=true`` (torch.compile of the training forward) instead.

    OMP_NUM_THREADS=2 python benchmarks/profile_gpt_train.py --layers 4 --width 256 --context 128
    OMP_NUM_THREADS=2 python benchmarks/profile_gpt_train.py --layers 4 --width 128 --context 64 [--compile]
    git worktree add /tmp/base REV && python benchmarks/profile_gpt_train.py --src /tmp/base/src   # another commit
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import emit, git_commit, machine, now  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=71)  # tinyshakespeare's characters as seqlab counts them
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--profile-steps", type=int, default=5, help="0: no profile")
    ap.add_argument("--rows", type=int, default=15, help="operators shown")
    ap.add_argument("--src", default=None, help="import seqlab from this src folder (e.g. a worktree of another commit)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.src:
        sys.path.insert(0, str(Path(args.src).resolve()))
    import torch
    import torch.nn.functional as F

    from seqlab.models.gpt import GPT, GPTConfig
    from seqlab.train.engine import _param_groups

    cfg = GPTConfig(vocab_size=args.vocab, block_size=args.context, n_layer=args.layers, n_head=args.heads,
                    n_embd=args.width, dropout=args.dropout, attn_dropout=0.0, compile=args.compile)
    torch.manual_seed(0)
    model = GPT(cfg).train()
    opt = torch.optim.AdamW(_param_groups(model, 0.01), lr=2e-3, fused=True)
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randint(0, args.vocab, (args.batch, args.context), generator=g) for _ in range(2))

    def step():
        with torch.autocast("cpu", torch.bfloat16):
            logits = model(x)
            loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    import seqlab

    result = {"benchmark": "profile_gpt_train", "date": now(), "commit": git_commit(), "machine": machine(),
              "seqlab_from": str(Path(seqlab.__file__).parent),
              "command": " ".join(sys.argv), "threads": torch.get_num_threads(), "args": vars(args),
              "step_ms_best": round(1e3 * times[0], 1), "step_ms_median": round(1e3 * times[len(times) // 2], 1)}
    if args.profile_steps:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.profile_steps):
                step()
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        result["top_self_cpu"] = [{"op": e.key, "share": round(e.self_cpu_time_total / total, 3),
                                   "ms_per_step": round(e.self_cpu_time_total / 1e3 / args.profile_steps, 1),
                                   "calls_per_step": e.count // args.profile_steps} for e in events[:args.rows]]
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

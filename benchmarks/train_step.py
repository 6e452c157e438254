"""One seq2seq Transformer training step, before and after the thirteenth session's three changes, same process.

The step of the Multi30k recipe (RESULTS #18): the default Transformer (3+3 layers, 256 wide, 4 heads) with
dropout 0.3, one shared 10k vocabulary, a batch of ``--batch`` sentence pairs of ``--src-len`` / ``--tgt-len``
tokens, bf16 autocast, label smoothing 0.1, gradient clipping at 1, AdamW, an EMA of the weights (0.999).
Each variant turns on one more of the changes, rounds alternating the order:

- ``before``: ``torch.nn`` dropout (``bernoulli_`` per element, SDPA's dropout path),
  ``F.cross_entropy(logits.float())``, AdamW's per-tensor loop: what seqlab ran before
- ``+dropout``: seqlab's CPU dropout (``models/fast_dropout.py``) in every model
- ``+xent``: and seqlab's cross-entropy (``train/xent.py``: in C where it builds, ``native/xent.c``, else PyTorch
  slices): no fp32 copy of the logits
- ``+fused``: and AdamW's fused kernel (``train/engine.py``): the step seqlab now runs

    OMP_NUM_THREADS=2 python benchmarks/train_step.py --out benchmarks/results/train_step_multi30k.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import emit, git_commit, machine, now, seq2seq_batch  # noqa: E402

VARIANTS = ["before", "+dropout", "+xent", "+fused"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--src-len", type=int, default=16)  # Multi30k's mean German length in BPE tokens, about
    ap.add_argument("--tgt-len", type=int, default=15)
    ap.add_argument("--vocab", type=int, default=10000)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=5, help="steps timed per variant and round")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from seqlab.models import fast_dropout
    from seqlab.models.transformer import Transformer, TransformerConfig
    from seqlab.train.engine import _param_groups
    from seqlab.train.xent import cross_entropy

    B, S, T, V = args.batch, args.src_len, args.tgt_len, args.vocab
    src, mask, tgt_in, tgt_out = seq2seq_batch(B, S, T, V)
    tgt_out[:, -3:] = 0  # some padding, as in real batches
    cfg = TransformerConfig(src_vocab=V, tgt_vocab=V, share_embeddings=True, dropout=args.dropout)
    state = {}
    for name in VARIANTS:
        torch.manual_seed(0)
        m = Transformer(cfg).train()
        opt = torch.optim.AdamW(_param_groups(m, 0.01), lr=1e-4, betas=(0.9, 0.98), fused=name == "+fused" or None)
        ema = AveragedModel(m, multi_avg_fn=get_ema_multi_avg_fn(0.999), use_buffers=True)
        state[name] = (m, opt, ema)
    fast_use = fast_dropout._use_fast

    def step(name):
        m, opt, ema = state[name]
        fast_dropout._use_fast = fast_use if name != "before" else (lambda *a: False)
        try:
            with torch.autocast("cpu", torch.bfloat16):
                logits = m(src, mask, tgt_in).flatten(0, 1)
                if name in ("before", "+dropout"):
                    loss = F.cross_entropy(logits.float(), tgt_out.flatten(), ignore_index=0, label_smoothing=0.1)
                else:
                    loss = cross_entropy(logits, tgt_out.flatten(), ignore_index=0, label_smoothing=0.1)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            ema.update_parameters(m)
        finally:
            fast_dropout._use_fast = fast_use
        return loss.item()

    losses = {n: step(n) for n in VARIANTS}  # warm-up
    times = {n: [] for n in VARIANTS}
    for r in range(args.rounds):
        for n in VARIANTS[r % 4:] + VARIANTS[: r % 4]:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step(n)
            times[n].append((time.perf_counter() - t0) / args.steps)
    best = {n: min(v) for n, v in times.items()}
    result = {"benchmark": "train_step", "date": now(), "commit": git_commit(), "machine": machine(),
              "command": " ".join(sys.argv), "threads": torch.get_num_threads(), "args": vars(args),
              "first_loss": losses, "best_step_ms": {n: round(1e3 * v, 1) for n, v in best.items()},
              "step_ms_per_round": {n: [round(1e3 * t, 1) for t in v] for n, v in times.items()},
              "before_over_now": round(best["before"] / best["+fused"], 3),
              "before_over_now_per_round": [round(a / b, 3) for a, b in zip(times["before"], times["+fused"])]}
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training-step time of the seq2seq Transformer with the copy head: seqlab's head vs the dense reference.

One training step (forward, loss with label smoothing 0.1, backward) of the default Transformer (3+3 layers,
256 wide) on a SAMSum-shaped batch (``--batch`` dialogues of ``--src-len`` tokens, summaries of ``--tgt-len``,
one ``--vocab`` vocabulary), under bf16 autocast as the run trains, three ways, rounds alternating:

- ``copy``: ``CopyHead.forward`` (log g + log_softmax, source tokens corrected) and ``smoothed_nll``
- ``copy_reference``: ``CopyHead.reference`` (the dense mixture) and ``F.cross_entropy`` (a second log_softmax),
  what seqlab ran before
- ``no_copy``: the same model without the head (``F.cross_entropy`` on the logits)

    OMP_NUM_THREADS=2 python benchmarks/copy_head.py --out benchmarks/results/copy_head.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import emit, git_commit, machine, now, seq2seq_batch  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=27)  # 12,800 tokens / 472 (the plain SAMSum run's batches)
    ap.add_argument("--src-len", type=int, default=472)
    ap.add_argument("--tgt-len", type=int, default=100)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F

    from seqlab.models.transformer import Transformer, TransformerConfig
    from seqlab.tasks.seq2seq_io import smoothed_nll

    B, S, T, V = args.batch, args.src_len, args.tgt_len, args.vocab
    src, mask, tgt_in, tgt_out = seq2seq_batch(B, S, T, V)
    cfg = dict(src_vocab=V, tgt_vocab=V, share_embeddings=True, max_len=512)
    models = {"copy": Transformer(TransformerConfig(**cfg, copy=True)),
              "no_copy": Transformer(TransformerConfig(**cfg))}
    models["copy_reference"] = models["copy"]

    def step(name):
        m = models[name]
        m.zero_grad(set_to_none=True)
        with torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bf16"):
            if name == "copy":
                loss = smoothed_nll(m(src, mask, tgt_in).flatten(0, 1), tgt_out.flatten(), 0.1, 0)
            elif name == "copy_reference":
                head = m.copy
                forward = head.forward
                head.forward = head.reference  # the dense mixture, as before
                try:
                    logp = m(src, mask, tgt_in)
                finally:
                    head.forward = forward
                loss = F.cross_entropy(logp.float().flatten(0, 1), tgt_out.flatten(), ignore_index=0, label_smoothing=0.1)
            else:
                loss = F.cross_entropy(m(src, mask, tgt_in).float().flatten(0, 1), tgt_out.flatten(), ignore_index=0,
                                       label_smoothing=0.1)
        loss.backward()
        return loss.item()

    names = ["copy", "copy_reference", "no_copy"]
    losses = {}
    for n in names:  # warm-up, each from the same seed (the same dropout masks): the two copy variants agree
        torch.manual_seed(1)
        losses[n] = step(n)
    best = {n: float("inf") for n in names}
    for r in range(args.rounds):
        for n in names[r % 3:] + names[: r % 3]:
            t0 = time.perf_counter()
            step(n)
            best[n] = min(best[n], time.perf_counter() - t0)
    result = {"benchmark": "copy_head", "date": now(), "commit": git_commit(), "machine": machine(),
              "command": " ".join(sys.argv), "threads": torch.get_num_threads(), "args": vars(args),
              "loss": losses, "best_step_ms": {n: round(1e3 * v, 1) for n, v in best.items()},
              "reference_over_seqlab": round(best["copy_reference"] / best["copy"], 3),
              "copy_over_no_copy": round(best["copy"] / best["no_copy"], 3)}
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

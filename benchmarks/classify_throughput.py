"""Training throughput: seqlab's LSTM classifier (through the real engine) vs a hand-written loop.

Both train the same architecture (embedding 128 -> bidirectional LSTM 128 -> max pool -> linear)
on the same batches of the same synthetic SST-2-like data (lengths 5..60 tokens, vocab 10k), in
fp32, with AdamW and gradient clipping. The hand-written loop is what a careful user writes around
``torch.nn.LSTM`` (packed sequences, no framework). Runs alternate (seqlab, hand, seqlab, hand, ...)
so machine noise hits both; the ratio of medians is reported. ``impl="reference"`` (the
step-by-step equations) is timed once beside them.

    python benchmarks/classify_throughput.py [--rows 6000] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.tasks import get_task
from seqlab.tasks.base import TrainRequest


def make_data(path: Path, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    lines = ["text,label"]
    for i in range(rows):
        n = rng.randint(5, 60)
        words = [f"w{int(rng.paretovariate(1.1)) % 10000}" for _ in range(n)]
        lines.append(f"{' '.join(words)},{i % 2}")
    path.write_text("\n".join(lines) + "\n")


class HandLSTM(nn.Module):
    def __init__(self, vocab, E=128, H=128, n_classes=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, E, padding_idx=0)
        self.lstm = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(2 * H, n_classes)

    def forward(self, ids, mask):
        lengths = mask.sum(1)
        x = self.drop(self.emb(ids))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=ids.size(1))
        h = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
        return self.out(self.drop(h))


def run_seqlab(csv: Path, out: Path, impl: str, max_steps: int) -> float:
    req = TrainRequest(task="classify", model="lstm", data=str(csv), out=out, overwrite=True,
                       train_flags={"epochs": 1, "batch_size": 64, "precision": "fp32", "seed": 0},
                       sets={"model": {"impl": impl, "embed_dim": "128", "hidden": "128", "pool": "max"},
                             "data": {"valid_fraction": "0.02"}, "train": {"max_steps": str(max_steps)}})
    s = get_task("classify").train(req)
    return s["tokens_per_s"]


def run_hand(out: Path, max_steps: int) -> float:
    """The same batches seqlab trained on (re-encoded from its saved tokenizer), in a plain loop."""
    from seqlab.data.batching import bucket_batches, pad
    from seqlab.data.readers import read_table
    from seqlab.data.tokenizers import load_tokenizer
    from seqlab.data.holdout import stratified_split

    tok = load_tokenizer(out / "tokenizer.json")
    table = read_table(out.parent / "data.csv")
    texts, labels = table.column("text"), table.column("label")
    tr, _ = stratified_split(labels, 0.02, 0)
    ids = tok.encode_batch([texts[i] for i in tr])
    ys = [int(labels[i]) for i in tr]
    torch.manual_seed(0)
    model = HandLSTM(tok.vocab_size)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    batches = bucket_batches([len(s) for s in ids], 64, 0, 0)[:max_steps]
    tokens, t0 = 0, time.perf_counter()
    for b in batches:
        x, mask = pad([ids[i] for i in b], 0)
        y = torch.tensor([ys[i] for i in b])
        loss = F.cross_entropy(model(x, mask), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
    return tokens / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        make_data(d / "data.csv", args.rows)
        seq, hand = [], []
        for _ in range(args.repeats):
            seq.append(run_seqlab(d / "data.csv", d / "run", "fused", args.steps))
            hand.append(run_hand(d / "run", args.steps))
        ref = run_seqlab(d / "data.csv", d / "ref", "reference", max(5, args.steps // 8))
    res = {"seqlab_fused_tok_s": round(statistics.median(seq)), "hand_torch_nn_tok_s": round(statistics.median(hand)),
           "ratio": round(statistics.median(seq) / statistics.median(hand), 3), "seqlab_reference_tok_s": round(ref),
           "runs_seqlab": [round(x) for x in seq], "runs_hand": [round(x) for x in hand],
           "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine()}
    print(json.dumps(res, indent=2))
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

"""Data-parallel scaling on the CPU: 1 process x 2 threads against 2 processes x 1 thread (gloo DDP).

For GPT and the bi-GRU classifier, with the same global batch in every setting, it measures training
tokens/s in three settings: 1 process x 1 thread, 1 process x 2 threads, 2 processes x 1 thread
(torchrun, each rank taking its half of every batch through seqlab's engine pieces: ``shard`` and the
DDP-wrapped loss). It reports

    speedup over threads  = tokens/s (2 proc x 1 thread) / tokens/s (1 proc x 2 threads)
    scaling efficiency    = tokens/s (2 proc x 1 thread) / (2 * tokens/s (1 proc x 1 thread))

and where a distributed step's time goes, from timers around each phase on rank 0: forward, backward
with DDP's gradient all-reduce, backward without it (``no_sync``: the same steps, compute only), the
optimizer; ``allreduce_ms`` = backward with sync - backward without (the communication that backward
did not hide), and ``allreduce_bare_ms`` = one all-reduce of a buffer the size of all gradients.

    python benchmarks/ddp_scaling.py --out benchmarks/results/ddp_scaling.json    # ~5 minutes, on an idle machine
    python benchmarks/ddp_scaling.py --smoke                                      # seconds: checks the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the models and their batches
def gpt(smoke: bool):
    from seqlab.models.gpt import GPT, GPTConfig

    cfg = (GPTConfig(vocab_size=65, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.0) if smoke else
           GPTConfig(vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=256, dropout=0.0))
    B, T = (8, cfg.block_size) if smoke else (32, cfg.block_size)

    def batch(g):
        ids = torch.randint(0, cfg.vocab_size, (B, T + 1), generator=g)
        return {"x": ids[:, :-1], "y": ids[:, 1:]}

    def loss_fn(m, b):
        return F.cross_entropy(m(b["x"]).float().flatten(0, 1), b["y"].flatten()), b["y"].numel()

    return GPT(cfg), batch, loss_fn


def bigru(smoke: bool):
    from seqlab.models.classifier import GRUClassifierConfig, RecurrentClassifier

    cfg = GRUClassifierConfig(embed_dim=16 if smoke else 128, hidden=16 if smoke else 128, bidirectional=True,
                              dropout=0.0, embed_dropout=0.0)
    V, B, T = (100, 8, 16) if smoke else (20000, 64, 64)

    def batch(g):
        return {"ids": torch.randint(1, V, (B, T), generator=g), "mask": torch.ones(B, T, dtype=torch.bool),
                "y": torch.randint(0, 2, (B,), generator=g)}

    def loss_fn(m, b):
        return F.cross_entropy(m(b["ids"], b["mask"]).float(), b["y"]), int(b["mask"].sum())

    return RecurrentClassifier(cfg, V, 2), batch, loss_fn


MODELS = {"gpt": gpt, "bigru": bigru}


# ---------------------------------------------------------------- one setting (a process of it)
def worker(name: str, steps: int, warmup: int, smoke: bool) -> None:
    """Train ``name`` for warmup + steps (+ steps without sync when distributed); rank 0 prints one JSON line."""
    from seqlab.train import distributed

    distributed.setup()
    rank, world = distributed.rank(), distributed.world_size()
    torch.manual_seed(0)
    model, make_batch, loss_fn = MODELS[name](smoke)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    forward = distributed.loss_forward(model, loss_fn, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    batches = [make_batch(g) for _ in range(8)]
    times: dict[str, list[float]] = {"forward": [], "backward": [], "backward_no_sync": [], "optimizer": []}
    tokens = 0

    def step(i: int, phase: str, record: bool) -> int:
        part, weight = distributed.shard(batches[i % len(batches)], rank, world)
        t0 = time.perf_counter()
        loss, n = forward(part)
        t1 = time.perf_counter()
        (loss * weight).backward()
        t2 = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        if record:
            times["forward"].append(t1 - t0)
            times[phase].append(t2 - t1)
            times["optimizer"].append(t3 - t2)
        return int(n)

    for i in range(warmup):
        step(i, "backward", False)
    distributed.barrier()
    t = time.perf_counter()
    for i in range(steps):
        tokens += step(i, "backward", True)
    distributed.barrier()
    seconds = time.perf_counter() - t
    tokens = int(distributed.all_sum([tokens])[0])
    out = {"tokens_per_s": round(tokens / seconds, 1), "step_ms": round(1e3 * seconds / steps, 2),
           "n_params": sum(p.numel() for p in model.parameters())}
    if world > 1:  # compute only: the same steps without the gradient all-reduce
        with forward.no_sync():
            for i in range(steps):
                step(i, "backward_no_sync", True)
        grads = torch.zeros(sum(p.numel() for p in model.parameters()))
        bare = []
        for _ in range(steps):
            t = time.perf_counter()
            torch.distributed.all_reduce(grads)
            bare.append(time.perf_counter() - t)
        out["allreduce_bare_ms"] = round(1e3 * statistics.median(bare), 3)
    ms = {k: round(1e3 * statistics.median(v), 3) for k, v in times.items() if v}
    out["phases_ms"] = ms
    if world > 1:
        out["allreduce_ms"] = round(ms["backward"] - ms["backward_no_sync"], 3)
        out["allreduce_share"] = round(out["allreduce_ms"] / max(1e-9, out["step_ms"]), 3)
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


# ---------------------------------------------------------------- the three settings
def launch(name: str, procs: int, threads: int, args) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), PYTHONPATH=str(ROOT / "src"))
    env.pop("WORLD_SIZE", None)
    me = [str(Path(__file__).resolve()), "--worker", name, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    me += ["--smoke"] if args.smoke else []
    cmd = [sys.executable, *me] if procs == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}", *me]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    lines = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        raise SystemExit(f"{name} on {procs} process(es) x {threads} thread(s) failed:\n{p.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="gpt,bigru")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--smoke", action="store_true", help="tiny models, a few steps")
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:
        args.steps, args.warmup = 3, 1
    if args.worker:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        return worker(args.worker, args.steps, args.warmup, args.smoke)
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
               "cpus": os.cpu_count(), "smoke": args.smoke, "steps": args.steps, "models": {}}
    for name in args.models.split(","):
        r = {"1x1": launch(name, 1, 1, args), "1x2": launch(name, 1, 2, args), "2x1": launch(name, 2, 1, args)}
        r["speedup_over_threads"] = round(r["2x1"]["tokens_per_s"] / r["1x2"]["tokens_per_s"], 3)
        r["scaling_efficiency"] = round(r["2x1"]["tokens_per_s"] / (2 * r["1x1"]["tokens_per_s"]), 3)
        results["models"][name] = r
        two = r["2x1"]
        print(f"{name:6s} tokens/s: 1x1 {r['1x1']['tokens_per_s']:>10,.0f}  1x2 {r['1x2']['tokens_per_s']:>10,.0f}  "
              f"2x1 {two['tokens_per_s']:>10,.0f}  | 2x1 vs 1x2 {r['speedup_over_threads']:.2f}x, efficiency "
              f"{100 * r['scaling_efficiency']:.0f}%  | 2x1 step {two['step_ms']:.1f} ms: {two['phases_ms']}, "
              f"all-reduce not hidden {two['allreduce_ms']:.2f} ms ({100 * two['allreduce_share']:.0f}%), "
              f"bare all-reduce {two['allreduce_bare_ms']:.2f} ms", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

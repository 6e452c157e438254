"""Training throughput and model FLOPs utilisation (MFU) on one GPU: seqlab's GPT and seq2seq Transformer.

The timed step is the engine's hot path on CUDA: a pinned host batch copied without blocking, bf16
autocast (fp16 + GradScaler where bf16 is missing), backward, gradient clipping, AdamW, no host read of
the loss. Each model runs eager and with torch.compile (GPT through ``GPTConfig.compile``, the
Transformer through ``torch.compile(model)``); compilation happens in the warm-up steps, never in the
timed ones.

    tokens/s = B * T * steps / seconds               (seq2seq: source + target tokens)
    MFU      = 6 * N * tokens/s / peak               (N: the parameters a token meets in matmuls, the
                                                      tied output projection included, embeddings not)
    MFU_attn = the same plus the attention matmuls (12 * layers * width * context per token)

peak: the GPU's dense bf16 (or fp16) tensor TFLOP/s from the table below, or ``--peak-tflops``.

    python benchmarks/gpu.py --out benchmarks/results/gpu.json        # on a CUDA machine (a few minutes)
    python benchmarks/gpu.py --smoke                                  # tiny models on the CPU: checks the script runs

Not run yet: the machines this project was developed on have no GPU (see RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import datetime, timezone

import torch
import torch.nn.functional as F

from seqlab.device import autocast
from seqlab.models.gpt import GPT, GPTConfig
from seqlab.models.transformer import Transformer, TransformerConfig

PEAK_TFLOPS = {  # dense bf16/fp16 tensor-core TFLOP/s (no sparsity), from the vendors' data sheets
    "H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "H100": 756.0,
    "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 70.0, "A10": 125.0, "RTX 4090": 165.0, "V100": 125.0,
}


def peak_tflops(name: str) -> float | None:
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):  # the most specific name first
        if key in name:
            return PEAK_TFLOPS[key]
    return None


def gpt_case(smoke: bool, compile_: bool, batch: int):
    cfg = GPTConfig(vocab_size=50304, block_size=1024, n_layer=12, n_head=12, n_embd=768, dropout=0.0, compile=compile_)
    if smoke:
        cfg = GPTConfig(vocab_size=128, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0, compile=False)
    model = GPT(cfg)
    B, T = (2, cfg.block_size) if smoke else (batch, cfg.block_size)
    matmul = sum(p.numel() for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("wpe"))

    def batch_fn(g):  # a pinned host batch: x (B, T), y (B, T)
        ids = torch.randint(0, cfg.vocab_size, (B, T + 1), generator=g)
        return {"x": ids[:, :-1].pin_memory() if torch.cuda.is_available() else ids[:, :-1], "y": ids[:, 1:]}

    def loss_fn(m, b):
        logits = m(b["x"])  # (B, T, V)
        return F.cross_entropy(logits.float().flatten(0, 1), b["y"].flatten())

    flops = {"matmul": 6 * matmul * B * T, "attention": 12 * cfg.n_layer * cfg.n_embd * T * B * T}
    return model, model, batch_fn, loss_fn, B * T, flops, {"n_params": sum(p.numel() for p in model.parameters()), "B": B, "T": T}


def transformer_case(smoke: bool, compile_: bool, batch: int):
    cfg = TransformerConfig(src_vocab=32000, tgt_vocab=32000, d_model=512, n_head=8, n_enc_layer=6, n_dec_layer=6,
                            d_ff=2048, dropout=0.0, max_len=256)
    if smoke:
        cfg = TransformerConfig(src_vocab=128, tgt_vocab=128, d_model=32, n_head=2, n_enc_layer=1, n_dec_layer=1,
                                d_ff=64, dropout=0.0, max_len=64)
    model = Transformer.from_config(cfg)
    B, S, T = (2, 16, 16) if smoke else (batch, 128, 128)
    run = torch.compile(model) if compile_ else model
    enc = sum(p.numel() for n, p in model.named_parameters() if n.startswith("enc_layers") and p.dim() >= 2)
    dec = sum(p.numel() for n, p in model.named_parameters() if n.startswith("dec_layers") and p.dim() >= 2)
    dec += cfg.tgt_vocab * cfg.d_model  # the (tied) output projection

    def batch_fn(g):
        src = torch.randint(1, cfg.src_vocab, (B, S), generator=g)
        tgt = torch.randint(1, cfg.tgt_vocab, (B, T + 1), generator=g)
        b = {"src": src, "src_mask": torch.ones(B, S, dtype=torch.bool), "tgt_in": tgt[:, :-1], "tgt_out": tgt[:, 1:]}
        return {k: v.pin_memory() for k, v in b.items()} if torch.cuda.is_available() else b

    def loss_fn(m, b):
        logits = m(b["src"], b["src_mask"], b["tgt_in"])  # (B, T, V)
        return F.cross_entropy(logits.float().flatten(0, 1), b["tgt_out"].flatten())

    L, C = cfg, cfg.d_model
    flops = {"matmul": 6 * (enc * B * S + dec * B * T),
             "attention": 12 * C * (L.n_enc_layer * S * B * S + L.n_dec_layer * (T + S) * B * T)}
    return model, run, batch_fn, loss_fn, B * (S + T), flops, {"n_params": sum(p.numel() for p in model.parameters()),
                                                               "B": B, "S": S, "T": T}


def measure(case, smoke: bool, compile_: bool, batch: int, device, precision: str, warmup: int, steps: int) -> dict:
    torch.manual_seed(0)
    model, run, batch_fn, loss_fn, tokens, flops, shape = case(smoke, compile_, batch)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    g = torch.Generator().manual_seed(0)
    host = [batch_fn(g) for _ in range(4)]

    def step(i):
        b = {k: v.to(device, non_blocking=True) for k, v in host[i % len(host)].items()}
        with autocast(device, precision):
            loss = loss_fn(run, b)
        if scaler is None:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        else:  # fp16: scaled loss, unscaled before clipping
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt)
            scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    t = time.perf_counter()
    for i in range(warmup):
        step(i)
    sync()
    warm_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    sync()
    seconds = time.perf_counter() - t
    tok_s = tokens * steps / seconds
    peak = peak_tflops(torch.cuda.get_device_name(device)) if device.type == "cuda" else None
    out = {**shape, "compile": compile_, "precision": precision, "steps": steps, "warmup_s": round(warm_s, 2),
           "step_ms": round(1e3 * seconds / steps, 2), "tokens_per_s": round(tok_s, 1), "final_loss": round(loss.item(), 4),
           "model_tflops": round(flops["matmul"] * steps / seconds / 1e12, 2)}
    if peak:
        out["mfu"] = round(flops["matmul"] * steps / seconds / (peak * 1e12), 4)
        out["mfu_incl_attention"] = round((flops["matmul"] + flops["attention"]) * steps / seconds / (peak * 1e12), 4)
        out["peak_tflops"] = peak
    if device.type == "cuda":
        out["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        torch.cuda.reset_peak_memory_stats(device)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny models, a few steps, on the CPU when there is no GPU")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--gpt-batch", type=int, default=16, help="GPT rows of 1024 tokens per step")
    ap.add_argument("--s2s-batch", type=int, default=128, help="Transformer pairs of 128 + 128 tokens per step")
    ap.add_argument("--no-compile", action="store_true", help="eager only")
    ap.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's dense bf16 peak")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    if args.peak_tflops:
        PEAK_TFLOPS.clear()
        PEAK_TFLOPS[""] = args.peak_tflops
    cuda = torch.cuda.is_available()
    if not cuda and not args.smoke:
        raise SystemExit("no CUDA device: this benchmark measures a GPU (use --smoke to check it runs on the CPU)")
    device = torch.device("cuda" if cuda else "cpu")
    precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else ("fp16" if cuda else "fp32")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    steps, warmup = (3, 1) if args.smoke else (args.steps, args.warmup)
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
               "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu", "smoke": args.smoke,
               "runs": {}}
    for name, case, batch in (("gpt", gpt_case, args.gpt_batch), ("transformer", transformer_case, args.s2s_batch)):
        for compile_ in ((False,) if args.no_compile or args.smoke else (False, True)):
            key = f"{name}{'_compiled' if compile_ else ''}"
            r = measure(case, args.smoke, compile_, batch, device, precision, warmup, steps)
            results["runs"][key] = r
            mfu = f"  MFU {100 * r['mfu']:.1f}% ({100 * r['mfu_incl_attention']:.1f}% with attention)" if "mfu" in r else ""
            print(f"{key:22s} {r['tokens_per_s']:>12,.0f} tokens/s  {r['step_ms']:8.1f} ms/step  "
                  f"{r['model_tflops']:7.2f} TFLOP/s{mfu}", flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()

"""seqlab GPT vs Hugging Face GPT2LMHeadModel: same weights, same config, same process.

Training: tokens/s of forward + backward + AdamW step on (B, 256) blocks, in fp32 and in bf16 autocast,
the libraries alternating round by round so machine load hits all alike. With ``--compile`` a third
contender is seqlab with ``GPTConfig.compile`` (torch.compile of the training forward); its compilation
happens in the warm-up steps, whose time is reported separately (``compile_warmup_s``), never in tokens/s.
Generation: batch 1, a 16-token prompt, 256 new tokens, greedy: HF ``generate`` (fp32) against seqlab's
KV-cached loop (``prepare_for_generation``, the path ``seqlab generate`` uses) in fp32, bf16 and int8
(weight-only), and whether the greedy tokens agree. fp32 and bf16 run the C decode step (seqlab.native)
where it compiles; ``fp32_torch`` and ``bf16_torch`` are the same precisions with the step in PyTorch calls
(addmm, oneDNN), for comparison;
``auto`` is what ``seqlab generate`` picks by default (it times fp32 against bf16 first).

    OMP_NUM_THREADS=2 flock /tmp/seqlab-cpu.lock python benchmarks/gpt_speed.py --compile --out benchmarks/results/gpt_speed.json
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import platform
import tempfile
import time
from datetime import datetime, timezone

import torch
import torch.nn.functional as F
import transformers

from seqlab.interop.hf import load_model
from seqlab.models.gpt_decode import GPTDecoder
from seqlab.models.sampling import GenerationConfig, generate, prepare_for_generation


def build(n_positions: int, dropout: float):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=65, n_positions=n_positions, n_layer=6, n_head=6, n_embd=384,
                                  resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
                                  bos_token_id=0, eos_token_id=0, pad_token_id=0)
    hf = transformers.GPT2LMHeadModel(cfg)
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        _, ours, _ = load_model(d)  # the same weights, mapped onto seqlab's GPT
    return hf, ours


def train_step(model, opt, x, y, precision, is_hf):
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else torch.autocast("cpu", enabled=False)
    with ctx:
        logits = model(x).logits if is_hf else model(x)
        loss = F.cross_entropy(logits.float().flatten(0, 1), y.flatten())
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def bench_training(batch: int, rounds: int, steps: int, dropout: float, compile: bool) -> dict:
    hf, ours = build(256, dropout)
    hf.train()
    ours.train()
    models = {"hf": hf, "seqlab": ours}
    if compile:
        compiled = copy.deepcopy(ours)
        compiled.config = dataclasses.replace(ours.config, compile=True)
        models["seqlab_compiled"] = compiled
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 65, (batch, 256), generator=g)
    y = torch.randint(0, 65, (batch, 256), generator=g)
    out = {}
    for precision in ("fp32", "bf16"):
        opts = {name: torch.optim.AdamW(m.parameters(), lr=1e-4) for name, m in models.items()}
        res = {}
        for name in models:  # warm up kernels and optimizer state; the compiled model compiles here
            t = time.perf_counter()
            for _ in range(2):
                train_step(models[name], opts[name], x, y, precision, name == "hf")
            if name == "seqlab_compiled":
                res["compile_warmup_s"] = round(time.perf_counter() - t, 1)
                res["compile_failed"] = models[name]._compile_failed
        best = {name: float("inf") for name in models}
        for _ in range(rounds):
            for name in models:
                t = time.perf_counter()
                for _ in range(steps):
                    train_step(models[name], opts[name], x, y, precision, name == "hf")
                best[name] = min(best[name], (time.perf_counter() - t) / steps)
        tok = batch * 256
        for name in models:
            res[f"{name}_tokens_per_s"] = round(tok / best[name], 1)
        res["ratio"] = round(best["hf"] / best["seqlab"], 3)
        line = f"train {precision}: HF {tok / best['hf']:,.0f} tok/s, seqlab {tok / best['seqlab']:,.0f} tok/s ({res['ratio']:.2f}x)"
        if compile:
            res["compiled_ratio"] = round(best["hf"] / best["seqlab_compiled"], 3)
            line += (f", seqlab compiled {tok / best['seqlab_compiled']:,.0f} tok/s ({res['compiled_ratio']:.2f}x, "
                     f"compile warm-up {res['compile_warmup_s']} s)")
        out[precision] = res
        print(line, flush=True)
    return out


@torch.inference_mode()
def bench_generation(rounds: int, new_tokens: int, threads: int | None) -> dict:
    hf, ours = build(512, 0.1)  # 16 + 256 positions exceed 256: a 512-position table so neither has to slide
    hf.eval()
    ours.eval()
    prompt = torch.randint(1, 65, (1, 16), generator=torch.Generator().manual_seed(1))
    kw = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    cfg = GenerationConfig(max_new_tokens=new_tokens, greedy=True)
    variants = {p: prepare_for_generation(ours, p, threads)[0] for p in ("fp32", "bf16", "int8")}
    variants["fp32_torch"] = GPTDecoder(copy.deepcopy(ours).eval(), "fp32", threads, native=False)
    variants["bf16_torch"] = GPTDecoder(copy.deepcopy(ours).eval().to(torch.bfloat16), "bf16", threads, native=False)
    variants["auto"], auto_precision = prepare_for_generation(ours, "auto", threads)
    hf_tokens = hf.generate(prompt, **kw)[0, 16:].tolist()  # warm-up and reference tokens
    same = {}
    for p, m in variants.items():
        same[p] = generate(m, [prompt[0].tolist()], cfg)[0] == hf_tokens
    best = {k: float("inf") for k in ("hf", *variants)}
    for _ in range(rounds):
        t = time.perf_counter()
        hf.generate(prompt, **kw)
        best["hf"] = min(best["hf"], time.perf_counter() - t)
        for p, m in variants.items():
            t = time.perf_counter()
            generate(m, [prompt[0].tolist()], cfg)
            best[p] = min(best[p], time.perf_counter() - t)
    out = {"hf_fp32_tokens_per_s": round(new_tokens / best["hf"], 1), "auto_picked": auto_precision}
    for p, m in variants.items():
        out[f"seqlab_{p}_kernel"] = getattr(m, "kernel", "module")
        out[f"seqlab_{p}_tokens_per_s"] = round(new_tokens / best[p], 1)
        out[f"seqlab_{p}_vs_hf"] = round(best["hf"] / best[p], 2)
        out[f"seqlab_{p}_greedy_equals_hf"] = same[p]
        print(f"generate {p} ({out[f'seqlab_{p}_kernel']}): seqlab {new_tokens / best[p]:,.0f} tok/s vs HF fp32 {new_tokens / best['hf']:,.0f} tok/s "
              f"= {best['hf'] / best[p]:.2f}x; greedy tokens equal HF: {same[p]}", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16, help="training batch (blocks of 256 tokens)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="training steps per timed round")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--decode-threads", type=int, default=None,
                    help="threads of seqlab's one-token decoding step (default: PyTorch's setting)")
    ap.add_argument("--compile", action="store_true", help="also time seqlab training with GPTConfig.compile")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    res = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
           "transformers": transformers.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "args": vars(args)}
    res["generation"] = bench_generation(args.rounds, args.new_tokens, args.decode_threads)
    if not args.skip_train:
        res["training"] = bench_training(args.batch, args.rounds, args.steps, args.dropout, args.compile)
    text = json.dumps(res, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

"""parallel: training time per step against sequence length, at matched parameter counts.

rnn / lstm / gru / textcnn / transformer classifiers from seqlab's registry, each sized (hidden width,
feature maps or model width) so its parameter count is within a few percent of the same target. One
training step = forward, backward and an AdamW update on a batch of 32 random sequences, timed (median of
several steps after a warm-up) at each length. Then each model trains on builtin:longrange through the
engine for the same wall-clock budget (``--time-budget``), and the accuracy it reaches is recorded.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from .. import load
from .figures import bars, lines
from .probes import SMALL, build, n_params
from .runner import Study, StudyResult

MODELS = ("rnn", "lstm", "gru", "textcnn", "transformer")
CLAIM_KO = "순차적으로 진행되기 때문에 input이 길어질수록 속도가 느려짐. (병렬화가 힘듦.) · 같은 파라미터 수 대비 RNN보다 빠른 속도"
THRESHOLD = ("at the longest sequence length, one Transformer training step takes less time than one LSTM step and one "
             "GRU step at the same parameter count (within 10%)")
VOCAB = 40
# the knob that sizes each model, and the values tried
KNOBS = {"rnn": ("hidden", range(8, 513, 4)), "lstm": ("hidden", range(8, 513, 4)), "gru": ("hidden", range(8, 513, 4)),
         "textcnn": ("n_maps", range(4, 1025, 4)), "transformer": ("embed_dim", range(8, 513, 8))}


def matched_configs(target: int) -> dict[str, dict]:
    """For each model, the settings whose parameter count is closest to ``target``."""
    out = {}
    for m in MODELS:
        knob, values = KNOBS[m]
        best = None
        for v in values:
            extra = {knob: v, **({"d_ff": 2 * v} if m == "transformer" else {})}
            p = n_params(build(m, VOCAB, 2, 0, **extra))
            if best is None or abs(p - target) < abs(best[1] - target):
                best = (extra, p)
            if p > target * 1.2:
                break
        out[m] = {"overrides": best[0], "params": best[1]}
    return out


def step_time(model, T: int, steps: int, seed: int) -> float:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(6, VOCAB, (32, T), generator=g)
    mask = torch.ones(32, T, dtype=torch.bool)
    y = torch.randint(0, 2, (32,), generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(ids, mask), y).backward()
        opt.step()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(ctx) -> StudyResult:
    target = ctx.pick(40_000, 200_000)
    lengths = ctx.pick([16, 64, 192], [16, 64, 256, 512])
    cfgs = matched_configs(target)
    times, rows = {}, []
    for m in MODELS:
        model = build(m, VOCAB, 2, ctx.seed, **cfgs[m]["overrides"]).train()
        for T in lengths:
            times[(m, T)] = step_time(model, T, ctx.n(2, 3, 2), ctx.seed)
    budget_s = ctx.pick(4, 45)
    acc = {}
    for m in MODELS:
        ctx.train("classify", m, f"builtin:longrange?distance=30&n={ctx.n(2000, 8000, 40)}", f"budget-{m}",
                  {"model": {**SMALL[m], **cfgs[m]["overrides"]}, "train": {"patience": 0}}, epochs=1000,
                  batch_size=32, lr=3e-3, time_budget=budget_s / 60)
        acc[m] = load(ctx.run_dir(f"budget-{m}")).evaluate(f"builtin:longrange?distance=30&n=300&seed={ctx.seed + 9}")["accuracy"]
        rows.append([m, ", ".join(f"{k}={v}" for k, v in cfgs[m]["overrides"].items()), cfgs[m]["params"],
                     *[round(times[(m, T)] * 1000, 2) for T in lengths],
                     round(times[(m, lengths[-1])] / times[(m, lengths[0])], 2), round(acc[m], 3)])
    fig = ctx.path("step_time_vs_length.png")
    lines(fig, {f"{m} ({cfgs[m]['params'] / 1000:.1f}k params)": (lengths, [times[(m, T)] * 1000 for T in lengths]) for m in MODELS},
          f"one training step (batch 32) at matched parameter counts (~{target // 1000}k)", "sequence length (tokens)",
          "time per step (ms, log scale)", CLAIM_KO[:36] + "…", logy=True,
          note=f"{torch.get_num_threads()} CPU threads; parameter counts matched within a few %")
    fig2 = ctx.path("accuracy_in_budget.png")
    bars(fig2, acc, f"builtin:longrange (distance 30) after {budget_s} s of training each", "test accuracy (fraction correct)",
         "같은 파라미터 수 대비 RNN보다 빠른 속도", xlabel="model (matched parameter counts)", hline=0.5)
    L = lengths[-1]
    tr = times[("transformer", L)]
    holds = tr < times[("lstm", L)] and tr < times[("gru", L)]
    summary = (f"at length {L}: Transformer {tr * 1000:.1f} ms/step vs LSTM {times[('lstm', L)] * 1000:.1f}, GRU "
               f"{times[('gru', L)] * 1000:.1f}, plain RNN {times[('rnn', L)] * 1000:.1f}, TextCNN {times[('textcnn', L)] * 1000:.1f} "
               f"(~{target // 1000}k parameters each); accuracy after {budget_s} s: "
               + ", ".join(f"{m} {acc[m]:.2f}" for m in MODELS))
    explanation = (
        "An RNN computes h_t from h_{t-1}: the T steps of one sequence run one after another, each a small matrix "
        "product that leaves most of the hardware idle, so the time per step grows in proportion to T with a large "
        "constant. A Transformer layer computes all T positions at once as a few large matrix products (Q K^T is "
        "T×T), which CPUs and GPUs run efficiently; its cost grows like T² for attention but with a small constant, "
        "so at moderate lengths it is faster per parameter. TextCNN is parallel too (convolutions over all positions). "
        "On a CPU with 2 cores the advantage is smaller than on a GPU, where the sequential RNN loop cannot fill the "
        "device at all; a plain RNN, one small matrix product per step, can even be the fastest there. The recurrent cells also differ among themselves: on the CPU torch runs the LSTM through a "
        "fused oneDNN kernel, while the plain RNN and GRU run step by step, so an LSTM step can be faster than a "
        "GRU step of the same size. Timings on a shared machine are noisy: rerun on an idle one before quoting them.")
    return StudyResult("holds" if holds else "does not hold", summary,
                       ["model", "size", "parameters", *[f"ms/step T={T}" for T in lengths], f"T={lengths[-1]} / T={lengths[0]}",
                        f"accuracy after {budget_s} s"], rows, [fig.name, fig2.name], explanation,
                       {"ms_per_step": {f"{m}@{T}": times[(m, T)] * 1000 for m in MODELS for T in lengths},
                        "params": {m: cfgs[m]["params"] for m in MODELS}, "accuracy_in_budget": acc})


STUDY = Study("parallel", CLAIM_KO,
              "Transformers train in parallel over time and are faster than RNNs at equal parameter count; RNNs slow "
              "down as inputs grow.", THRESHOLD, quick_s=45, full_s=300, run=run)

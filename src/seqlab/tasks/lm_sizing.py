"""The GPT's size when the user gives a time budget and no size: the largest that the budget trains enough.

``seqlab train lm --data FILE --time-budget 15`` on a laptop CPU should not train nanoGPT's
shakespeare-char model (6 layers, 384 wide, 256 context: ~3 s a step on 2 cores, 291 steps in 15 minutes,
2.30 nats/char) when a smaller one would converge in the same time. So, only when the user set none of the
size settings and gave a ``--time-budget``, the sizes of :data:`LADDER` are tried smallest first: each is
timed for a few training steps on the first real batch, at the precisions the engine may pick (when timing a
larger one would not fit the probe's own small budget, its time is predicted from the last measured one by
their FLOPs, which overestimates it), and the largest whose steps within the budget train on
:data:`TOKENS_PER_PARAM` tokens per weight of its blocks (or, for a short text, all of its epochs) is used;
the smallest when none does. The rule's one number is Hoffmann et al.'s compute-optimal ratio (2022, about
20 training tokens per parameter), not tuned on any data here. Until the seventeenth session the rule was
2,000 steps (nanoGPT's CPU recipe): on tinyshakespeare in 15 minutes on 2 cores it picked the 4×256 size by
a few percent of timer noise, ~1,800 steps and 1.517 nats/char, where the 4×128 size trains ~10,000 steps
(26 tokens per weight) to 1.488 (RESULTS.md #18, "Seventeenth session").

Without ``--epochs`` such a run trains until the budget ends (epochs = :data:`BUDGET_EPOCHS`; early
stopping on the validation loss still ends it sooner): the size was chosen for the whole budget, and the
default 10 epochs would end a small model's run early (the baby GPT on tinyshakespeare: 10.5 of 15 minutes).

The choice and its timings are logged and kept in the run's config.json (the sizes) and meta.json
(``sizing``), so ``--resume`` and ``predict`` see the same model; under torchrun rank 0 decides for all.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time

import torch

from ..device import time_steps
from ..train import distributed

log = logging.getLogger(__name__)

TOKENS_PER_PARAM = 20  # training tokens a size needs per weight of its blocks (Hoffmann et al. 2022)
USABLE = 0.85  # share of the budget left for training steps (evaluations, the precision probe, saving)
PROBE_SHARE = 0.03  # the timing may use at most this share of the budget ...
PROBE_CAP_S = 30.0  # ... and never more than this

# name, GPT config values, block size, learning rate (used only when --lr is not given)
LADDER = (
    ("nanogpt-shakespeare", {"n_layer": 6, "n_head": 6, "n_embd": 384}, 256, 1e-3),  # the config default
    ("small", {"n_layer": 4, "n_head": 4, "n_embd": 256, "attn_dropout": 0.0}, 128, 2e-3),  # RESULTS #4's flags
    ("baby", {"n_layer": 4, "n_head": 4, "n_embd": 128, "attn_dropout": 0.0}, 64, 1e-3),  # nanoGPT's CPU recipe
)
BUDGET_EPOCHS = 100_000  # epochs of a sized run without --epochs: the budget (or early stopping) ends it
SIZE_KEYS = ("n_layer", "n_head", "n_embd", "n_inner", "block_size")


def applies(req, comp) -> bool:
    """Size by budget: a new GPT run with a --time-budget, where the user chose no size."""
    return (comp.model_name == "gpt" and bool(comp.train.time_budget) and not req.resume
            and not any(req.given("model", k) for k in SIZE_KEYS) and not req.given("data", "block_size"))


def choose(model_cfg, train, build, loss_fn, batches, device: torch.device) -> tuple[dict, dict]:
    """The chosen size as ``{"model": GPT config values, "block_size": T, "lr": lr}``, and the timings.

    model_cfg: the GPT config (vocabulary size filled in); train: the TrainConfig; build(cfg) -> module;
    batches(T) -> one epoch of training batches of blocks of T tokens."""
    return distributed.on_main(lambda: _choose(model_cfg, train, build, loss_fn, batches, device))


def _choose(model_cfg, train, build, loss_fn, batches, device):
    budget_s = train.time_budget * 60
    cap = min(PROBE_CAP_S, PROBE_SHARE * budget_s)
    precisions = ["fp32", "bf16"] if train.precision == "auto" and device.type == "cpu" else [train.precision]
    if train.precision == "auto" and device.type == "cuda":
        precisions = ["bf16" if torch.cuda.is_bf16_supported() else "fp16"]
    t0 = time.perf_counter()
    timings: dict = {}
    chosen, prev = LADDER[-1], None  # prev: (flops, seconds) of the last size timed
    for entry in reversed(LADDER):  # smallest first: its timing is cheap, and predicts the larger ones'
        name, sizes, T, _ = entry
        epoch = batches(T)
        if not epoch:  # the text is shorter than one block of this size
            break
        cfg = dataclasses.replace(model_cfg, **sizes, block_size=T)
        per_step = epoch[0]["x"].numel()  # tokens a step trains on
        flops = step_flops(cfg, per_step)
        need = min(TOKENS_PER_PARAM * block_params(cfg), train.epochs * len(epoch) * per_step,
                   (train.max_steps or float("inf")) * per_step)  # small data: all of it
        predicted = prev[1] * flops / prev[0] if prev else None  # pessimistic: larger matmuls run faster per FLOP
        left = cap - (time.perf_counter() - t0)
        measured = predicted is None or 2 * predicted * len(precisions) <= left  # affordable: measure it
        if measured:
            step_s = _step_time(build(cfg).to(device).train(), loss_fn, epoch[0], device, precisions, left)
            prev = (flops, step_s)
        else:
            step_s = predicted
        steps = int(USABLE * budget_s / step_s)
        timings[name] = {"step_ms": round(step_s * 1e3, 1), "measured": measured, "steps_in_budget": steps,
                         "steps_needed": math.ceil(need / per_step), "tokens_in_budget": steps * per_step,
                         "tokens_needed": int(need)}
        if steps * per_step < need and entry is not LADDER[-1]:
            break
        chosen = entry
    name, sizes, T, lr = chosen
    info = {"size": name, "probe": timings, "probe_s": round(time.perf_counter() - t0, 2),
            "tokens_per_param": TOKENS_PER_PARAM}
    log.info("GPT size for a %g-minute budget: %s (%s; probe %.1f s)", train.time_budget, name,
             ", ".join(f"{k} {v['step_ms']} ms/step -> {v['steps_in_budget']} steps, "
                       f"{v['tokens_in_budget'] / 1e6:.1f}M of {v['tokens_needed'] / 1e6:.1f}M tokens"
                       for k, v in timings.items()),
             info["probe_s"])
    return {"model": sizes, "block_size": T, "lr": lr}, info


def block_params(cfg) -> int:
    """Weights of the Transformer blocks (attention 4 C², MLP 2 C n_inner per layer; embeddings, biases and
    norms not counted, as in Kaplan et al.'s N)."""
    C = cfg.n_embd
    return cfg.n_layer * (4 * C * C + 2 * C * (cfg.n_inner or 4 * C))


def step_flops(cfg, tokens: int) -> float:
    """Forward + backward FLOPs of one step over ``tokens`` positions (Kaplan et al.'s 6N per token for the
    weights, plus attention's scores and mixing over the block, plus the output layer)."""
    L, C, T, V = cfg.n_layer, cfg.n_embd, cfg.block_size, cfg.vocab_size
    return tokens * (6 * 12 * L * C * C + 6 * 2 * L * T * C + 6 * C * V)


def _step_time(model, loss_fn, batch, device, precisions, cap_s: float) -> float:
    """The best step time over ``precisions`` within cap_s (the precision probe's timing, two rounds)."""
    batch = {k: v.to(device) for k, v in batch.items()}
    return min(time_steps(model, loss_fn, batch, device, rounds=2, cap_s=cap_s, limit_s=cap_s,
                          precisions=tuple(precisions)).values())

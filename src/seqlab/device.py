"""Device and numeric precision.

``--device auto`` takes CUDA when present, else the CPU. ``--precision auto`` *measures*: it times
a few training steps of the actual model on the first batch in fp32 and in bf16 autocast and keeps
the faster (on CPUs with AVX512-BF16 or AMX, bf16 matmuls run several times faster; on others, and
for small recurrent models, fp32 often wins). On CUDA, auto means bf16 where supported.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import time

import torch

from .errors import UserError

log = logging.getLogger(__name__)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def pick_device(name: str = "auto") -> torch.device:
    from .train.distributed import device_for

    own_gpu = device_for(name)  # under torchrun: this process's GPU, cuda:LOCAL_RANK
    if own_gpu is not None:
        return own_gpu
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UserError(f"--device {name}: expected auto, cpu or cuda")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    """The autocast context for ``precision`` (fp32: none)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type == "cpu" and precision == "fp16":
        raise UserError("--precision fp16 is for CUDA; on the CPU use bf16 or fp32")
    return torch.autocast(device_type=device.type, dtype=dtype)


def one_step_time(model, loss_fn, batch, device, precision) -> float:
    """Seconds for one forward and backward of ``loss_fn(model, batch)`` under ``precision``'s autocast."""
    t = time.perf_counter()
    with autocast(device, precision):
        loss, _ = loss_fn(model, batch)
    loss.backward()
    model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


PROBE_CAP_S = 2.0  # the precision probe's wall-clock limit (5% of a --time-budget when that is smaller)


def time_steps(model, loss_fn, batch, device, warmup=1, rounds=3, cap_s: float = PROBE_CAP_S,
               limit_s: float = float("inf"), precisions: tuple = ("fp32", "bf16")) -> dict[str, float]:
    """Best-of-``rounds`` step time per precision, rounds alternating so load changes hit both alike.

    Keeps to ``cap_s`` seconds: a round runs only when it is expected to end within the cap (a big
    model: the one warm-up step of each precision decides). A model whose one fp32 step alone passes the
    cap still gets one bf16 step, since big matmuls are where bf16 gains most, unless the probe would then
    pass ``limit_s`` (5% of the time budget): then bf16 is reported as not measured (``inf``).
    ``precisions``: the autocast precisions to time, in order (the first is always measured).
    """
    t0 = time.perf_counter()
    best = {p: float("inf") for p in precisions}
    for p in precisions:
        for _ in range(warmup):  # first steps build kernels and caches
            best[p] = one_step_time(model, loss_fn, batch, device, p)
        spent = time.perf_counter() - t0
        if p != precisions[-1] and spent > cap_s and spent + best[p] > limit_s:
            log.info("step timing: one %s step took %.1f s; another precision's step would pass the probe's "
                     "limit, so it is not measured", p, best[p])
            return best
    for _ in range(rounds):
        if time.perf_counter() - t0 + sum(best.values()) > cap_s:  # this round would end past the cap
            break
        for p in best:
            best[p] = min(best[p], one_step_time(model, loss_fn, batch, device, p))
    return best


def resolve_precision(precision: str, device: torch.device, model=None, loss_fn=None, batch=None,
                      budget_s: float = 0.0) -> tuple[str, dict]:
    """Turn ``auto`` into a concrete precision; returns it and the timings that decided it.

    ``budget_s``: the run's time budget in seconds (0 = none); the probe takes at most 5% of it,
    and never more than :data:`PROBE_CAP_S`.
    """
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision, {}
    if device.type == "cuda":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16"), {}
    if model is None or batch is None:
        return "fp32", {}
    cap = min(PROBE_CAP_S, 0.05 * budget_s) if budget_s else PROBE_CAP_S
    t0 = time.perf_counter()
    probe = copy.deepcopy(model).train()
    rng = torch.get_rng_state()
    try:
        timings = time_steps(probe, loss_fn, batch, device, cap_s=cap,
                             limit_s=0.05 * budget_s if budget_s else float("inf"))
    except RuntimeError as e:  # an op without a bf16 kernel on this CPU
        log.info("bf16 probe failed (%s); using fp32", e)
        timings = {"fp32": 1.0, "bf16": float("inf")}
    finally:
        torch.set_rng_state(rng)
    cost = time.perf_counter() - t0
    choice = "bf16" if timings["bf16"] < 0.8 * timings["fp32"] else "fp32"
    log.info("precision auto: fp32 %.1f ms/step, bf16 %.1f ms/step -> %s (probe took %.2f s)",
             timings["fp32"] * 1e3, timings["bf16"] * 1e3, choice, cost)
    out = {k: round(v * 1e3, 2) for k, v in timings.items() if v != float("inf")}
    out["probe_total"] = round(cost * 1e3, 1)  # the probe's own cost, ms
    return choice, out

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


def _one_step(model, loss_fn, batch, device, precision) -> float:
    t = time.perf_counter()
    with autocast(device, precision):
        loss, _ = loss_fn(model, batch)
    loss.backward()
    model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def _time_steps(model, loss_fn, batch, device, warmup=2, rounds=3) -> dict[str, float]:
    """Best-of-``rounds`` step time per precision, rounds alternating so load changes hit both alike."""
    for p in ("fp32", "bf16"):
        for _ in range(warmup):  # first steps build kernels and caches
            _one_step(model, loss_fn, batch, device, p)
    best = {"fp32": float("inf"), "bf16": float("inf")}
    for _ in range(rounds):
        for p in best:
            best[p] = min(best[p], _one_step(model, loss_fn, batch, device, p))
    return best


def resolve_precision(precision: str, device: torch.device, model=None, loss_fn=None, batch=None) -> tuple[str, dict]:
    """Turn ``auto`` into a concrete precision; returns it and the timings that decided it."""
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision, {}
    if device.type == "cuda":
        return ("bf16" if torch.cuda.is_bf16_supported() else "fp16"), {}
    if model is None or batch is None:
        return "fp32", {}
    probe = copy.deepcopy(model).train()
    rng = torch.get_rng_state()
    try:
        timings = _time_steps(probe, loss_fn, batch, device)
    except RuntimeError as e:  # an op without a bf16 kernel on this CPU
        log.info("bf16 probe failed (%s); using fp32", e)
        timings = {"fp32": 1.0, "bf16": float("inf")}
    finally:
        torch.set_rng_state(rng)
    choice = "bf16" if timings["bf16"] < 0.8 * timings["fp32"] else "fp32"
    log.info("precision auto: fp32 %.1f ms/step, bf16 %.1f ms/step -> %s", timings["fp32"] * 1e3, timings["bf16"] * 1e3, choice)
    return choice, {k: round(v * 1e3, 2) for k, v in timings.items()}

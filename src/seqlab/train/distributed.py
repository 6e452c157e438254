"""Several processes training one model: torchrun's environment, the process group, and the few
collectives the engine needs.

``torchrun`` starts one process per rank and tells each who it is through the environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). :func:`setup` joins the process group from
there (gloo for CPU tensors, NCCL for CUDA tensors where CUDA exists: the backend follows the
tensor, so ``--device cpu`` on a GPU machine still works), pins the process to ``cuda:LOCAL_RANK``
and registers a clean ``destroy_process_group`` at exit. Without torchrun's environment (or with
WORLD_SIZE=1) nothing here starts anything: every function is the identity or a no-op for a world
of one process, so a single-process run is exactly what it was before distributed training existed.

The data rule (:func:`shard`): every rank builds the same global batches (same seed, same order
as one process) and keeps its slice of the rows, so the global batch size and the learning rate
mean what they mean in one process. Rows ``[r*B//W, (r+1)*B//W)`` go to rank ``r`` of ``W``; the
slices differ by at most one row when ``W`` does not divide ``B``. Each rank's loss is a mean over
its rows, scaled by ``W * rows / B`` before backward, so DDP's gradient average equals the gradient
of the mean over the whole batch. A loss that is a mean over some count instead (the tokens of a
seq2seq or mlm batch) is scaled by ``W * n / N`` instead (:func:`count_weight`, the engine's
``mean_over="count"``). A rank whose slice is empty (``B < W``, say the last batch of an epoch)
runs the batch's first row with weight 0: it still takes part in the gradient all-reduce.

The collectives below move CPU tensors (gloo) and are small: a flag, a clock reading, a metrics
dict. They are called by every rank at the same points of the loop, decided by state every rank
shares, so no rank ever waits for a collective the others skip.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
import sys
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist

from ..errors import UserError

log = logging.getLogger(__name__)
T = TypeVar("T")
_TIMEOUT_MIN = float(os.environ.get("SEQLAB_DIST_TIMEOUT_MIN", "60"))  # a rank waits this long for the others
# (rank 0 evaluating while the others wait included) before the collective fails


def launched() -> bool:
    """Whether torchrun started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1


def rank() -> int:
    return int(os.environ.get("RANK", "0")) if launched() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if launched() else 0


def is_main() -> bool:
    """Rank 0: the one process that writes files, logs progress and prints."""
    return rank() == 0


def setup() -> bool:
    """Join the process group torchrun described (once; later calls return at once). True when distributed."""
    if not launched():
        return False
    if dist.is_initialized():
        return True
    if torch.cuda.is_available() and local_rank() < torch.cuda.device_count():
        torch.cuda.set_device(local_rank())
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=_TIMEOUT_MIN))
    atexit.register(destroy)
    if not is_main():
        logging.getLogger("seqlab").setLevel(logging.WARNING)
    log.info("process group: %d processes (%s)", world_size(), backend)
    return True


def destroy() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def quiet_other_ranks() -> None:
    """Ranks other than 0 print nothing on stdout and log only warnings (their errors still reach stderr)."""
    if setup() and not is_main():
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the life of the process


def backend_for(device: torch.device) -> str | None:
    """The backend that moves this device's gradients (None in one process)."""
    if not launched():
        return None
    return "nccl" if device.type == "cuda" else "gloo"


def device_for(name: str) -> torch.device | None:
    """Under torchrun, ``auto``/``cuda`` on a CUDA machine mean this process's own GPU, cuda:LOCAL_RANK."""
    if not launched() or name not in ("auto", "cuda") or not torch.cuda.is_available():
        return None
    n = torch.cuda.device_count()
    if local_rank() >= n:
        raise UserError(f"process {local_rank()} of this machine has no GPU of its own: the machine has {n} GPU(s) "
                        f"and torchrun started more processes on it (use --nproc_per_node {n}, or --device cpu)")
    return torch.device(f"cuda:{local_rank()}")


# ---------------------------------------------------------------- collectives (identity in one process)
def barrier() -> None:
    if setup():
        dist.barrier()


def broadcast(obj: T) -> T:
    """Rank 0's ``obj`` on every rank (any picklable value)."""
    if not setup():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0, device=torch.device("cpu"))
    return box[0]


def on_main(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 only and give every rank its result; an exception raised by ``fn`` is raised
    on every rank (so a refused ``--out`` ends all of them with rank 0's message, and none waits)."""
    if not setup():
        return fn()
    result: tuple[bool, Any] = (True, None)
    error = None
    if is_main():
        try:
            result = (True, fn())
        except Exception as e:  # noqa: BLE001 - re-raised below, on every rank
            error = e
            result = (False, e if _picklable(e) else RuntimeError(f"on rank 0: {type(e).__name__}: {e}"))
    ok, value = broadcast(result)
    if not ok:
        raise error or value
    return value


def _picklable(obj) -> bool:
    import pickle

    try:
        pickle.dumps(obj)
        return True
    except Exception:  # noqa: BLE001 - anything pickle refuses
        return False


def main_value(x: float) -> float:
    """Rank 0's reading of a number (a clock): every rank then takes the same decision from it."""
    if not setup():
        return x
    t = torch.tensor([x], dtype=torch.float64)
    dist.broadcast(t, src=0)
    return float(t.item())


def all_sum(values: list[float]) -> list[float]:
    """Each value summed over the ranks (float64: exact for token counts below 2**53)."""
    if not setup():
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def all_gather(obj: T) -> list[T]:
    """Every rank's ``obj``, in rank order."""
    if not setup():
        return [obj]
    out: list = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def describe(device: torch.device) -> dict:
    """What summary.json records about the processes: world size, backend and each rank's device."""
    if not setup():
        return {"world_size": 1}
    import socket

    return {"world_size": world_size(), "backend": backend_for(device),
            "devices": all_gather(f"{socket.gethostname()}:{device}")}


# ---------------------------------------------------------------- data and model
def batch_rows(batch: dict) -> int | None:
    """The batch size B: the first dimension of the first tensor with one (None for a batch of scalars)."""
    for v in batch.values():
        if isinstance(v, torch.Tensor) and v.dim() >= 1:
            return v.size(0)
    return None


def shard(batch: dict, r: int, w: int) -> tuple[dict, float]:
    """Rank ``r``'s rows of a global batch and its loss weight ``w * rows / B`` (see the module docstring).

    Every tensor whose first dimension is B (batch first) is sliced; anything else (a 0-d flag
    such as the lm's ``reset``, a non-tensor) is passed whole to every rank.
    """
    B = batch_rows(batch)
    if w == 1 or B is None:
        return batch, 1.0
    lo, hi = r * B // w, (r + 1) * B // w
    weight = w * (hi - lo) / B
    if hi == lo:  # B < w: a zero-weight stand-in row keeps this rank in the all-reduce
        lo, hi = 0, 1
    cut = {k: (v[lo:hi] if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.size(0) == B else v)
           for k, v in batch.items()}
    return cut, weight


def count_weight(n) -> float:
    """The weight ``W * n / (n summed over the ranks)`` of a loss that is a mean over ``n`` items (tokens), so
    that DDP's average of the weighted shard means is the mean over all the batch's items."""
    total = all_sum([float(n)])[0]
    return world_size() * float(n) / total if total else 0.0


class LossModule(torch.nn.Module):
    """The task's ``loss_fn(model, batch)`` as a module, so DistributedDataParallel wraps the whole loss.

    The task's function still receives the plain model (its ``isinstance`` checks and attributes
    work) while DDP sees every forward and registers the gradient all-reduce for it.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: Callable):
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: dict):
        return self.loss_fn(self.model, batch)


def loss_forward(model: torch.nn.Module, loss_fn: Callable, device: torch.device) -> Callable[[dict], tuple]:
    """``batch -> (loss, n)``: the task's loss on the model, through DDP when there are several processes."""
    if not setup():
        return lambda batch: loss_fn(model, batch)
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    # find_unused_parameters: a task may leave parameters out of a step (mlm's batch with no masked token)
    return DDP(LossModule(model, loss_fn), device_ids=ids, find_unused_parameters=True)


def reseed(seed: int, step: int) -> None:
    """Ranks other than 0 draw dropout from their own stream, a function of (seed, rank, step), so
    shards do not share masks and a resumed run draws what the uninterrupted one drew; rank 0 keeps
    the single-process stream (saved in the checkpoint)."""
    if launched() and not is_main():
        torch.manual_seed((seed * 1_000_003 + rank()) * 1_000_003 + step)

"""How many CPU threads training should use on a machine other programs are also using.

PyTorch starts one thread per core. When other processes keep some cores busy, those threads
wait for each other at every parallel region, and a step can run several times slower than with
fewer threads (an issue report measured 5x slower with one other busy process on 2 cores). Before training,
:func:`choose_threads` looks at how many other processes are runnable right now
(``/proc/loadavg``; elsewhere the one-minute load average) against the cores this process may
use, and lowers ``torch.set_num_threads`` to the cores left free, saying so once. An explicit
choice always wins: ``train.threads=N`` (``--set train.threads=N``) or ``OMP_NUM_THREADS`` in the
environment.
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)
DEFAULT_THREADS = torch.get_num_threads()  # PyTorch's choice at start-up, before anything lowered it


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def other_runnable() -> float:
    """Processes other than this one that want a CPU now (an estimate; 0 when unknown).

    ``/proc/loadavg``'s fourth field counts runnable tasks this instant (this process included);
    the one-minute load average smooths it. The smaller of the two avoids reacting to a short
    burst or to load that has already gone away.
    """
    now = None
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            now = int(f.read().split()[3].split("/")[0]) - 1  # minus this process
    except (OSError, ValueError, IndexError):
        pass
    try:
        avg = os.getloadavg()[0]
    except (AttributeError, OSError):
        avg = None
    vals = [v for v in (now, avg) if v is not None]
    return max(0.0, min(vals)) if vals else 0.0


def choose_threads(requested: int = 0, apply: bool = True) -> tuple[int, str]:
    """The thread count for training and why; sets it when ``apply``.

    ``requested`` > 0 is used as given. Otherwise, with ``OMP_NUM_THREADS`` set, PyTorch's setting
    is kept; else PyTorch's start-up count, capped at the cores other processes leave free (at least 1).
    The choice is made again before each training, so a busy spell does not outlast itself.
    """
    current = torch.get_num_threads()
    default = max(current, DEFAULT_THREADS)
    if requested > 0:
        n, why = requested, f"train.threads={requested}"
    elif os.environ.get("OMP_NUM_THREADS"):
        return current, f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}"
    else:
        cores, busy = usable_cores(), other_runnable()
        free = max(1, int(cores - busy + 0.5))
        n = min(free, default)
        why = f"{cores} cores, {busy:.1f} busy elsewhere: {n} thread(s)"
        if n < default:
            log.warning("%.1f of %d cores are busy with other processes, so training uses %d thread(s) instead of %d "
                        "(threads waiting for a busy core slow every step; results can differ in the last bits from a "
                        "run with %d); choose with --set train.threads=N or OMP_NUM_THREADS=N", busy, cores, n, default, default)
    if apply and n != current:
        torch.set_num_threads(n)
    return n, why

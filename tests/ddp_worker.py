"""``seqlab ARGS`` with a simulated crash, for the distributed tests (run by torchrun, not collected).

SEQLAB_TEST_CRASH_AT=N makes the ranks listed in SEQLAB_TEST_CRASH_RANKS (comma-separated; default all)
raise right after optimizer step N, as a killed or failing process would. SEQLAB_TEST_MEAN_OVER=count
builds every Trainer with ``mean_over="count"`` (what a task whose loss is a token mean passes).
SEQLAB_TEST_FAST_CLOCK_RANK=R makes the engine's clock run 20 times faster on rank R.
"""

import os
import sys

import seqlab.train.engine as engine
from seqlab.cli.main import main
from torch.distributed.elastic.multiprocessing.errors import record


class SimulatedCrash(RuntimeError):
    pass


def _install_crash() -> None:
    at = int(os.environ.get("SEQLAB_TEST_CRASH_AT", "0"))
    ranks = os.environ.get("SEQLAB_TEST_CRASH_RANKS")
    if not at or (ranks and os.environ.get("RANK", "0") not in ranks.split(",")):
        return
    real_init = engine.Trainer.__init__

    def init(self, *a, **kw):
        real_init(self, *a, **kw)

        def on_step(step):
            if step == at:
                raise SimulatedCrash(f"simulated failure of rank {os.environ.get('RANK')} at step {step}")

        self.on_step = on_step

    engine.Trainer.__init__ = init


def _install_mean_over() -> None:
    mean_over = os.environ.get("SEQLAB_TEST_MEAN_OVER")
    if not mean_over:
        return
    real_init = engine.Trainer.__init__

    def init(self, *a, **kw):
        real_init(self, *a, **{**kw, "mean_over": mean_over})

    engine.Trainer.__init__ = init


class _FastClock:
    def __init__(self, factor: float):
        import time

        self.factor, self.real = factor, time.perf_counter

    def perf_counter(self) -> float:
        return self.real() * self.factor


def _install_fast_clock() -> None:
    if os.environ.get("SEQLAB_TEST_FAST_CLOCK_RANK") == os.environ.get("RANK", "0"):
        engine.time = _FastClock(20.0)


if __name__ == "__main__":
    _install_fast_clock()
    _install_mean_over()
    _install_crash()
    sys.exit(record(main)())

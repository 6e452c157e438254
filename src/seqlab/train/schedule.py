"""Learning-rate schedules: linear warmup, then cosine, linear or constant.

The schedule is a function of *progress* p in [0, 1]. Without a time budget p = step / total_steps.
With one, p = max(step / total_steps, elapsed / budget), so the learning rate reaches its floor
when the budget runs out instead of being cut off at a high value.
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "linear", "constant")


def lr_factor(p: float, schedule: str, warmup: float, min_ratio: float) -> float:
    """Multiplier on the peak learning rate at progress ``p``."""
    p = min(max(p, 0.0), 1.0)
    if warmup > 0 and p < warmup:
        return max(p / warmup, 1e-3)
    if schedule == "constant":
        return 1.0
    q = (p - warmup) / max(1e-8, 1 - warmup)
    if schedule == "linear":
        return min_ratio + (1 - min_ratio) * (1 - q)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * q))

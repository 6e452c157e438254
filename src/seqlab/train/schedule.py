"""Learning-rate schedules: linear warmup, then cosine, linear, constant or exponential.

cosine, linear and constant are functions of *progress* p in [0, 1]. Without a time budget
p = step / total_steps. With one, p = max(step / total_steps, elapsed / budget), so the learning
rate reaches its floor when the budget runs out instead of being cut off at a high value.

exponential is a function of the *completed epochs* e instead: lr * gamma**e, constant within an
epoch, never below ``min_ratio`` * lr: the per-epoch decay of the LTSF-Linear code (gamma 0.5, its
"type1") and of PatchTST (gamma 0.9). It ignores the time budget (the budget only stops training).
"""

from __future__ import annotations

import math

SCHEDULES = ("cosine", "linear", "constant", "exponential")


def lr_factor(p: float, schedule: str, warmup: float, min_ratio: float,
              epochs_done: int = 0, gamma: float = 0.5) -> float:
    """Multiplier on the peak learning rate at progress ``p`` (after ``epochs_done`` whole epochs)."""
    p = min(max(p, 0.0), 1.0)
    if warmup > 0 and p < warmup:
        return max(p / warmup, 1e-3)
    if schedule == "exponential":
        return max(min_ratio, gamma ** max(epochs_done, 0))
    if schedule == "constant":
        return 1.0
    q = (p - warmup) / max(1e-8, 1 - warmup)
    if schedule == "linear":
        return min_ratio + (1 - min_ratio) * (1 - q)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * q))

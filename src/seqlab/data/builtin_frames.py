"""``builtin:frames``: numeric per-frame sequences with a score, the notes' "동작 점수" (a score for a video
from its frames), as a sequence-regression set.

Each example is a clip of T frames (T uniform in [min_len, max_len]), each frame three features:

    speed_t    a smooth random signal around a clip-level tempo
    height_t   a jump profile: a few bumps of random height at random frames
    wobble_t   noise whose size is the clip's unsteadiness

and its score (about 0..10, a judge's mark):

    score = 4 * mean_t speed_t  +  3 * max_t height_t  -  6 * std_t wobble_t  +  noise

so a model must average one feature over the whole clip, find the peak of another, and measure the
spread of the third: neither the first nor the last frame alone is enough. Deterministic for a seed.
"""

from __future__ import annotations

import numpy as np

from .params import int_param

FEATURES = ("speed", "height", "wobble")


def frames(params: dict, seed: int) -> dict:
    """``{"sequences": [T_i x 3 float lists], "targets": [float], "features": [...], "numeric": True}``."""
    n = int_param(params, "n", 1000, 4)
    lo = int_param(params, "min_len", 12, 2, 10000)
    hi = int_param(params, "max_len", 40, lo, 10000)
    noise = int_param(params, "noise", 5, 0, 100) / 100.0  # score noise, in hundredths of a point
    rng = np.random.default_rng([seed, n, lo, hi, 7])
    seqs, targets = [], []
    for _ in range(n):
        T = int(rng.integers(lo, hi + 1))
        tempo = rng.uniform(0.2, 1.0)
        speed = tempo + 0.15 * np.cumsum(rng.normal(0, 0.2, T)) / np.sqrt(np.arange(1, T + 1))
        height = np.zeros(T)
        for _ in range(int(rng.integers(1, 4))):  # one to three jumps
            c, h = rng.integers(0, T), rng.uniform(0.1, 1.0)
            height += h * np.exp(-0.5 * ((np.arange(T) - c) / 1.5) ** 2)
        wobble = rng.normal(0, rng.uniform(0.02, 0.4), T)
        score = 4 * speed.mean() + 3 * height.max() - 6 * wobble.std() + rng.normal(0, noise)
        seqs.append(np.stack([speed, height, wobble], 1).round(4).tolist())
        targets.append(round(float(score), 4))
    return {"sequences": seqs, "targets": targets, "features": list(FEATURES), "numeric": True}

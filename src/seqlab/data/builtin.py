"""Datasets seqlab generates itself: no download, deterministic for a seed, sized by parameters.

``builtin:NAME?key=value&...`` selects one. Each generator returns a dict whose shape depends on the
task it feeds:

- classify: ``{"texts": [str], "labels": [str]}``
- lm: ``{"text": str}``
- seq2seq: ``{"src": [str], "tgt": [str]}``
- forecast: ``{"frame": pandas.DataFrame}`` with a time column and numeric columns
- caption: ``{"images": (N, H, W, 3) uint8, "captions": [str], "objects": [...], "relations": [...]}``
- embed: ``{"text": str, "analogies": [(a, b, c, d)], "groups": {word: group}}``
- regress: ``{"sequences": [[[float]]], "targets": [float], "numeric": True}``
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from ..errors import UserError
from .params import int_param
from .builtin_frames import frames
from .builtin_scenes import scenes
from .builtin_words import analogies
from .builtin_seq2seq import SPECS as SEQ2SEQ_SPECS


@dataclass(frozen=True)
class Builtin:
    name: str
    task: str
    description: str
    params: str  # documented parameters and their defaults
    make: Callable[[dict, int], dict]


def longrange(params: dict, seed: int) -> dict:
    """The notes' "멀리 있는 입력의 영향이 낮다": the label is the first token, ``distance`` tokens from the end.

    Each example is ``MARK w_1 ... w_{distance}``: a class marker followed by ``distance`` noise
    words drawn from a small vocabulary that never contains a marker. A model that reads the
    sequence left to right and classifies from its last state must carry the marker across
    ``distance`` steps, which is what a plain RNN fails to do as the distance grows.
    """
    distance = int_param(params, "distance", 50, 1, 5000)
    n = int_param(params, "n", 2000, 4)
    classes = int_param(params, "classes", 2, 2, 26)
    vocab = int_param(params, "vocab", 20, 2, 1000)
    rng = random.Random(f"longrange-{seed}-{distance}-{n}-{classes}-{vocab}")
    markers = [f"class{chr(ord('a') + k)}" for k in range(classes)]
    noise = [f"w{k}" for k in range(vocab)]
    texts, labels = [], []
    for i in range(n):
        k = i % classes
        words = [markers[k]] + [rng.choice(noise) for _ in range(distance)]
        texts.append(" ".join(words))
        labels.append(markers[k])
    order = list(range(n))
    rng.shuffle(order)
    return {"texts": [texts[i] for i in order], "labels": [labels[i] for i in order]}


def hello(params: dict, seed: int) -> dict:
    """The notes' HELL -> ELLO: the word ``hello`` repeated; every next character is determined."""
    n = int_param(params, "n", 200, 1)
    return {"text": "hello\n" * n}


BUILTINS: dict[str, Builtin] = {
    "longrange": Builtin("longrange", "classify", "label = first token, DISTANCE noise tokens before the end (RNN memory test)",
                         "distance=50, n=2000, classes=2, vocab=20", longrange),
    "hello": Builtin("hello", "lm", "the word 'hello' repeated: HELL -> ELLO next-character prediction",
                     "n=200", hello),
    "frames": Builtin("frames", "regress", "per-frame feature sequences (speed, height, wobble) -> a score: sequence regression",
                      "n=1000, min_len=12, max_len=40, noise=5", frames),
    "analogies": Builtin("analogies", "embed", "sentences with planted topics and a male/female relation (king:queen::man:woman)",
                         "n=4000, topic=4, gender=4", analogies),
    "scenes": Builtin("scenes", "caption", "images of 1-2 coloured shapes -> 'a small red circle left of a large blue square'; "
                      "split=heldout: unseen colour-shape pairs", "n=2000, size=32, max_objects=2", scenes),
}

BUILTINS.update({n: Builtin(n, "seq2seq", *spec) for n, spec in SEQ2SEQ_SPECS.items()})


def _series(name: str) -> Callable[[dict, int], dict]:
    def make(params: dict, seed: int) -> dict:
        from .builtin_series import make_series  # pandas is imported only when a series is asked for

        return {"frame": make_series(name, **{"seed": seed, **{k: v for k, v in params.items() if k != "split"}})}

    return make


_SERIES = {
    "sine": ("hourly sum of two sines plus noise: the easiest forecasting check", "n=2000, noise=0.05, period=24"),
    "seasonal": ("hourly load with trend, daily and weekly cycles, noise, and a leading covariate temp", "n=3000, noise=0.3, trend=0.002"),
    "random_walk": ("stock-like daily close price (geometric random walk) and volume: naive is optimal", "n=1500, drift=0.0003, vol=0.015, start=100.0"),
}
BUILTINS.update({n: Builtin(n, "forecast", d, p, _series(n)) for n, (d, p) in _SERIES.items()})


def generate(name: str, params: dict, seed: int = 0) -> dict:
    if name not in BUILTINS:
        raise UserError(f"unknown built-in dataset {name!r}; built-ins: {', '.join(sorted(BUILTINS))}")
    known = {p.split("=")[0].strip() for p in BUILTINS[name].params.split(",") if p.strip()} | {"split", "seed"}
    for k in params:
        if k not in known:
            raise UserError(f"builtin:{name}: unknown parameter {k!r}; parameters: {BUILTINS[name].params}")
    if "seed" in params:
        seed = int_param(params, "seed", seed, 0)
    return BUILTINS[name].make(params, seed)

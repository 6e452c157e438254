"""``builtin:scenes``: small RGB images of one or two shapes and their captions, for the ``caption`` task
(the notes' vec2seq "Man is playing piano", with shapes instead of photographs).

Every image is ``size`` x ``size`` (default 32) with a dark, slightly noisy background and one or two
objects, each with a shape (circle, square, triangle), a colour (red, green, blue, yellow, white) and a
size (small, large), placed at random. The caption is generated from the scene by a fixed grammar:

    one object:   "a small red circle"
    two objects:  "a small red circle left of a large blue square"      (horizontally apart)
                  "a large green triangle above a small white circle"   (vertically apart)

Two-object scenes are placed so that one relation clearly holds; the subject is always the left (or
upper) object, so each scene has exactly one correct caption and exact match is meaningful.

Splits (``?split=``): ``train``, ``valid`` and ``test`` are drawn from the same scenes, none of which
contains a *held-out* colour-shape combination (blue triangle, red square, green circle, yellow
triangle, white square); ``heldout`` scenes each contain at least one of them, so a model is tested on
attribute combinations it never saw (compositional generalisation). Deterministic for a seed; the
task's train/valid/test roles use different seeds, so no image repeats across them by construction.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import UserError
from .params import int_param

SHAPES = ("circle", "square", "triangle")
COLOURS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 230), "yellow": (230, 210, 40),
           "white": (235, 235, 235)}
SIZES = ("small", "large")
RELATIONS = ("left of", "above")
HELDOUT = {("blue", "triangle"), ("red", "square"), ("green", "circle"), ("yellow", "triangle"), ("white", "square")}
SPLITS = ("train", "valid", "test", "heldout")


def _draw(img: np.ndarray, shape: str, colour: tuple, cx: float, cy: float, r: float) -> None:
    """Paint one shape of "radius" r centred at (cx, cy) into img (H, W, 3) uint8, in place."""
    H, W, _ = img.shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
    if shape == "circle":
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    elif shape == "square":
        s = r * 0.85
        inside = (np.abs(xx - cx) <= s) & (np.abs(yy - cy) <= s)
    else:  # upward triangle: apex at top, base at bottom
        top, bottom = cy - r, cy + r * 0.8
        half = (yy - top) / (bottom - top) * r  # half-width grows from the apex down
        inside = (yy >= top) & (yy <= bottom) & (np.abs(xx - cx) <= half)
    img[inside] = colour


def _object(rng: np.random.Generator, heldout: bool | None) -> dict:
    """A random (shape, colour, size); heldout=True forces a held-out combination, False forbids one."""
    while True:
        shape, colour = SHAPES[rng.integers(len(SHAPES))], list(COLOURS)[rng.integers(len(COLOURS))]
        combo_held = (colour, shape) in HELDOUT
        if heldout is None or combo_held == heldout:
            return {"shape": shape, "colour": colour, "size": SIZES[rng.integers(2)]}


def caption_of(objects: list[dict], relation: str | None) -> str:
    words = [f"a {o['size']} {o['colour']} {o['shape']}" for o in objects]
    return words[0] if len(words) == 1 else f"{words[0]} {relation} {words[1]}"


def render_scene(rng: np.random.Generator, size: int, n_objects: int, heldout: bool) -> tuple[np.ndarray, list[dict], str | None]:
    """One image (size, size, 3) uint8, its objects (subject first) and relation (None for one object)."""
    img = rng.normal(25, 6, (size, size, 3)).clip(0, 255).astype(np.uint8)
    if n_objects == 1:
        objs = [_object(rng, True if heldout else False)]
    else:
        # heldout: at least one object is a held-out combination (which one is random); else none is
        if not heldout:
            objs = [_object(rng, False), _object(rng, False)]
        elif rng.integers(2):
            objs = [_object(rng, True), _object(rng, None)]
        else:
            objs = [_object(rng, False), _object(rng, True)]
    radius = {"small": size * 0.11, "large": size * 0.2}
    relation = None
    if n_objects == 1:
        o = objs[0]
        r = radius[o["size"]]
        cx, cy = rng.uniform(r + 1, size - r - 1, 2)
        _draw(img, o["shape"], COLOURS[o["colour"]], cx, cy, r)
        return img, objs, None
    relation = RELATIONS[rng.integers(2)]
    r0, r1 = radius[objs[0]["size"]], radius[objs[1]["size"]]
    # the subject (objs[0]) in the left (or upper) half, the other in the right (or lower) half, with a gap
    a0 = rng.uniform(r0 + 1, size / 2 - 1)
    a1 = rng.uniform(size / 2 + 1, size - r1 - 1)
    if a1 - a0 < r0 + r1 + 1:  # keep them apart along the relation's axis
        a0, a1 = max(r0 + 1, size / 2 - r0 - 1), min(size - r1 - 1, size / 2 + r1 + 1)
    # on the other axis both stay near one line (offset < 0.16 size), so the relation's axis dominates
    # and "X left of Y" is never also "Y above X"
    rm = max(r0, r1)
    b = rng.uniform(rm + 1, size - rm - 1)
    jitter = rng.uniform(-0.08, 0.08, 2) * size
    b0, b1 = np.clip(b + jitter[0], r0 + 1, size - r0 - 1), np.clip(b + jitter[1], r1 + 1, size - r1 - 1)
    for o, a, b, r in ((objs[0], a0, b0, r0), (objs[1], a1, b1, r1)):
        cx, cy = (a, b) if relation == "left of" else (b, a)
        _draw(img, o["shape"], COLOURS[o["colour"]], cx, cy, r)
    return img, objs, relation


def scenes(params: dict, seed: int) -> dict:
    """``{"images": (N, size, size, 3) uint8, "captions": [str], "objects": [[{shape, colour, size}]],
    "relations": [str | None]}``."""
    n = int_param(params, "n", 2000, 1)
    size = int_param(params, "size", 32, 16, 256)
    max_objects = int_param(params, "max_objects", 2, 1, 2)
    split = params.get("split", "train")
    if split not in SPLITS:
        raise UserError(f"builtin:scenes: split must be one of {', '.join(SPLITS)}; found {split!r}")
    offset = {"train": 0, "valid": 1000, "test": 2000, "heldout": 3000}[split]
    rng = np.random.default_rng([seed + offset, n, size, max_objects, 17])
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    captions, objects, relations = [], [], []
    for i in range(n):
        k = 1 if max_objects == 1 else int(rng.integers(1, 3))
        img, objs, rel = render_scene(rng, size, k, heldout=split == "heldout")
        images[i] = img
        objects.append(objs)
        relations.append(rel)
        captions.append(caption_of(objs, rel))
    return {"images": images, "captions": captions, "objects": objects, "relations": relations}


_OBJ = re.compile(r"a (small|large) (\w+) (circle|square|triangle)")


def parse_caption(text: str) -> tuple[list[dict], str | None]:
    """The objects and relation a caption of this grammar names (unparseable parts are skipped)."""
    objs = [{"size": m.group(1), "colour": m.group(2), "shape": m.group(3)} for m in _OBJ.finditer(text.lower())]
    rel = next((r for r in RELATIONS if f" {r} " in f" {text.lower()} "), None)
    return objs, rel


def attribute_accuracy(hyps: list[str], gold_objects: list[list[dict]], gold_relations: list[str | None]) -> dict:
    """Per-attribute accuracy of generated captions against the scenes they describe.

    Each gold object contributes three slots (size, colour, shape), compared with the object named at the
    same place in the caption (missing = wrong); two-object scenes add the relation. Also the share of
    captions that name the right number of objects.
    """
    slots = {"size": [0, 0], "colour": [0, 0], "shape": [0, 0], "relation": [0, 0]}
    count_ok = 0
    for hyp, gold, rel in zip(hyps, gold_objects, gold_relations):
        pred, prel = parse_caption(hyp)
        count_ok += len(pred) == len(gold)
        for j, g in enumerate(gold):
            p = pred[j] if j < len(pred) else {}
            for key in ("size", "colour", "shape"):
                slots[key][0] += p.get(key) == g[key]
                slots[key][1] += 1
        if rel is not None:
            slots["relation"][0] += prel == rel
            slots["relation"][1] += 1
    out = {k: (c / t if t else 0.0) for k, (c, t) in slots.items()}
    total = sum(t for _, t in slots.values())
    out["attribute_accuracy"] = sum(c for c, _ in slots.values()) / total if total else 0.0
    out["object_count"] = count_ok / len(hyps) if hyps else 0.0
    return out

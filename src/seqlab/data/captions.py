"""Image-caption sets for the ``caption`` task: ``builtin:scenes``, or a table of image files and captions.

A :class:`CaptionSet` holds each distinct image once (``inputs``: (N, H, W, 3) uint8 images, or (N, F) /
(N, K, F) float32 feature vectors) with all of its reference captions, so BLEU uses every reference and
training sees one (image, caption) pair per reference. ``builtin:scenes`` also carries each scene's objects
and relation, for attribute accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import UserError
from . import builtin
from .images import IMAGE_SUFFIXES, is_feature_file, load_inputs, read_caption_table
from .sources import Source

ROLE_SPLIT = {"train": "train", "valid": "valid", "test": "test"}
ROLE_SEED = {"train": 0, "valid": 1, "test": 2}


@dataclass
class CaptionSet:
    inputs: np.ndarray  # (N, H, W, 3) uint8 images or (N, F) / (N, K, F) float32 features
    refs: list[list[str]]  # reference captions per input (at least one when read with captions)
    origin: str  # where they came from, for messages
    objects: list | None = None  # builtin:scenes: the objects of each scene (attribute accuracy)
    relations: list | None = None
    names: list[str] = field(default_factory=list)  # file name of each input (for predictions)

    def __len__(self) -> int:
        return len(self.inputs)

    def pairs(self) -> tuple[list[int], list[str]]:
        """(input index, caption) for every reference: the training examples."""
        idx, caps = [], []
        for i, rs in enumerate(self.refs):
            for r in rs:
                idx.append(i)
                caps.append(r)
        return idx, caps

    def subset(self, idx: list[int], origin: str | None = None) -> "CaptionSet":
        pick = lambda xs: [xs[i] for i in idx] if xs is not None else None  # noqa: E731
        return CaptionSet(self.inputs[idx], pick(self.refs), origin or self.origin, pick(self.objects),
                          pick(self.relations), pick(self.names) or [])


def read_captions(src: Source, role: str, seed: int, encoder: str, image_size: int, feature_dim: int | None = None,
                  image_col: str | None = None, caption_col: str | None = None, need_captions: bool = True) -> CaptionSet:
    """The caption set ``src`` names, for ``role`` (train, valid, test)."""
    if src.kind == "builtin":
        b = builtin.BUILTINS[src.name]
        if b.task != "caption":
            raise UserError(f"builtin:{src.name} is data for task {b.task}, not caption; use builtin:scenes")
        if encoder == "features":
            raise UserError("builtin:scenes gives images; train with the CNN encoder (model.encoder=cnn)")
        params = {"size": str(image_size), **src.params}
        params.setdefault("split", ROLE_SPLIT[role])
        d = builtin.generate(src.name, params, seed=seed + ROLE_SEED[role])
        return CaptionSet(d["images"], [[c] for c in d["captions"]], src.text, d["objects"], d["relations"],
                          [f"scene{i}" for i in range(len(d["captions"]))])
    if src.kind == "dataset":
        raise UserError(f"dataset {src.name} has no images; the caption task reads builtin:scenes or a table of image "
                        "files and captions (image,caption)")
    paths = src.paths
    if all(p.suffix.lower() in IMAGE_SUFFIXES or is_feature_file(p) for p in paths):  # bare images: no captions
        if need_captions:
            raise UserError(f"{src.text}: image files without captions; training and evaluation need a captions table "
                            "(CSV/TSV/JSONL with columns image,caption)")
        return CaptionSet(load_inputs(paths, encoder, image_size, feature_dim), [[] for _ in paths], src.text,
                          names=[p.name for p in paths])
    files, caps = [], []
    for p in paths:
        f, c = read_caption_table(p, image_col, caption_col, need_captions)
        files += f
        caps += c
    order: dict = {}
    refs: list[list[str]] = []
    for f, c in zip(files, caps):
        k = order.setdefault(f, len(order))
        if k == len(refs):
            refs.append([])
        if c:
            refs[k].append(c)
    uniq = list(order)
    if need_captions and any(not r for r in refs):
        raise UserError(f"{src.text}: {sum(not r for r in refs)} image(s) have an empty caption")
    return CaptionSet(load_inputs(uniq, encoder, image_size, feature_dim), refs, src.text, names=[p.name for p in uniq])


def to_model_input(x: np.ndarray):
    """uint8 images (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]; float features pass through. Returns a tensor."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.dtype == torch.uint8:
        return t.permute(0, 3, 1, 2).float() / 255.0
    return t.float()

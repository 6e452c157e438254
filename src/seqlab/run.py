"""The run directory: everything ``seqlab train`` writes and ``seqlab.load`` reads back.

Layout (see docs/design.md)::

    RUN/config.json  meta.json  tokenizer*.json  model.safetensors  last.safetensors
        state.pt  metrics.jsonl  summary.json  curves.png

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted write never leaves a half file that a later ``--resume`` or ``load`` would trip on.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import UserError


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class RunDir:
    """A folder holding one training run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ---- creation ----
    @classmethod
    def create(cls, path: str | Path, overwrite: bool = False, resume: bool = False) -> "RunDir":
        p = Path(path)
        if p.exists() and not p.is_dir():
            raise UserError(f"--out {p}: exists and is a file; choose a folder name")
        if resume:
            if not (p / "config.json").is_file():
                raise UserError(f"--resume: {p} holds no run to resume (no config.json); drop --resume to start one")
            return cls(p)
        if p.is_dir() and any(p.iterdir()):
            if not overwrite:
                raise UserError(f"--out {p}: folder exists and is not empty; use --overwrite to replace it, --resume to continue it, or another --out")
            for f in p.iterdir():
                if f.is_file() and (f.suffix in (".json", ".jsonl", ".safetensors", ".pt", ".png") or f.name.startswith(".")):
                    f.unlink()
        p.mkdir(parents=True, exist_ok=True)
        return cls(p)

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        p = Path(path)
        if not p.is_dir():
            raise UserError(f"{p}: no such run directory; expected the --out folder of `seqlab train`")
        if not (p / "config.json").is_file():
            raise UserError(f"{p}: not a seqlab run (no config.json); expected the --out folder of `seqlab train`")
        if not (p / "model.safetensors").is_file():
            raise UserError(f"{p}: the run has no model.safetensors yet; did training finish its first evaluation?")
        return cls(p)

    def file(self, name: str) -> Path:
        return self.path / name

    # ---- JSON ----
    def write_json(self, name: str, obj: Any) -> None:
        text = json.dumps(obj, indent=2, ensure_ascii=False, default=_jsonable)
        _atomic_write(self.file(name), lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))

    def read_json(self, name: str) -> Any:
        p = self.file(name)
        if not p.is_file():
            raise UserError(f"{self.path}: missing {name}; the run directory is incomplete")
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{p}: not valid JSON ({e.msg}); the run directory is damaged") from None

    def append_jsonl(self, name: str, obj: dict) -> None:
        with open(self.file(name), "a", encoding="utf-8") as f:
            f.write(json.dumps(obj, ensure_ascii=False, default=_jsonable) + "\n")

    # ---- tensors ----
    def save_weights(self, name: str, state: dict[str, torch.Tensor]) -> None:
        # safetensors refuses shared storage (tied embeddings): store contiguous copies
        seen, clean = {}, {}
        for k, v in state.items():
            key = (v.data_ptr(), v.shape, v.stride())
            clean[k] = v.detach().clone().contiguous() if key in seen else v.detach().contiguous()
            seen[key] = k
        _atomic_write(self.file(name), lambda tmp: save_file(clean, tmp))

    def load_weights(self, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
        p = self.file(name)
        if not p.is_file():
            raise UserError(f"{self.path}: missing {name}")
        return load_file(str(p))

    def save_state(self, state: dict) -> None:
        _atomic_write(self.file("state.pt"), lambda tmp: torch.save(state, tmp))

    def load_state(self) -> dict | None:
        p = self.file("state.pt")
        return torch.load(p, weights_only=False) if p.is_file() else None


def _jsonable(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")

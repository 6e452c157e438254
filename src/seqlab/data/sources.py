"""What a ``--data SRC`` string means.

``SRC`` is one of:

- a file path, or several separated by commas (``train.de,train.en``);
- ``builtin:NAME`` with optional parameters ``builtin:longrange?distance=50&n=2000``: data the
  project generates itself (see :mod:`seqlab.data.builtin`), no download;
- a known dataset ``NAME[:CONFIG][?split=SPLIT]``: ``sst2``, ``nsmc?split=test``, ``multi30k:de-en``
  (see :mod:`seqlab.data.datasets`).

Parsing only classifies the string and checks that paths exist; tasks decide what to read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from ..errors import UserError
from . import datasets


@dataclass
class Source:
    text: str  # the string the user gave
    kind: str  # "file" | "builtin" | "dataset"
    paths: list[Path] = field(default_factory=list)
    name: str = ""
    config: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def split(self) -> str | None:
        return self.params.get("split")


def parse_source(src: str, flag: str = "--data") -> Source:
    if src is None or not str(src).strip():
        raise UserError(f"{flag}: expected a file path, builtin:NAME or a dataset name; found nothing")
    src = str(src).strip()
    head, _, query = src.partition("?")
    try:
        params = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise UserError(f"{flag} {src}: parameters after '?' must look like key=value&key=value") from None
    if head.startswith("builtin:"):
        name = head[len("builtin:"):]
        from .builtin import BUILTINS  # local import: builtin generators import torch-free helpers only

        if name not in BUILTINS:
            raise UserError(f"{flag} {src}: unknown built-in dataset {name!r}; built-ins: {', '.join(sorted(BUILTINS))}")
        return Source(src, "builtin", name=name, params=params)
    name, _, config = head.partition(":")
    if name in datasets.DATASETS and not Path(head).exists():
        ds = datasets.DATASETS[name]
        if ds.configs and config and config not in ds.configs:
            raise UserError(f"{flag} {src}: dataset {name} has no configuration {config!r}; choose one of {', '.join(ds.configs)}")
        if ds.configs and not config:
            raise UserError(f"{flag} {src}: dataset {name} needs a configuration, e.g. {name}:{ds.configs[0]} (choices: {', '.join(ds.configs)})")
        return Source(src, "dataset", name=name, config=config or None, params=params)
    paths = [Path(p.strip()) for p in src.split(",") if p.strip()]
    for p in paths:
        if not p.exists():
            raise UserError(
                f"{flag} {p}: no such file; expected a file path, builtin:NAME or a dataset name "
                f"({', '.join(sorted(datasets.DATASETS))}); see `seqlab datasets`"
            )
        if p.is_dir():
            raise UserError(f"{flag} {p}: is a folder; expected a data file (CSV, TSV, JSONL or TXT)")
    return Source(src, "file", paths=paths)

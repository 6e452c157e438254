"""Sentences for masked-language-model pre-training: the lines of a text file, the text column of a table
(CSV/TSV/JSONL), or the texts of a known classify/lm dataset or a built-in (labels are ignored)."""

from __future__ import annotations

from ..errors import UserError
from . import builtin, datasets
from .labelled import ROLE_SEED, TEXT_COLS
from .readers import file_format, pick_column, read_lines, read_table
from .sources import Source


def read_sentences(src: Source, cfg, role: str) -> list[str]:
    """Non-empty sentences: text-file lines, a table's text column, a dataset's or built-in's texts."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed=ROLE_SEED[role])
        texts = d.get("texts") or (d["text"].splitlines() if "text" in d else None)
        if texts is None:
            raise UserError(f"builtin:{src.name} has no sentences for task mlm")
    elif src.kind == "dataset":
        ds = datasets.get(src.name)
        if ds.task not in ("classify", "lm"):
            raise UserError(f"dataset {src.name} is for task {ds.task}; mlm reads the sentences of classify or lm datasets")
        split = src.split or ds.splits.get(role) or ds.splits["train"]
        path = datasets.fetch(src.name, split)
        texts = _file_sentences(path, cfg) if ds.task == "classify" else read_lines(path, keep_empty=False)
    else:
        texts = [t for p in src.paths for t in _file_sentences(p, cfg)]
    texts = [t.strip() for t in texts if t and t.strip()]
    if not texts:
        raise UserError(f"{src.text}: holds no sentences; expected one sentence per line (or a text column)")
    return texts


def _file_sentences(path, cfg) -> list[str]:
    if file_format(path) == "txt":
        return read_lines(path, keep_empty=False)
    table = read_table(path, wanted=(cfg.text_col or "",))
    return table.column(pick_column(table, cfg.text_col, TEXT_COLS, "text", "--text-col"))

"""A text stream for language modelling: a text file's whole content, a table's text column joined by
newlines, a known lm dataset (``tinyshakespeare``), or a built-in (``builtin:hello``)."""

from __future__ import annotations

from ..errors import UserError
from . import builtin, datasets
from .labelled import ROLE_SEED
from .readers import file_format, pick_column, read_table, read_text
from .sources import Source

TEXT_COLS = ("text", "content", "body", "document", "sentence", "story")


def read_stream_text(src: Source, cfg, role: str) -> str:
    """The text of a source: a file's whole content, a table's text column joined by newlines, a dataset, a built-in."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed=ROLE_SEED[role])
        if "text" not in d:
            raise UserError(f"builtin:{src.name} is data for task {builtin.BUILTINS[src.name].task}, not lm")
        return d["text"]
    if src.kind == "dataset":
        ds = datasets.get(src.name)
        if ds.task != "lm":
            raise UserError(f"dataset {src.name} is for task {ds.task}, not lm (lm datasets: "
                            + ", ".join(n for n, d in datasets.DATASETS.items() if d.task == "lm") + ")")
        return read_text(datasets.fetch(src.name, ds.splits["train"]))
    parts = []
    for p in src.paths:
        if file_format(p) == "txt":
            parts.append(read_text(p))
        else:
            table = read_table(p, wanted=(cfg.text_col or "",))
            col = pick_column(table, cfg.text_col, TEXT_COLS, "text", "--text-col")
            parts.append("\n".join(table.column(col)))
    text = "\n".join(parts)
    if not text.strip():
        raise UserError(f"{src.text}: holds no text; expected at least a few characters to model")
    return text

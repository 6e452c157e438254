"""Plain text for unsupervised tasks (word embeddings): a list of lines from any source.

- a ``.txt`` file (``.gz`` ok): one sentence or paragraph per line;
- a table (CSV/TSV/JSONL): its text column (auto-detected like classify's, or ``text_col``);
- ``builtin:NAME`` whose generator returns ``{"text": ...}`` (``builtin:analogies``, ``builtin:hello``);
- a known dataset's training text: ``sst2``, ``nsmc`` (the text column), ``tinyshakespeare`` (lines),
  ``samsum`` (dialogues and summaries), ``multi30k:de-en`` (both sides).
"""

from __future__ import annotations

from ..errors import UserError
from . import builtin, datasets
from .readers import file_format, pick_column, read_lines, read_table
from .sources import Source

TEXT_COLS = ("text", "sentence", "document", "review", "message", "content", "body")


def _table_text(path, text_col: str | None) -> list[str]:
    table = read_table(path, wanted=(text_col or "", *TEXT_COLS))
    return table.column(pick_column(table, text_col, TEXT_COLS, "text", "--text-col"))


def read_corpus(src: Source, text_col: str | None = None, seed: int = 0) -> list[str]:
    """The non-empty lines of text in ``src``."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed=seed)
        if "text" not in d:
            raise UserError(f"builtin:{src.name} is not a text corpus (it is data for task {builtin.BUILTINS[src.name].task}); "
                            "use builtin:analogies or a text file")
        lines = d["text"].splitlines()
    elif src.kind == "dataset":
        ds = datasets.get(src.name)
        split = src.split or ds.splits.get("train", "train")
        if ds.name == "samsum":
            from .summaries import read_dialogue_pairs

            s, t, _ = read_dialogue_pairs(datasets.fetch(ds.name, split))
            lines = s + t
        elif ds.configs:  # parallel text: both sides of the pair
            lines = []
            for lang in (src.config or ds.configs[0]).split("-"):
                lines += read_lines(datasets.fetch(ds.name, f"{split}.{lang}"))
        elif ds.task == "classify":
            lines = _table_text(datasets.fetch(ds.name, split), text_col)
        else:
            lines = read_lines(datasets.fetch(ds.name, split))
    else:
        lines = []
        for p in src.paths:
            lines += read_lines(p) if file_format(p) == "txt" else _table_text(p, text_col)
    lines = [ln.strip() for ln in lines if ln.strip()]
    if not lines:
        raise UserError(f"{src.text}: no text found; expected lines of text (a .txt file) or a text column")
    return lines

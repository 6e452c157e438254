"""Source/target pairs for sequence-to-sequence tasks: translation, summarisation, any TSV of pairs.

Sources: a table with source and target columns (CSV/TSV/JSONL; ``src``/``source``/``input``, ``tgt``/
``target``/``output``, two language-code columns, or exactly two columns), two line-aligned files
(``train.de,train.en``), a built-in set (``builtin:reverse``, ``builtin:dates``, ``builtin:ko-en``) or a
known dataset (``multi30k:de-en``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import UserError
from . import builtin, datasets
from .labelled import ROLE_SEED
from .readers import file_format, pick_column, read_lines, read_table
from .sources import Source

log = logging.getLogger(__name__)

SRC_COLS = ("src", "source", "input", "question")
TGT_COLS = ("tgt", "target", "output", "answer", "translation")
LANG_CODES = ("de", "en", "fr", "ko", "ja", "zh", "es", "it", "cs", "ru", "pt", "nl")  # header names of a two-column pair file


@dataclass
class Pairs:
    src: list[str]
    tgt: list[str]
    origin: str  # where they came from, for messages
    empty: int = 0  # pairs skipped because one side was empty
    tokenizer_hint: str | None = None  # a built-in set's preferred tokenizer


def _drop_empty(src: list[str], tgt: list[str], origin: str, hint=None) -> Pairs:
    keep = [i for i, (s, t) in enumerate(zip(src, tgt)) if s.strip() and t.strip()]
    empty = len(src) - len(keep)
    if empty:
        log.warning("%s: skipped %d pair(s) with an empty source or target", origin, empty)
    return Pairs([src[i].strip() for i in keep], [tgt[i].strip() for i in keep], origin, empty, hint)


def _aligned_files(a, b) -> tuple[list[str], list[str]]:
    la, lb = read_lines(a), read_lines(b)
    if len(la) != len(lb):
        raise UserError(f"{a} has {len(la):,} lines but {b} has {len(lb):,}; the two files must be line-aligned "
                        f"(line i of one is the translation of line i of the other)")
    return la, lb


def _table_pairs(path, cfg, need_target: bool = True) -> tuple[list[str], list[str]]:
    table = read_table(path, wanted=(cfg.src_col or "", cfg.tgt_col or "", *SRC_COLS, *TGT_COLS, *LANG_CODES))
    low = [c.lower() for c in table.columns]
    named = cfg.src_col or cfg.tgt_col or any(c in low for c in SRC_COLS + TGT_COLS)
    if named:
        s = pick_column(table, cfg.src_col, SRC_COLS, "source", "--src-col")
        t = pick_column(table, cfg.tgt_col, TGT_COLS, "target", "--tgt-col") if need_target or cfg.tgt_col or any(c in low for c in TGT_COLS) else None
    elif len(table.columns) == 2:
        s, t = table.columns
        log.info("%s: reading %s as the source and %s as the target (use --src-col/--tgt-col to choose)", path, s, t)
    elif len(table.columns) == 1 and not need_target:
        s, t = table.columns[0], None
    else:
        raise UserError(f"{path}: expected a source and a target column (src/source, tgt/target, or exactly two columns); "
                        f"found: {', '.join(table.columns)} (use --src-col and --tgt-col)")
    src = table.column(s)
    return src, (table.column(t) if t else [""] * len(src))


def read_pairs(src: Source, cfg, role: str, seed: int, need_target: bool = True) -> Pairs:
    """Source/target pairs for ``role`` (train, valid, test) from a parsed ``--data`` string."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed=seed + ROLE_SEED[role])
        if "src" not in d:
            raise UserError(f"builtin:{src.name} is data for task {builtin.BUILTINS[src.name].task}, not seq2seq")
        return _drop_empty(d["src"], d["tgt"], src.text, d.get("tokenizer"))
    if src.kind == "dataset":
        ds = datasets.get(src.name)
        if ds.task != "seq2seq":
            raise UserError(f"dataset {src.name} is for task {ds.task}, not seq2seq")
        if not ds.configs:  # a summarisation set (samsum): JSONL dialogue -> summary, turns joined by " | "
            from .summaries import read_dialogue_pairs

            split = src.split or ds.splits[role]
            if split not in ds.files:
                raise UserError(f"{src.text}: dataset {src.name} has no split {split!r}; splits: {', '.join(ds.files)}")
            s, t, _ = read_dialogue_pairs(datasets.fetch(src.name, split), need_target=need_target)
            return _drop_empty(s, t if need_target else [x or "-" for x in t], src.text)
        s_lang, t_lang = src.config.split("-")
        split = src.split or ds.splits[role]
        splits = sorted({k.rsplit(".", 1)[0] for k in ds.files})
        if f"{split}.{s_lang}" not in ds.files:
            raise UserError(f"{src.text}: dataset {src.name} has no split {split!r}; splits: {', '.join(splits)}")
        a, b = datasets.fetch(src.name, f"{split}.{s_lang}"), datasets.fetch(src.name, f"{split}.{t_lang}")
        return _drop_empty(*_aligned_files(a, b), src.text)
    paths = src.paths
    if len(paths) == 2 and all(file_format(p) == "txt" and "\t" not in read_lines(p)[0] for p in paths):
        return _drop_empty(*_aligned_files(*paths), src.text)
    if len(paths) == 1 and file_format(paths[0]) == "txt" and not need_target and "\t" not in read_lines(paths[0])[0]:
        lines = read_lines(paths[0])
        return _drop_empty(lines, ["-"] * len(lines), src.text)
    s_all, t_all = [], []
    for p in paths:
        s, t = _table_pairs(p, cfg, need_target)
        s_all += s
        t_all += t
    if not need_target:
        t_all = [t or "-" for t in t_all]
    return _drop_empty(s_all, t_all, src.text)

"""Labelled examples for sequence classification: texts (or numeric feature sequences) and labels.

Sources: a table with a text column and a label column (CSV, TSV, JSONL, ``.gz``), several such files
(comma-separated), a built-in dataset, or ``sst2`` / ``nsmc``; or numeric feature sequences (one row
per time step, a sequence-id column, numeric feature columns, a label), the notes' video-frames example.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field

from ..errors import UserError
from . import builtin, datasets
from .labels import check_labels, warn_rare_classes
from .readers import Table, is_number, pick_column, read_table
from .sources import Source

log = logging.getLogger(__name__)

TEXT_COLS = ("text", "sentence", "document", "review", "message", "content", "body")
LABEL_COLS = ("label", "labels", "class", "target", "sentiment", "category")
SEQ_COLS = ("sequence_id", "seq_id", "sequence", "video_id")
STEP_COLS = ("step", "frame", "time", "t", "timestamp")
ROLE_SEED = {"train": 0, "valid": 1, "test": 2}  # built-ins draw each role with its own seed offset


@dataclass
class Examples:
    inputs: list  # texts (str) or numeric sequences (list of float lists)
    labels: list[str]
    origin: str  # where they came from, for messages
    numeric: bool = False
    features: list[str] | None = None
    ids: list[str] | None = None  # the --id-col values, or the sequence ids of numeric sequences

    def subset(self, idx: list[int], origin: str | None = None) -> "Examples":
        return Examples([self.inputs[i] for i in idx], [self.labels[i] for i in idx], origin or self.origin,
                        self.numeric, self.features, [self.ids[i] for i in idx] if self.ids else None)


@dataclass
class Columns:
    """Which columns hold what (None = detect): the classify data options, or a verb's column flags."""

    text_col: str | None = None
    label_col: str | None = None
    seq_col: str | None = None
    id_col: str | None = None
    wanted: tuple = field(default=())

    def names(self) -> tuple:
        return tuple(c for c in (self.text_col, self.label_col, self.seq_col, self.id_col) if c)


def _table_examples(table: Table, cols: Columns, need_labels: bool = True) -> Examples:
    lowered = [c.lower() for c in table.columns]
    seq_col = cols.seq_col or next((table.columns[lowered.index(c)] for c in SEQ_COLS if c in lowered), None)
    label_col = None
    if need_labels or cols.label_col or any(c in lowered for c in LABEL_COLS):
        label_col = pick_column(table, cols.label_col, LABEL_COLS, "label", "--label-col")
    if seq_col:
        return _numeric_examples(table, seq_col, label_col)
    if not table.has_header and not cols.text_col:
        # no header: the text is the column with the longest values, the label the other one
        lens = [sum(len(r[j]) for r in table.rows[:200]) for j in range(len(table.columns))]
        text_col = table.columns[max(range(len(lens)), key=lens.__getitem__)]
    else:
        text_col = pick_column(table, cols.text_col, TEXT_COLS, "text", "--text-col")
    texts = table.column(text_col)
    labels = table.column(label_col) if label_col else [""] * len(texts)
    if label_col and need_labels:
        check_labels(labels, table.path, table.line_of)  # a blank label is refused, never a class ""
    ids = table.column(pick_column(table, cols.id_col, (), "id", "--id-col")) if cols.id_col else None
    return Examples(texts, [s.strip() for s in labels], table.path, ids=ids)


def _numeric_examples(table: Table, seq_col: str, label_col: str | None) -> Examples:
    skip = {seq_col, label_col} | {c for c in table.columns if c.lower() in STEP_COLS}
    feats = [c for c in table.columns if c not in skip]
    if not feats:
        raise UserError(f"{table.path}: numeric sequences need feature columns besides {seq_col} and {label_col}; "
                        f"found: {', '.join(table.columns)}")
    idx = {c: table.columns.index(c) for c in feats}
    groups: dict[str, list] = defaultdict(list)
    glabel: dict[str, str] = {}
    for r, ln in zip(table.rows, table.line_of):
        sid = r[table.columns.index(seq_col)]
        try:
            groups[sid].append([float(r[idx[c]]) for c in feats])
        except ValueError:
            bad = next(c for c in feats if not is_number(r[idx[c]]))
            raise UserError(f"{table.path}: line {ln}: column {bad} holds {r[idx[bad]]!r}; numeric sequences need "
                            "numbers in every feature column") from None
        if label_col:
            lab = r[table.columns.index(label_col)].strip()
            if glabel.setdefault(sid, lab) != lab:
                raise UserError(f"{table.path}: line {ln}: sequence {sid} has labels {glabel[sid]!r} and {lab!r}; "
                                "one label per sequence")
    ids = list(groups)
    if label_col:
        check_labels([glabel[s] for s in ids], table.path, ids, unit="sequence")
    return Examples([groups[s] for s in ids], [glabel.get(s, "") for s in ids], table.path, numeric=True,
                    features=feats, ids=ids)


def read_examples(src: Source, cols: Columns, role: str, seed: int, need_labels: bool = True) -> Examples:
    """Examples for ``role`` (train, valid, test) from a parsed source."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed=seed + ROLE_SEED[role])
        if "texts" not in d:
            raise UserError(f"builtin:{src.name} is data for task {builtin.BUILTINS[src.name].task}, not classify")
        return Examples(d["texts"], d["labels"], src.text)
    wanted = cols.names()
    if src.kind == "dataset":
        ds = datasets.get(src.name)
        if ds.task != "classify":
            raise UserError(f"dataset {src.name} is for task {ds.task}, not classify")
        split = src.split or ds.splits.get(role) or ds.splits["test" if role != "train" else "train"]
        if split not in ds.files:
            raise UserError(f"{src.text}: dataset {src.name} has no split {split!r}; splits: {', '.join(ds.files)}")
        return _table_examples(read_table(datasets.fetch(src.name, split), wanted=wanted), cols, need_labels)
    exs = [_table_examples(read_table(p, wanted=wanted), cols, need_labels) for p in src.paths]
    if len(exs) == 1:
        ex = exs[0]
    else:
        ids = sum((e.ids for e in exs), []) if all(e.ids for e in exs) else None
        ex = Examples(sum((e.inputs for e in exs), []), sum((e.labels for e in exs), []), src.text, exs[0].numeric,
                      exs[0].features, ids)
    if role == "train" and need_labels:
        warn_rare_classes(ex.labels, ex.origin)
    return ex


def label_order(labels) -> list[str]:
    """Class names in a stable order: numerically when every label is a number, else alphabetically."""
    uniq = set(labels)
    try:
        return sorted(uniq, key=float)
    except ValueError:
        return sorted(uniq)


def check_known_labels(ex: Examples, labels: list[str]) -> None:
    unseen = sorted(set(ex.labels) - set(labels))
    if unseen:
        shown = ", ".join(repr(u) for u in unseen[:5])
        raise UserError(f"{ex.origin}: label(s) {shown} never occur in the training data (training labels: "
                        f"{', '.join(labels)}); a classifier cannot predict a class it never saw")


def is_korean(texts: list[str]) -> bool:
    """Whether most letters of (a sample of) the texts are Hangul."""
    sample = "".join(texts[:2000])
    hangul = sum(1 for ch in sample if "\uac00" <= ch <= "\ud7a3")
    letters = sum(1 for ch in sample if ch.isalpha())
    return letters > 0 and hangul / letters > 0.3

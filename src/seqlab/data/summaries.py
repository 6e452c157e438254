"""Dialogue-summarisation pairs (SAMSum layout): JSON Lines with a ``dialogue`` and a ``summary`` field.

A dialogue is turns ``Speaker: text`` separated by newlines (``\\r\\n`` or ``\\n`` upstream). A
sequence model reads one line, so the turns are joined with :data:`TURN_SEP` (`` | ``): every
tokenizer keeps ``|`` as a token of its own (word: punctuation is a token; char, BPE, WordPiece:
a symbol), so the model still sees where a turn ends, and :func:`turns` splits it back for the
extractive baselines. Runs of spaces are collapsed; summaries lose their stray newlines.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UserError
from .readers import read_text

TURN_SEP = " | "
_SPACES = re.compile(r"[ \t\u00a0]+")


def join_turns(dialogue: str) -> str:
    """``"A: hi\\r\\nB: hello"`` -> ``"A: hi | B: hello"`` (empty turns dropped, spaces collapsed)."""
    parts = [_SPACES.sub(" ", t).strip() for t in re.split(r"\r?\n|\r", dialogue)]
    return TURN_SEP.join(p for p in parts if p)


def turns(text: str) -> list[str]:
    """The turns of a joined dialogue (or of a raw one with newlines)."""
    if "\n" in text or "\r" in text:
        text = join_turns(text)
    return [t.strip() for t in text.split(TURN_SEP.strip()) if t.strip()]


def clean_summary(s: str) -> str:
    return _SPACES.sub(" ", " ".join(s.split())).strip()


def read_dialogue_pairs(path: str | Path, src_field: str = "dialogue", tgt_field: str = "summary",
                        need_target: bool = True) -> tuple[list[str], list[str], list[str]]:
    """(sources, targets, ids) from a JSONL file (``.gz`` allowed) of dialogue/summary records.

    Records whose dialogue is empty are kept here (with an empty source); the seq2seq task drops
    empty pairs and counts them, as it does for every source.
    """
    text = read_text(path)
    src, tgt, ids = [], [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: expected one JSON object per line; {e.msg}") from None
        if not isinstance(rec, dict) or src_field not in rec or (need_target and tgt_field not in rec):
            found = ", ".join(rec) if isinstance(rec, dict) else type(rec).__name__
            raise UserError(f"{path}:{lineno}: expected fields {src_field!r} and {tgt_field!r}; found: {found}")
        src.append(join_turns(str(rec[src_field])))
        tgt.append(clean_summary(str(rec.get(tgt_field, ""))))
        ids.append(str(rec.get("id", lineno)))
    if not src:
        raise UserError(f"{path}: no records found; expected JSON Lines with {src_field!r} and {tgt_field!r}")
    return src, tgt, ids

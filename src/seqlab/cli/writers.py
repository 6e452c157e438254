"""Writing results to a file the user names: CSV or JSONL, never over an existing file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import UserError


def write_records(records: list[dict], path) -> Path:
    """Write ``records`` to a new ``.csv`` (nested values as JSON) or ``.jsonl`` file."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".json"):
        raise UserError(f"--out {p}: expected a file name ending in .csv or .jsonl; found {suffix or 'no extension'}")
    if p.exists():
        raise UserError(f"--out {p}: the file exists; seqlab does not overwrite files it did not write (choose "
                        "another name or remove it)")
    if not p.parent.is_dir():
        raise UserError(f"--out {p}: the folder {p.parent} does not exist")
    try:
        with open(p, "x", encoding="utf-8", newline="") as f:
            if suffix == ".csv":
                keys = list(dict.fromkeys(k for r in records for k in r))
                w = csv.writer(f)
                w.writerow(keys)
                for r in records:
                    w.writerow([_cell(r.get(k)) for k in keys])
            else:
                for r in records:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
    except PermissionError:
        raise UserError(f"--out {p}: not allowed to write there (permission denied)") from None
    return p


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return v

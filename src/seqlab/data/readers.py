"""Readers for the files users bring: CSV, TSV, JSONL and plain text, each optionally gzipped.

Every failure is a :class:`~seqlab.errors.UserError` that names the file and, where it applies,
the line number or byte offset, so a user can open the file at the right place:

- an empty file, or a header with no rows;
- bytes that are not UTF-8 (with the byte offset of the first bad byte);
- a row with too few or too many fields (with its line number);
- a JSONL line that is not a JSON object.

TSV files are read with quoting off (``csv.QUOTE_NONE``): public corpora (NSMC, SST-2) contain
bare ``"`` characters that a quoting reader would use to merge rows silently. CSV files are read
with standard quoting; when that would swallow lines (a bare quote opening a field), the reader
falls back to quoting off and logs that it did.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError

log = logging.getLogger(__name__)
csv.field_size_limit(1 << 30)

# Column names the readers treat as evidence of a header row.
KNOWN_COLUMNS = {
    "text", "sentence", "document", "review", "message", "content", "body",
    "label", "labels", "class", "target", "sentiment", "category", "id", "index",
    "src", "tgt", "source", "date", "time", "timestamp", "sequence_id", "seq_id", "step",
}


@dataclass
class Table:
    """Rows of string fields read from one file; ``line_of[i]`` is the file line of ``rows[i]``."""

    path: str
    columns: list[str]
    rows: list[list[str]]
    has_header: bool
    line_of: list[int] = field(default_factory=list)

    def column(self, name: str) -> list[str]:
        j = self.columns.index(name)
        return [r[j] for r in self.rows]


def _strip_gz(path: Path) -> str:
    name = path.name.lower()
    return name[:-3] if name.endswith(".gz") else name


def file_format(path: str | Path) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``txt`` from the file name (``.gz`` ignored)."""
    name = _strip_gz(Path(path))
    for ext, fmt in ((".tsv", "tsv"), (".csv", "csv"), (".jsonl", "jsonl"), (".json", "jsonl"), (".txt", "txt")):
        if name.endswith(ext):
            return fmt
    return "txt"


def read_text(path: str | Path) -> str:
    """The whole file as text (UTF-8, BOM dropped, ``.gz`` decompressed); errors name the file."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such file (check the path, or use builtin:NAME / a dataset name; see `seqlab datasets`)")
    if p.is_dir():
        raise UserError(f"{path}: is a folder; expected a data file (CSV, TSV, JSONL or TXT)")
    raw = p.read_bytes()
    if p.name.lower().endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise UserError(f"{path}: named .gz but not readable as gzip ({e})") from None
    binary = _binary_kind(raw)
    if binary:
        raise UserError(f"{path}: {binary}; expected a text data file (CSV, TSV, JSONL or TXT)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(f"{path}: not UTF-8 at byte offset {e.start} (line {line}); {encoding_hint(raw, p.name)}") from None
    if "\x00" in text[:4096]:  # UTF-16 of ASCII text is valid UTF-8 with a NUL after every character
        raise UserError(f"{path}: not UTF-8 (NUL bytes between the characters); {encoding_hint(raw, p.name)}")
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise UserError(f"{path}: the file is empty; expected at least one row of data")
    return text


def _binary_kind(raw: bytes) -> str | None:
    """What a file that is not text looks like, from its first bytes; None for text (UTF-16 counts as text)."""
    head = raw[:4096]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None
    for magic, what in ((b"PK\x03\x04", "a zip archive (an .xlsx or .docx is one: export it as CSV)"),
                        (b"\x89PNG", "a PNG image"), (b"%PDF", "a PDF document"), (b"\x1f\x8b", "gzip data (name it .gz)"),
                        (b"\xd0\xcf\x11\xe0", "an old Office document (.xls/.doc: export it as CSV)")):
        if head.startswith(magic):
            return f"looks like {what}, not text"
    if b"\x00" in head:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if max(even, odd) > 0.3 * len(head) / 2 and min(even, odd) < 0.05 * len(head) / 2:
            return None  # UTF-16 without a byte-order mark: encoding_hint names it
        return "looks binary (it holds NUL bytes), not text"
    return None


def encoding_hint(raw: bytes, name: str = "FILE") -> str:
    """How to re-save ``raw`` as UTF-8, from what its bytes look like."""
    head = raw[:65536]
    fix = "re-save the file as UTF-8"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in head[:4096]:
        enc = "utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16le" if head[1:2] == b"\x00" else "utf-16be"
        return f"it looks like UTF-16 ({enc}); {fix}, e.g. `iconv -f {enc} -t utf-8 {name} > {name}.utf8`"
    high = [i for i, b in enumerate(head) if b >= 0x80]
    # double-byte encodings (cp949, Shift-JIS, GBK) put high bytes in pairs; Latin-1 mostly alone between ASCII
    paired = sum(1 for i in high if (i + 1 < len(head) and head[i + 1] >= 0x80) or (i > 0 and head[i - 1] >= 0x80))
    if high and paired >= 0.6 * len(high):
        for enc, what, script in (("cp949", "Korean cp949/EUC-KR", r"[\uac00-\ud7a3]"),
                                   ("shift_jis", "Japanese Shift-JIS", r"[\u3040-\u30ff]"),
                                   ("gbk", "Chinese GBK", r"[\u4e00-\u9fff]")):
            try:
                text = raw.decode(enc)
            except UnicodeDecodeError:
                continue
            if re.search(script, text):
                return f"it looks like {what}; {fix}, e.g. `iconv -f {enc} -t utf-8 {name} > {name}.utf8`"
    if high:
        return f"it looks like Latin-1/Windows-1252 (Western European); {fix}, e.g. `iconv -f cp1252 -t utf-8 {name} > {name}.utf8`"
    return f"the encoding is unclear; {fix} (your editor's \"Save with encoding\", or `iconv -f ENCODING -t utf-8`)"


def read_lines(path: str | Path, keep_empty: bool = True) -> list[str]:
    """Lines of a text file without their line endings."""
    lines = read_text(path).splitlines()
    return lines if keep_empty else [ln for ln in lines if ln.strip()]


def is_number(s: str) -> bool:
    """Whether ``s`` parses as a float ('3', '-1.5e3', 'nan')."""
    try:
        float(s)
        return True
    except ValueError:
        return False


def _name_like(cell: str) -> bool:
    """A cell that could name a column, in any script: short, non-empty, not a number, at most three words."""
    c = cell.strip()
    return 0 < len(c) <= 40 and not is_number(c) and len(c.split()) <= 3


def looks_like_header(first: list[str], sample: list[list[str]], wanted: set[str]) -> bool:
    """Whether the first row names columns rather than holding data.

    Evidence, strongest first: a known or requested column name; otherwise the first row's cells
    must look like names (short, unique, not numbers, in any script) and at least one column must
    show that its first cell is not a value of that column:

    - the column is numeric below the first row and the first cell is not;
    - the column holds labels (few distinct values, each repeated) and the first cell is none of them;
    - every column holds multi-word text below while the first row holds single words.

    ``sample`` is the rest of the file (or a large part of it).
    """
    low = [c.strip().lower() for c in first]
    if any(c in KNOWN_COLUMNS or c in wanted for c in low):
        return True
    if not sample or not all(_name_like(c) for c in first) or len(set(low)) != len(low):
        return False
    for j, c in enumerate(first):
        col = [r[j].strip() for r in sample if j < len(r)]
        if not col:
            continue
        if all(is_number(v) for v in col if v):
            if any(col):
                return True  # a numeric column under a non-numeric name
            continue
        values = set(col)
        repeated = len(col) >= 4 and len(values) <= max(2, min(50, len(col) // 3))
        if repeated and c.strip() not in values:
            return True  # a label column whose first cell is never a label
    words = [[len(r[j].split()) for r in sample if j < len(r) and r[j].strip()] for j in range(len(first))]
    if len(sample) >= 3 and all(w and sorted(w)[len(w) // 2] >= 3 for w in words) and all(len(c.split()) == 1 for c in first):
        return True  # single-word names over columns of sentences
    return False


def _split_rows(text: str, fmt: str, path: str) -> tuple[list[list[str]], list[int]]:
    lines = text.splitlines()
    if fmt == "tsv":
        rows = [ln.split("\t") for ln in lines]
        return rows, list(range(1, len(rows) + 1))
    # CSV: standard quoting, unless a bare quote would merge lines that quoting-off reads cleanly.
    quoted, q_lines = _parse_csv(text, path, csv.QUOTE_MINIMAL)
    if len(quoted) == len(lines):
        return quoted, q_lines
    plain, p_lines = _parse_csv(text, path, csv.QUOTE_NONE)
    widths = {len(r) for r in plain if any(f.strip() for f in r)}
    if len(widths) == 1:
        log.warning("%s: a bare quote would merge %d lines; read with quoting off", path, len(plain) - len(quoted))
        return plain, p_lines
    return quoted, q_lines


def _parse_csv(text: str, path: str, quoting: int) -> tuple[list[list[str]], list[int]]:
    reader = csv.reader(io.StringIO(text), quoting=quoting)
    rows, line_of = [], []
    try:
        for row in reader:
            rows.append(row)
            line_of.append(reader.line_num)
    except csv.Error as e:
        raise UserError(f"{path}: line {reader.line_num}: {e}") from None
    return rows, line_of


def read_table(path: str | Path, wanted: tuple[str, ...] = ()) -> Table:
    """Read a CSV/TSV/JSONL file into a :class:`Table`.

    ``wanted`` are column names the caller will ask for (e.g. ``--text-col``); seeing one of them
    in the first row marks it as a header. Blank lines are skipped. Without a header, columns are
    named ``col0, col1, ...``.
    """
    p = str(path)
    fmt = file_format(path)
    text = read_text(path)
    if fmt == "jsonl":
        return _read_jsonl(text, p)
    if fmt == "txt":
        fmt = "tsv" if "\t" in text.split("\n", 1)[0] else "csv"
    rows, line_of = _split_rows(text, fmt, p)
    keep = [i for i, r in enumerate(rows) if any(f.strip() for f in r)]
    rows, line_of = [rows[i] for i in keep], [line_of[i] for i in keep]
    if not rows:
        raise UserError(f"{p}: the file is empty; expected at least one row of data")
    wanted_low = {w.lower() for w in wanted if w}
    header = looks_like_header(rows[0], rows[1:2000], wanted_low)
    if header:
        columns = [c.strip() for c in rows[0]]
        if not any(c.lower() in KNOWN_COLUMNS or c.lower() in wanted_low for c in columns):
            log.info("%s: read the first row as a header (its cells are not values of their columns): %s", p, ", ".join(columns))
        rows, line_of = rows[1:], line_of[1:]
        if not rows:
            raise UserError(f"{p}: has a header ({', '.join(columns)}) but no data rows")
    else:
        columns = [f"col{j}" for j in range(len(rows[0]))]
    n = len(columns)
    for r, ln in zip(rows, line_of):
        if len(r) != n:
            what = "too few" if len(r) < n else "too many"
            raise UserError(
                f"{p}: line {ln}: {what} fields (expected {n}: {', '.join(columns)}; found {len(r)}); "
                f"fix that line or check the delimiter"
            )
    return Table(p, columns, rows, header, line_of)


def _read_jsonl(text: str, path: str) -> Table:
    records, line_of = [], []
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of objects
        try:
            arr = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
        records, line_of = arr, list(range(1, len(arr) + 1))
    else:
        for i, ln in enumerate(text.splitlines(), 1):
            if not ln.strip():
                continue
            try:
                records.append(json.loads(ln))
            except json.JSONDecodeError as e:
                raise UserError(f"{path}: line {i}: not valid JSON ({e.msg}); expected one JSON object per line") from None
            line_of.append(i)
    columns: list[str] = []
    for rec, ln in zip(records, line_of):
        if not isinstance(rec, dict):
            raise UserError(f"{path}: line {ln}: expected a JSON object like {{\"text\": ..., \"label\": ...}}; found {type(rec).__name__}")
        for k in rec:
            if k not in columns:
                columns.append(k)
    rows = []
    for rec, ln in zip(records, line_of):
        rows.append(["" if rec.get(c) is None else (rec[c] if isinstance(rec.get(c), str) else json.dumps(rec[c], ensure_ascii=False)) for c in columns])
    if not rows:
        raise UserError(f"{path}: the file is empty; expected at least one JSON object")
    return Table(path, columns, rows, True, line_of)


def pick_column(table: Table, explicit: str | None, candidates: tuple[str, ...], role: str, flag: str) -> str:
    """Choose a column: the one the user named, else the first candidate present (case-insensitive)."""
    found = ", ".join(table.columns)
    if explicit:
        for c in table.columns:
            if c == explicit or c.lower() == explicit.lower():
                return c
        raise UserError(f"{table.path}: no column named {explicit!r} ({flag}); found: {found}")
    for cand in candidates:
        for c in table.columns:
            if c.lower() == cand:
                return c
    raise UserError(
        f"{table.path}: expected a {role} column named {' or '.join(candidates[:4])}; found: {found} (use {flag})"
    )

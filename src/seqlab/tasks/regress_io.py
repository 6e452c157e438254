"""Reading sequence-regression data, shared by training (``regress.py``) and a loaded run
(``regress_run.py``): examples and their numeric target(s) from ``builtin:frames`` or classify's sources."""

from __future__ import annotations

from ..data import builtin
from ..data.labelled import ROLE_SEED, Columns, Examples, read_examples
from ..errors import UserError

TARGET_COLS = ("target", "score", "label", "value", "y", "rating", "labels")  # looked for when no --label-col


def read_scored(src, data, role: str, seed: int, need_targets: bool = True):
    """(examples, targets (N, K) as lists, target names) from ``builtin:frames`` or classify's sources with
    numeric target column(s); ``data`` is the task's RegressData (text_col, label_col, seq_col)."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed=seed + ROLE_SEED[role])
        if "targets" not in d:
            raise UserError(f"builtin:{src.name} is data for task {builtin.BUILTINS[src.name].task}, not regress "
                            "(builtin:frames is a regression set)")
        ex = Examples(d["sequences"], [str(t) for t in d["targets"]], src.text, True, d["features"])
        return ex, [[t] for t in d["targets"]] if need_targets else [], ["score"]
    label_col = data.label_col
    names = [c.strip() for c in label_col.split(",")] if label_col else []
    if len(names) > 1:
        return _multi_target(src, data, names, role, seed, need_targets)
    if label_col is None and src.kind == "file":
        from ..data.readers import read_table

        table = read_table(src.paths[0], wanted=TARGET_COLS)
        low = [c.lower() for c in table.columns]
        label_col = next((table.columns[low.index(c)] for c in TARGET_COLS if c in low), None)
    cols = Columns(data.text_col, label_col, data.seq_col)
    ex = read_examples(src, cols, role, seed, need_labels=need_targets)
    if not need_targets:
        return ex, [], [label_col or "value"]
    return ex, [[v] for v in _floats(ex.labels, ex.origin, label_col or "target")], [label_col or "value"]


def _floats(values: list[str], origin: str, col: str) -> list[float]:
    out = []
    for i, v in enumerate(values):
        try:
            out.append(float(v))
        except ValueError:
            raise UserError(f"{origin}: example {i + 1} has target {v!r} in column {col}; regression needs a number "
                            "in the target column (use --label-col, or `seqlab train classify` for categories)") from None
    return out


def _multi_target(src, data, names: list[str], role: str, seed: int, need_targets: bool):
    """Text tables with several target columns (``--label-col a,b``): one row per example."""
    from ..data.readers import read_table

    if src.kind != "file" or len(src.paths) != 1:
        raise UserError(f"--label-col {','.join(names)}: several targets are read from one table file; found {src.text}")
    table = read_table(src.paths[0], wanted=tuple(names) + ((data.text_col,) if data.text_col else ()))
    missing = [c for c in names if c not in table.columns]
    if missing and need_targets:
        raise UserError(f"{src.paths[0]}: no target column {missing[0]!r}; found: {', '.join(table.columns)}")
    ex = read_examples(src, Columns(data.text_col, names[0], data.seq_col), role, seed, need_labels=need_targets)
    if ex.numeric:
        raise UserError("several target columns are supported for text tables; numeric sequences take one target")
    if not need_targets:
        return ex, [], names
    cols = [_floats(table.column(c), ex.origin, c) for c in names]
    return ex, [list(r) for r in zip(*cols)], names

"""Where a series comes from: a CSV file, ``builtin:sine|seasonal|random_walk`` (generated), or ``etth1``."""

from __future__ import annotations

from ..errors import UserError
from . import builtin, datasets
from .builtin_series import SERIES
from .sources import parse_source
from .timeseries import read_table


def read_frame(src: str, flag: str = "--data"):
    """(DataFrame, source kind, dataset name or None) for a path, builtin:NAME?k=v or etth1."""
    s = parse_source(src, flag)
    if s.kind == "builtin":
        if s.name not in SERIES:
            raise UserError(f"{flag} {src}: expected a built-in series among {', '.join(SERIES)} for forecast")
        return builtin.generate(s.name, s.params)["frame"], "builtin", None
    if s.kind == "dataset":
        ds = datasets.get(s.name)
        if ds.task != "forecast":
            raise UserError(f"{flag} {src}: dataset {s.name} is for task {ds.task}, not forecast")
        return read_table(datasets.fetch(s.name, "train")), "dataset", s.name
    if s.kind != "file" or len(s.paths) != 1:
        raise UserError(f"{flag} {src}: expected one CSV file, builtin:NAME or etth1")
    return read_table(s.paths[0]), "file", None

"""Options that several verbs share: the column flags of verbs that read data, and --device."""

from __future__ import annotations

import click

COLUMN_OPTIONS = [
    ("--text-col", "text_col", "The text column (classify, lm, mlm)."),
    ("--label-col", "label_col", "The label column (classify)."),
    ("--seq-col", "seq_col", "The sequence-id column of numeric sequences (classify)."),
    ("--src-col", "src_col", "The source column (seq2seq)."),
    ("--tgt-col", "tgt_col", "The target column (seq2seq)."),
    ("--time-col", "time_col", "The date/time column (forecast)."),
]


class Minutes(click.ParamType):
    """A duration in minutes: a bare number (15, 0.5) or with a unit: 90s, 15m, 1.5h."""

    name = "minutes"
    UNITS = {"s": 1 / 60, "sec": 1 / 60, "m": 1.0, "min": 1.0, "h": 60.0}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        number, unit = text.rstrip("abcdefghijklmnopqrstuvwxyz"), text[len(text.rstrip("abcdefghijklmnopqrstuvwxyz")):]
        try:
            return float(number) * self.UNITS[unit or "m"]
        except (ValueError, KeyError):
            self.fail(f"expected minutes as a number (15) or with a unit (90s, 15m, 1.5h); found {value!r}", param, ctx)


MINUTES = Minutes()


def column_options(f):
    """Add every column flag; the run says which apply (LoadedRun.column_options) and refuses the others."""
    for flag, dest, help_ in reversed(COLUMN_OPTIONS):
        f = click.option(flag, dest, default=None, help=help_)(f)
    return f


def device_option(f):
    return click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                        help="Where to run the model (a run trained on CUDA loads on a CPU-only machine).")(f)


def pop_columns(kwargs: dict) -> dict:
    """The column flags given (not None), removed from ``kwargs``."""
    given = {}
    for _, dest, _ in COLUMN_OPTIONS:
        value = kwargs.pop(dest, None)
        if value is not None:
            given[dest] = value
    return given

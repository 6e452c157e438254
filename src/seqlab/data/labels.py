"""Checks on a column of class labels, for any task that reads labels from a user's file.

- :func:`check_labels` refuses empty label cells (a row whose label is blank would otherwise
  become a class ``""``): the error gives their count and the first file lines. seqlab refuses
  rather than drops them because a blank label is usually a broken export, and dropping rows
  silently changes the data the user thinks they trained on.
- :func:`warn_rare_classes` logs a warning for every class seen only once: it cannot be learned or
  validated, and is often a header row read as data or a typo in one label.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Sequence

from ..errors import UserError

log = logging.getLogger(__name__)


def check_labels(labels: Sequence[str], origin: str, line_of: Sequence | None = None, flag: str = "--label-col",
                 unit: str | None = None) -> None:
    """Raise a UserError when any label is empty or blank; ``line_of[i]`` says where ``labels[i]`` is (a file
    line, or with ``unit="sequence"`` a sequence id)."""
    empty = [i for i, y in enumerate(labels) if y is None or not str(y).strip()]
    if not empty:
        return
    where = [line_of[i] for i in empty[:5]] if line_of is not None else [i + 1 for i in empty[:5]]
    what = unit or ("line" if line_of is not None else "row")
    more = ", ..." if len(empty) > 5 else ""
    raise UserError(
        f"{origin}: {len(empty)} of {len(labels)} {'sequences' if unit == 'sequence' else 'rows'} have an empty label ({what}s {', '.join(map(str, where))}{more}); "
        f"fill them in or delete those rows (or check that {flag} names the label column)")


def rare_classes(labels: Sequence[str]) -> list[str]:
    """The classes that occur exactly once, in first-seen order."""
    counts = Counter(labels)
    return [y for y in dict.fromkeys(labels) if counts[y] == 1]


def warn_rare_classes(labels: Sequence[str], origin: str) -> list[str]:
    """Log a warning naming every class with a single example; returns them."""
    single = rare_classes(labels)
    if single:
        shown = ", ".join(repr(y) for y in single[:8]) + (", ..." if len(single) > 8 else "")
        log.warning("%s: %d class(es) with a single example: %s; one example cannot be learned or validated "
                    "(a header row read as data? a typo in a label?)", origin, len(single), shown)
    return single

"""The ``seqlab`` console script (and ``python -m seqlab``): the allocator first (it may start the command again,
before torch is imported: :mod:`seqlab.allocator`), then the click group in :mod:`seqlab.cli.main`."""

from __future__ import annotations

import sys


def allocator_or_exit() -> None:
    """:func:`seqlab.allocator.reexec`; a bad ``SEQLAB_ALLOCATOR`` is a one-line error and exit code 2."""
    from ..allocator import reexec

    try:
        reexec()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def main() -> int:
    allocator_or_exit()
    from .main import main as run

    return run()

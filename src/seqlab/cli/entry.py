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


def load_main():
    """The click entry point (:func:`seqlab.cli.main.main`), imported: torch comes with it, a second or two.
    Ctrl-C meanwhile ends the command as Ctrl-C later does ("interrupted", exit code 130; nothing has been done
    yet), not with a traceback."""
    try:
        from .main import main as run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    return run


def main() -> int:
    allocator_or_exit()
    return load_main()()

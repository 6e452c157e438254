"""The ``seqlab`` console script: the allocator first (it may start the command again, before torch is
imported: :mod:`seqlab.allocator`), then the click group in :mod:`seqlab.cli.main`."""

from __future__ import annotations

import sys


def main() -> int:
    from ..allocator import reexec

    try:
        reexec()
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from .main import main as run

    return run()

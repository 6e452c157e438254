"""Where seqlab keeps what it makes for itself: ``$SEQLAB_CACHE``, else ``~/.cache/seqlab``.

Downloaded datasets go under ``<cache>/<dataset>/`` (data/datasets.py), compiled kernels under
``<cache>/native/`` (native/build.py)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("SEQLAB_CACHE") or Path.home() / ".cache" / "seqlab")

"""Checking what a user hands ``predict``: shared by seqlab's loaded runs and the torch-free ``seqlab.onnx``
loader, so both refuse the same inputs with the same words (no torch import here)."""

from __future__ import annotations

from .errors import UserError


def check_texts(texts, what: str = "text") -> list[str]:
    """``texts`` as a list of non-empty strings; anything else is a clear error (a TypeError for wrong types
    from Python, a UserError for empty text)."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"expected a list of strings ({what}s); found {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"expected a list of strings ({what}s); item {i} is {type(t).__name__}: {t!r}")
        if not t.strip():
            raise UserError(f"input {i + 1} is empty; expected a non-empty {what} (an empty input has nothing to "
                            "predict from)")
    return list(texts)

"""The studies, in the order the notes tell the story. Explicit: a new study is one import and one entry."""

from __future__ import annotations

from . import (attention_numpy, bottleneck, exposure_bias, last_word, longrange, parallel, relu, residual, self_attention,
               tokens_ko, transfer, vanishing)
from .runner import Study

STUDIES: dict[str, Study] = {s.name: s for s in (
    vanishing.STUDY,
    relu.STUDY,
    longrange.STUDY,
    bottleneck.STUDY,
    last_word.STUDY,
    parallel.STUDY,
    exposure_bias.STUDY,
    self_attention.STUDY,
    residual.STUDY,
    tokens_ko.STUDY,
    transfer.STUDY,
    attention_numpy.STUDY,
)}


def get(name: str) -> Study:
    from ..errors import UserError

    key = name.replace("_", "-")
    if key not in STUDIES:
        raise UserError(f"unknown study {name!r}; studies: {', '.join(STUDIES)} (or 'all', 'list')")
    return STUDIES[key]

"""Extractive summarisation baselines for dialogues (Gliwa et al. 2019, Table 3):

    LEAD-3     the first three turns, in order
    LONGEST-3  the three longest turns (by whitespace words; ties: the earlier turn), kept in dialogue order

Both read a dialogue whose turns are joined by ``seqlab.data.summaries.TURN_SEP`` (or separated by
newlines) and return the chosen turns joined by a space, as a summary string. No training.
"""

from __future__ import annotations

from ..data.summaries import turns


def lead_k(dialogue: str, k: int = 3) -> str:
    """The first ``k`` turns."""
    return " ".join(turns(dialogue)[:k])


def longest_k(dialogue: str, k: int = 3) -> str:
    """The ``k`` longest turns (whitespace words), in their original order."""
    ts = turns(dialogue)
    pick = sorted(sorted(range(len(ts)), key=lambda i: (-len(ts[i].split()), i))[:k])
    return " ".join(ts[i] for i in pick)


BASELINES = {"lead3": lambda d: lead_k(d, 3), "longest3": lambda d: longest_k(d, 3)}

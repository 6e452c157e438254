"""ROUGE-1, ROUGE-2 and ROUGE-L F1 (×100) with Google's ``rouge-score`` package, Porter stemming on.

Two ROUGE-L variants exist and give different numbers; both are reported:

- ``rougeL``: sentence-level LCS over the whole summary as one token sequence;
- ``rougeLsum``: summary-level LCS (the union LCS over sentence pairs, as ROUGE-1.5.5's ``-L`` with
  sentence splitting). Sentences are split at ``.``, ``!`` or ``?`` followed by a space, and at
  newlines, then joined with newlines as ``rouge-score`` expects. Published SAMSum numbers with HF's
  ``rouge`` use ``rougeLsum``; seqlab's ``rouge_l`` headline is ``rougeLsum`` for that reason.

Scores are the mean of per-example F1 (``rouge-score``'s own aggregation without bootstrap). The
package tokenizes by lower-casing and keeping ``[a-z0-9]+`` runs, so it is for English; other
scripts score 0 (a known limitation of ``rouge-score``'s default tokenizer).
"""

from __future__ import annotations

import re

from ..errors import UserError

_SENT = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")


def _sentences(text: str) -> str:
    return "\n".join(s for s in _SENT.split(text.strip()) if s)


def rouge(hyps: list[str], refs: list[str], stem: bool = True) -> dict:
    """{"rouge1", "rouge2", "rougeL", "rougeLsum"} mean F1 ×100, plus "rouge_l" (= rougeLsum) and "n"."""
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise UserError("ROUGE needs the rouge-score package (pip install 'seqlab[summarize]' or pip install rouge-score)") from None
    keys = ("rouge1", "rouge2", "rougeL", "rougeLsum")
    scorer = rouge_scorer.RougeScorer(list(keys), use_stemmer=stem)
    total = dict.fromkeys(keys, 0.0)
    for h, r in zip(hyps, refs):
        s = scorer.score(_sentences(r), _sentences(h))  # score(target, prediction)
        for k in keys:
            total[k] += s[k].fmeasure
    n = len(hyps)
    out = {k: 100.0 * v / n if n else 0.0 for k, v in total.items()}
    out["rouge_l"] = out["rougeLsum"]
    out["n"] = n
    return out

"""Translation and generation metrics on detokenised text: sacreBLEU corpus BLEU (cased and lower-cased) and
chrF, exact match, and BLEU by source-length bucket."""

from __future__ import annotations

BUCKETS = (10, 20, 30, 40)  # source-length bucket edges in tokens: 1-10, 11-20, 21-30, 31-40, 41+


def bleu_chrf(hyps: list[str], refs: list[str]) -> dict:
    import sacrebleu

    if not hyps:
        return {"bleu": 0.0, "bleu_lowercase": 0.0, "chrf": 0.0, "exact_match": 0.0}
    return {"bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 4),
            "bleu_lowercase": round(sacrebleu.corpus_bleu(hyps, [refs], lowercase=True).score, 4),
            "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 4),
            "exact_match": round(sum(h.strip() == r.strip() for h, r in zip(hyps, refs)) / len(hyps), 6)}


def by_length(hyps: list[str], refs: list[str], src_lens: list[int]) -> list[dict]:
    """BLEU and exact match per source-length bucket (in source tokens)."""
    import sacrebleu

    edges = [0, *BUCKETS, 10**9]
    rows = []
    for lo, hi in zip(edges, edges[1:]):
        sel = [i for i, n in enumerate(src_lens) if lo < n <= hi]
        if not sel:
            continue
        h, r = [hyps[i] for i in sel], [refs[i] for i in sel]
        rows.append({"bucket": f"{lo + 1}-{hi}" if hi < 10**9 else f"{lo + 1}+", "n": len(sel),
                     "bleu": round(sacrebleu.corpus_bleu(h, [r]).score, 2),
                     "exact_match": round(sum(a.strip() == b.strip() for a, b in zip(h, r)) / len(sel), 4)})
    return rows

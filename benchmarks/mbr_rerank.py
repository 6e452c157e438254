"""Minimum-Bayes-risk re-ranking of a translation run's beam n-best list, scored on a split (issue 18).

    SEQLAB_DATA_MIRROR=/work/shared/data OMP_NUM_THREADS=2 python benchmarks/mbr_rerank.py \
        benchmarks/results/seq2seq_multi30k_r18_seed1/transformer --data "multi30k:de-en?split=val" \
        --beam 8 --length-penalty 1.8 --out benchmarks/results/mbr21/seed1_val.json

The run translates the split's sources with beam ``--beam`` and keeps all ``--beam`` finished hypotheses
(``predict(..., n_best=beam)``). Each sentence then picks the hypothesis with the highest expected utility
against the others, weighted by ``softmax(T * score)`` of the run's own length-normalised scores (T = 0:
uniform), with sentence BLEU (sacreBLEU, effective order) or sentence chrF as the utility (Kumar & Byrne 2004;
Freitag et al. 2022). Corpus BLEU (sacreBLEU, cased) of: the beam's best (what ``seqlab translate`` outputs), each
MBR choice, and the oracle (the hypothesis closest to the reference: an upper bound, not a system). Choose on
a validation split; report a test split once.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from sacrebleu.metrics import BLEU, CHRF

from bench_util import git_commit, now, translate_split

TEMPERATURES = (0.0, 0.5, 1.0, 2.0, 4.0)


def mbr_pick(hyps: list[str], scores: list[float], utility: list[list[float]], temperature: float) -> int:
    """Index of the hypothesis with the highest expected utility under softmax(temperature * scores)."""
    top = max(scores)
    w = [math.exp(temperature * (s - top)) for s in scores]
    z = sum(w)
    gain = [sum(w[j] / z * utility[i][j] for j in range(len(hyps))) for i in range(len(hyps))]
    return max(range(len(hyps)), key=gain.__getitem__)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--data", required=True)
    ap.add_argument("--beam", type=int, default=8)
    ap.add_argument("--length-penalty", type=float, default=1.8)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    outs, refs = translate_split(args.run, args.data, beam=args.beam, n_best=args.beam,
                                 length_penalty=args.length_penalty)
    nbest = [[(h["translation"], h["score"]) for h in o.get("n_best", [o])] for o in outs]
    bleu, sent_bleu, chrf = BLEU(), BLEU(effective_order=True), CHRF()

    def corpus(hyps: list[str]) -> float:
        return round(bleu.corpus_score(hyps, [refs]).score, 2)

    result = {"run": args.run, "data": args.data, "beam": args.beam, "length_penalty": args.length_penalty,
              "sentences": len(refs), "commit": git_commit(), "date": now(), "bleu": {}}
    result["bleu"]["beam_best"] = corpus([n[0][0] for n in nbest])
    result["bleu"]["oracle"] = corpus([max(n, key=lambda h, r=r: sent_bleu.sentence_score(h[0], [r]).score)[0]
                                       for n, r in zip(nbest, refs)])
    for name, metric in (("bleu", sent_bleu), ("chrf", chrf)):
        utilities = [[[100.0 if i == j else metric.sentence_score(a, [b]).score for j, (b, _) in enumerate(n)]
                      for i, (a, _) in enumerate(n)] for n in nbest]
        for t in TEMPERATURES:
            picks = [n[mbr_pick([h for h, _ in n], [s for _, s in n], u, t)][0] for n, u in zip(nbest, utilities)]
            result["bleu"][f"mbr_{name}_T{t:g}"] = corpus(picks)
    print(json.dumps(result["bleu"]), file=sys.stderr)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

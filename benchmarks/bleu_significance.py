"""How far apart are two translation runs on one test set? sacreBLEU's paired bootstrap, on seqlab runs.

    SEQLAB_DATA_MIRROR=/work/shared/data OMP_NUM_THREADS=2 python benchmarks/bleu_significance.py \
        --data multi30k:de-en --out benchmarks/results/multi30k_significance19.json \
        --system r18_seed1=benchmarks/results/seq2seq_multi30k_r18_seed1/transformer:5:1.8 \
        --system narrow=benchmarks/results/seq2seq_multi30k_tiny19/transformer:5:1.4

Each ``--system NAME=RUN:BEAM:LENGTH_PENALTY`` translates the sources of ``--data`` (a dataset's test split, or
``NAME?split=val``) with that decoding through ``seqlab.load(RUN).predict``; the first system is the baseline.
sacreBLEU (cased, detokenised, its default BLEU) scores each; its paired bootstrap (``--samples`` resamples of the
sentences, the same resamples for every system) gives each system's mean and 95% confidence interval and, for
every system after the first, the p-value of its difference from the baseline. Writes one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench_util import translate_split
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest
from seqlab.errors import UserError


def fail(message: str) -> None:
    """One line on stderr, exit 2 (bad input)."""
    print(message, file=sys.stderr)
    sys.exit(2)


def parse_system(text: str) -> tuple[str, str, int, float]:
    """``NAME=RUN:BEAM:LP`` -> (name, run, beam, length penalty)."""
    name, sep, rest = text.partition("=")
    parts = rest.rsplit(":", 2)
    try:
        if not sep or not name or len(parts) != 3:
            raise ValueError
        return name, parts[0], int(parts[1]), float(parts[2])
    except ValueError:
        fail(f"--system: expected NAME=RUN:BEAM:LENGTH_PENALTY (e.g. base=runs/de-en:5:1.8); found {text!r}")


def translate(run: str, data: str, beam: int, length_penalty: float) -> tuple[list[str], list[str]]:
    """(hypotheses, references) of ``run`` on the pairs of ``data``."""
    outs, refs = translate_split(run, data, beam=beam, length_penalty=length_penalty)
    return [o["translation"] for o in outs], refs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--system", action="append", required=True, help="NAME=RUN:BEAM:LENGTH_PENALTY (2 or more)")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    systems = [parse_system(s) for s in args.system]
    if len(systems) < 2:
        fail("--system: give at least two (the first is the baseline)")
    named, refs = [], None
    for name, run, beam, lp in systems:
        try:
            hyps, r = translate(run, args.data, beam, lp)
        except UserError as e:
            fail(f"--system {name}: {e}")
        if refs is not None and r != refs:
            fail(f"{run}: its reading of {args.data} has other references than the first system's")
        refs = r
        named.append((name, hyps))
        print(f"{name}: {len(hyps)} sentences translated", flush=True)
    sigs, res = PairedTest(named, {"BLEU": BLEU()}, [refs], test_type="bs", n_samples=args.samples)()
    rows = []
    for (name, run, beam, lp), r in zip(systems, res["BLEU"]):
        rows.append({"system": name, "run": run, "beam": beam, "length_penalty": lp, "bleu": round(r.score, 2),
                     "bootstrap_mean": round(r.mean, 2), "ci95": round(r.ci, 2),
                     "p_value_vs_first": None if r.p_value is None else round(r.p_value, 4)})
        print(json.dumps(rows[-1]))
    out = {"data": args.data, "samples": args.samples, "sentences": len(refs), "signature": str(sigs["BLEU"]),
           "systems": rows}
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()

"""Do averaged forecasts of several ETTh1 runs beat their members? Scored on the validation part by default.

    python benchmarks/forecast_ensemble.py RUN_A RUN_B RUN_C [--part valid|test] [--out FILE.json]

The runs must share the horizon and lookback (the windows then line up); they come from
``benchmarks/forecast_etth1.py --out DIR`` (DIR/MODEL-H). Prints the MSE (standardised values, every
window) of each run and of the mean forecast of every subset of two or more runs. Issue 18 used it to ask
whether seed ensembles of SparseTSF, or SparseTSF mixed with ``linear``, are worth making a model: the
choice is made on ``--part valid``; ``--part test`` is for reporting a choice already made.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from forecast_etth1 import part_forecasts  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--part", default="valid", choices=("valid", "test"))
    ap.add_argument("--out", type=Path, default=None, help="also write the numbers here as JSON")
    args = ap.parse_args(argv)
    os.environ.setdefault("SEQLAB_DATA_MIRROR", "/work/shared/data")
    preds, shapes, y = {}, set(), None
    for run in args.runs:
        p, y, shape = part_forecasts(run, args.part)
        preds[str(run)] = p
        shapes.add(shape)
    if len(shapes) != 1:
        raise SystemExit(f"the runs must share lookback and horizon; found (lookback, horizon) {sorted(shapes)}")
    rows = []
    for k in range(1, len(preds) + 1):
        for combo in itertools.combinations(preds, k):
            mse = float(np.mean((np.mean([preds[c] for c in combo], axis=0) - y) ** 2))
            rows.append({"runs": list(combo), "mse": round(mse, 4)})
            print(f"{args.part} MSE {mse:.4f}  {' + '.join(combo)}")
    if args.out:
        args.out.write_text(json.dumps({"part": args.part, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""ETTh1 long-horizon benchmark, the LTSF-Linear / PatchTST protocol, trained through seqlab's own task.

Protocol (as in the LTSF-Linear and PatchTST code):
- ETTh1, multivariate: all 7 columns in, all 7 forecast (``--target all``).
- Borders 12/4/4 months of 30 days: train rows [0, 8640), valid [8640 - L, 11520), test [11520 - L, 14400).
- StandardScaler fitted on the training rows; MSE/MAE on the standardised values.
- Test windows with stride 1, the metric averaged over every test window, channel and step.
  Their code builds the test loader with ``drop_last=True`` (batch 32 for DLinear, 128 for PatchTST),
  silently dropping the last partial batch. seqlab scores *all* windows (the primary number);
  the drop_last number is printed beside it for comparison with the papers' tables.

Usage (run under the shared CPU lock):
    flock /tmp/seqlab-cpu.lock python benchmarks/forecast_etth1.py --models dlinear --horizons 96,192,336,720
    flock /tmp/seqlab-cpu.lock python benchmarks/forecast_etth1.py --models patchtst --budget 15
Results are appended to benchmarks/results/forecast_etth1.jsonl (one JSON object per run).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

ANCHORS = {"patchtst64": (0.370, 0.413, 0.422, 0.447), "dlinear": (0.375, 0.405, 0.439, 0.472)}
TARGETS = (0.370, 0.405, 0.422, 0.440)
HORIZONS = (96, 192, 336, 720)
DROP_LAST_BS = {"patchtst": 128}  # the papers' test batch size per model (DLinear code: 32)


def part_forecasts(run: Path, part: str, keep=None) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(predictions, actuals, (lookback, horizon)) of the ETTh1 run in ``run`` on the windows of ``part``
    (valid | test), standardised; ``keep(starts) -> starts`` selects a subset of the windows."""
    from seqlab.data.timeseries import split_series
    from seqlab.run import RunDir
    from seqlab.tasks.forecast import TASK
    from seqlab.tasks.forecast_io import predict_windows

    loaded = TASK.load_run(RunDir.open(run))
    ts, _ = loaded._series("etth1")
    d = loaded.data
    starts = split_series(ts, d.lookback, d.horizon, d.split).starts(part)
    p, y = predict_windows(loaded.module, loaded._windows(ts), keep(starts) if keep else starts, loaded.device)
    return p, y, (d.lookback, d.horizon)


def run_one(model: str, horizon: int, lookback: int | None, out: Path, budget: float, sets: list[str], seed: int) -> dict:
    from seqlab.config import parse_set
    from seqlab.tasks.base import TrainRequest
    from seqlab.tasks.forecast import TASK

    parsed = parse_set(sets, ("model", "data", "train"))
    req = TrainRequest(task="forecast", model=model, data="etth1", out=out, overwrite=True,
                       sets={k: v for k, v in parsed.items() if v},
                       data_flags={"target": "all", "lookback": lookback, "horizon": horizon},
                       train_flags={"time_budget": budget or None, "seed": seed})
    t = time.perf_counter()
    summary = TASK.train(req)
    wall = time.perf_counter() - t
    test = summary["test"]
    # the drop_last number: the same predictions, the last partial batch of the papers' loader left out
    bs = DROP_LAST_BS.get(model, 32)
    p, y, (lb, _) = part_forecasts(out, "test", keep=lambda starts: starts[: len(starts) // bs * bs])
    return {"model": model, "horizon": horizon, "lookback": lb, "mse": test["mse_scaled"],
            "mae": test["mae_scaled"], "mse_drop_last": float(np.mean((p - y) ** 2)),
            "mae_drop_last": float(np.mean(np.abs(p - y))), "n_test_windows": test["n_windows"],
            "naive_mse": test["baselines"]["naive"]["mse_scaled"], "valid_mse": summary["best_mse"], "stop_reason": summary["stop_reason"],
            "epochs_done": summary["epochs_done"], "wall_s": round(wall, 1), "sets": sets, "seed": seed,
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="dlinear,patchtst", help="comma-separated seqlab forecast models")
    ap.add_argument("--horizons", default="96,192,336,720")
    ap.add_argument("--lookback", type=int, default=0, help="0 = each model's default (512 linear, 336 patchtst, 96 recurrent)")
    ap.add_argument("--budget", type=float, default=15.0, help="minutes of training per run (the task's --time-budget)")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="config override, e.g. model.revin=true")
    ap.add_argument("--tag", default="", help="a name for this configuration in the results")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/seqlab-bench-etth1"))
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "forecast_etth1.jsonl")
    args = ap.parse_args()
    os.environ.setdefault("SEQLAB_DATA_MIRROR", "/work/shared/data")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for model in args.models.split(","):
        for h in (int(x) for x in args.horizons.split(",")):
            lookback = args.lookback or None  # None: the model's default, as `seqlab train forecast` picks it
            row = run_one(model, h, lookback, args.out / f"{model}-{h}", args.budget, args.sets, args.seed)
            row["tag"] = args.tag or model
            with open(args.results, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            i = HORIZONS.index(h) if h in HORIZONS else None
            ref = "" if i is None else (f"  (DLinear {ANCHORS['dlinear'][i]:.3f}, PatchTST/64 {ANCHORS['patchtst64'][i]:.3f},"
                                        f" target {TARGETS[i]:.3f})")
            print(f"{row['tag']:>14} H={h:<4} L={row['lookback']:<4} MSE {row['mse']:.4f} MAE {row['mae']:.4f} | "
                  f"drop_last MSE {row['mse_drop_last']:.4f} MAE {row['mae_drop_last']:.4f} | naive MSE "
                  f"{row['naive_mse']:.3f} | valid MSE {row['valid_mse']:.4f} | {row['epochs_done']} epochs, {row['stop_reason']}, {row['wall_s']:.0f} s{ref}",
                  flush=True)


if __name__ == "__main__":
    main()

"""Distillation on SST-2: the best SST-2 model (2-layer bi-GRU) as the teacher, TextCNN as the student: the
student trained alone vs distilled (``--teacher``), test accuracy (the dev set, 872 sentences), and the student's
speed-up over the teacher (sentences/s, predict in batches of 256, one thread).

    python benchmarks/distill_sst2.py                       # teacher 10 min, each student 10 min
    python benchmarks/distill_sst2.py --teacher-run DIR     # reuse a trained classify run as the teacher
    python benchmarks/distill_sst2.py --smoke               # seconds, on builtin:longrange

Results: OUT/results.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import out_dir, run_seqlab, write_results  # noqa: E402

COLUMNS = ["run", "model", "accuracy", "sentences_per_s", "speedup_vs_teacher", "train_min", "epochs_done"]


def speed(run, texts: list[str]) -> float:
    run.predict(texts[:256])  # warm-up
    t0 = time.perf_counter()
    run.predict(texts)
    return len(texts) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-budget", type=float, default=10.0, help="minutes per run")
    ap.add_argument("--teacher-run", default=None)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--out", default="benchmarks/results/distill_sst2")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args(argv)
    os.environ.setdefault("SEQLAB_DATA_MIRROR", "/work/shared/data")
    import torch

    import seqlab

    torch.set_num_threads(1)
    out = out_dir(args.out, args.smoke)
    data = "builtin:longrange?distance=5&n=400" if args.smoke else "sst2"
    budget = ["--epochs", "1"] if args.smoke else ["--time-budget", str(args.time_budget)]
    common = ["--data", data, "--seed", str(args.seed), "--overwrite", *budget]
    rows, teacher = [], args.teacher_run
    if teacher is None:
        teacher = str(out / "teacher")
        s, secs, cmd = run_seqlab(["train", "classify", "--model", "gru", "--set", "model.layers=2", "--out", teacher, *common],
                                  out / "teacher.train.log")
        rows.append({"run": "teacher", "model": "gru (2-layer bi-GRU)", "train_min": round(secs / 60, 1),
                     "epochs_done": s and s.get("epochs_done"), "command": cmd})
    else:
        rows.append({"run": "teacher", "model": f"given: {teacher}"})
    for name, extra in (("student alone", []), ("student distilled", ["--teacher", teacher, "--set",
                                                                      f"data.distill_alpha={args.alpha}", "--set",
                                                                      f"data.distill_temperature={args.temperature}"])):
        path = out / name.replace(" ", "_")
        s, secs, cmd = run_seqlab(["train", "classify", "--model", "textcnn", "--out", str(path), *common, *extra],
                                  out / f"{path.name}.train.log")
        rows.append({"run": name, "model": "textcnn", "train_min": round(secs / 60, 1),
                     "epochs_done": s and s.get("epochs_done"), "command": cmd, "path": str(path)})
    from seqlab.data.labelled import Columns, read_examples
    from seqlab.data.sources import parse_source

    texts = read_examples(parse_source(data), Columns(), "test", args.seed).inputs
    t_run = seqlab.load(teacher, device="cpu")
    t_speed = speed(t_run, texts)
    rows[0].update(accuracy=round(t_run.evaluate(data)["accuracy"] * 100, 2), sentences_per_s=round(t_speed),
                   speedup_vs_teacher=1.0)
    for r in rows[1:]:
        run = seqlab.load(r.pop("path"), device="cpu")
        sp = speed(run, texts)
        r.update(accuracy=round(run.evaluate(data)["accuracy"] * 100, 2), sentences_per_s=round(sp),
                 speedup_vs_teacher=round(sp / t_speed, 2))
    write_results(out, f"Distillation on {data}: 2-layer bi-GRU teacher -> TextCNN student",
                  {"alpha": args.alpha, "temperature": args.temperature}, rows, COLUMNS, args.smoke)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())

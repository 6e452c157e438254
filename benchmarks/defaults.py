"""Out-of-the-box scores: the plain command a new user types, nothing but the data and a time budget.

    seqlab train TASK --data DATA --time-budget MIN --out RUN --json      # no --model, no --set, no tuning
    seqlab evaluate RUN --data DATA --json          # where the dataset has a test split train did not score

    SEQLAB_DATA_MIRROR=/work/shared/data python benchmarks/defaults.py lm tinyshakespeare --minutes 15
    SEQLAB_DATA_MIRROR=/work/shared/data python benchmarks/defaults.py forecast etth1 --minutes 20
    python benchmarks/defaults.py forecast builtin:sine --minutes 0.1 --smoke         # shows the script works

Each call appends one row (the commands, the training summary, the test metrics, date, commit, threads)
to ``benchmarks/results/defaults.jsonl`` (smoke rows go to benchmarks/out/). RESULTS.md (issue 18,
"Defaults are the product") sets these beside the tuned recipes of the same task.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_util import git_commit, machine, now, run_seqlab  # noqa: E402

NO_TEST_SPLIT = {"lm", "mlm", "embed"}  # these report the training run's held-out (validation) score only


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", help="classify | regress | seq2seq | lm | forecast | caption | ...")
    ap.add_argument("data", help="what the user passes to --data (a named dataset or a file)")
    ap.add_argument("--minutes", type=float, required=True, help="--time-budget of the train command")
    ap.add_argument("--seed", type=int, default=None, help="passed as --seed (default: the command's own, 0)")
    ap.add_argument("--runs", default="/tmp/seqlab-defaults", help="folder for the run directories and logs")
    ap.add_argument("--results", default="benchmarks/results/defaults.jsonl")
    ap.add_argument("--smoke", action="store_true", help="write to benchmarks/out/defaults_smoke.jsonl instead")
    args = ap.parse_args(argv)

    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    name = f"{args.task}-{args.data.replace(':', '_').replace('/', '_')}" + (f"-seed{args.seed}" if args.seed is not None else "")
    run_dir = runs / name
    if run_dir.exists():
        print(f"{run_dir} exists: pass another --runs (this script never overwrites a run)", file=sys.stderr)
        return 2
    started, commit = now(), git_commit()  # the code the training process imports (a later commit may land mid-run)
    summary, secs, train_line = run_seqlab(["-q", "train", args.task, "--data", args.data, "--time-budget",
                                            str(args.minutes), "--out", str(run_dir),
                                            *(["--seed", str(args.seed)] if args.seed is not None else [])],
                                           runs / f"{name}.train.log")
    if summary is None:
        return 1
    row = {"task": args.task, "data": args.data, "minutes": args.minutes, "started": started,
           "git_commit": commit, "git_commit_at_end": git_commit(), "machine": machine(), "train_command": train_line,
           "train_wall_s": round(secs, 1), "summary": summary}
    if isinstance(summary.get("test"), dict):  # a dataset with a test split: train scored it already, with the run's
        row["test"] = summary["test"]          # own decoding settings (what evaluate would do again)
    elif args.task not in NO_TEST_SPLIT:
        row["test"], _, row["evaluate_command"] = run_seqlab(["-q", "evaluate", str(run_dir), "--data", args.data],
                                                             runs / f"{name}.evaluate.log")
        if row["test"] is None:
            return 1
    out = Path("benchmarks/out/defaults_smoke.jsonl") if args.smoke else Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
    scalars = lambda d: {k: v for k, v in (d or {}).items() if isinstance(v, (int, float, str))}  # noqa: E731
    print(json.dumps({**scalars(row), "summary": scalars(summary), "test": scalars(row.get("test"))},
                     indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

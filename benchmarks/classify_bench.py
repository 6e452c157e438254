"""Shared driver of the classification benchmarks (``classify_sst2.py``, ``classify_nsmc.py``).

For each model it runs, through the real CLI and nothing else::

    seqlab train classify --data DATASET --model M --out RUNS/M --time-budget MIN --seed 0 --json ...
    seqlab evaluate RUNS/M --data DATASET --json

with ``SEQLAB_DATA_MIRROR`` pointing at a local copy of the data (default ``/work/shared/data``),
and writes ``OUT/results.json`` and ``OUT/results.md`` (run directories and logs go to ``--runs``):
test accuracy and macro-F1 (the dataset's test split; for SST-2 that is the GLUE dev set, never
used for model selection: validation is a seeded, stratified 10% of train), the best validation accuracy, why training stopped, epochs,
wall time and throughput. With ``--lock PATH`` each model's train+evaluate holds an exclusive
``flock`` on PATH, so a shared machine runs one heavy job at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

MODELS = ["lstm", "gru", "rnn", "textcnn", "transformer"]


@contextmanager
def _locked(path: str | None):
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: list[str], env: dict, log_path: Path) -> dict:
    """Run a seqlab command, keep its stderr in log_path, return the JSON it printed on stdout."""
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    log_path.write_text(f"$ {shlex.join(cmd)}\n\n{proc.stderr}\n{proc.stdout}")
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited with {proc.returncode}; see {log_path}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return "unknown"


def main(dataset: str, description: str, argv: list[str] | None = None, time_budget: float = 20.0) -> int:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated model names")
    ap.add_argument("--time-budget", type=float, default=time_budget, help="minutes of training per model")
    ap.add_argument("--out", default=f"benchmarks/results/classify_{dataset}", help="folder for results.json/.md")
    ap.add_argument("--runs", default=f"benchmarks/out/classify_{dataset}", help="folder for the run directories and logs")
    ap.add_argument("--mirror", default=os.environ.get("SEQLAB_DATA_MIRROR", "/work/shared/data"),
                    help="SEQLAB_DATA_MIRROR for the runs (a folder laid out like shared/data)")
    ap.add_argument("--lock", default=None, help="flock this file around each model (e.g. /tmp/seqlab-cpu.lock)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS for the runs (0 = leave as is)")
    ap.add_argument("--tokenizers", default=None,
                    help="comma-separated tokenizers to compare (each model x each tokenizer; default: the task's choice)")
    ap.add_argument("--parallel", action="store_true",
                    help="train all jobs at once under one lock (use with --threads 1: one core each)")
    ap.add_argument("--resume", action="store_true",
                    help="continue runs whose folder holds a checkpoint (state.pt) instead of starting them over, "
                         "e.g. after the machine restarted mid-benchmark; the time budget counts the time already spent")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="extra --set passed to every train command (repeatable)")
    args = ap.parse_args(argv)

    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SEQLAB_DATA_MIRROR": args.mirror}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    seqlab = [sys.executable, "-m", "seqlab.cli.main"]
    results_path = out / "results.json"
    previous = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results = previous.get("models", {})
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    tokenizers = [t.strip() for t in args.tokenizers.split(",")] if args.tokenizers else [None]
    jobs = [(m, t) for m in models for t in tokenizers]
    groups = [jobs] if args.parallel else [[j] for j in jobs]
    for group in groups:
        with _locked(args.lock):
            date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            procs = []
            for model, tok in group:
                name = model if tok is None else f"{model}-{tok}"
                run_dir = runs / name
                resuming = args.resume and (run_dir / "state.pt").is_file()
                if resuming:  # model, tokenizer, seed and --set come from the run's saved config
                    train_cmd = ["seqlab", "-q", "train", "classify", "--data", dataset, "--out", str(run_dir),
                                 "--time-budget", str(args.time_budget), "--resume", "--json"]
                else:
                    train_cmd = ["seqlab", "-q", "train", "classify", "--data", dataset, "--model", model, "--out", str(run_dir),
                                 "--time-budget", str(args.time_budget), "--seed", str(args.seed), "--overwrite", "--json"]
                    if tok is not None:
                        train_cmd += ["--tokenizer", tok]
                    for s in args.sets:
                        train_cmd += ["--set", s]
                print(f"[{date}] {shlex.join(train_cmd)}", file=sys.stderr, flush=True)
                log_path = runs / f"{name}.train.log"
                # a resumed run's record keeps the command that started it, from its log's first line
                train_cmds = (_first_command(log_path) if resuming else []) + [shlex.join(train_cmd)]
                log = open(log_path, "a" if resuming else "w")
                log.write(f"$ {shlex.join(train_cmd)}\n\n")
                log.flush()
                proc = subprocess.Popen(seqlab + train_cmd[1:], env=env, stdout=subprocess.PIPE, stderr=log, text=True)
                procs.append((name, model, tok, run_dir, train_cmds, proc, time.time(), log))
            for name, model, tok, run_dir, train_cmds, proc, started, log in procs:
                stdout, _ = proc.communicate()
                train_s = time.time() - started
                log.write(stdout)
                log.close()
                if proc.returncode != 0:
                    print(f"  {name}: training failed ({proc.returncode}); see {runs / (name + '.train.log')}", file=sys.stderr)
                    continue
                summary = json.loads(stdout.strip().splitlines()[-1])
                eval_cmd = ["seqlab", "-q", "evaluate", str(run_dir), "--data", dataset, "--json"]
                metrics = _run(seqlab + eval_cmd[1:], env, runs / f"{name}.evaluate.log")
                config = json.loads((run_dir / "config.json").read_text())
                meta = json.loads((run_dir / "meta.json").read_text())
                results[name] = {
                    "model": model, "tokenizer": meta.get("tokenizer", tok),  # what "auto" resolved to
                    "test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"], "test_n": metrics.get("n"),
                    "best_valid_accuracy": summary.get("best_accuracy"), "stop_reason": summary.get("stop_reason"),
                    "epochs_done": summary.get("epochs_done"), "steps": summary.get("steps"),
                    "train_wall_s": round(summary.get("wall_s", train_s), 1), "command_wall_s": round(train_s, 1),
                    "tokens_per_s": summary.get("tokens_per_s"), "precision": summary.get("precision"),
                    "model_config": config.get("model"), "started": date,
                    "concurrent_with": [p[0] for p in procs if p[0] != name],
                    "threads": env.get("OMP_NUM_THREADS", "unset"),
                    "commands": train_cmds + [shlex.join(eval_cmd)],
                }
                print(f"  {name}: test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
                      f"{summary.get('stop_reason')} after {summary.get('epochs_done')} epochs, {train_s:.0f} s",
                      file=sys.stderr, flush=True)
                _write(results_path, dataset, args, results)
    return 0


def _first_command(log_path: Path) -> list[str]:
    """The command that started a run, from the first line of its training log ("$ seqlab ...")."""
    first = log_path.read_text(errors="replace").splitlines()[:1]
    return [first[0][2:]] if first and first[0].startswith("$ ") else []


def _write(path: Path, dataset: str, args, results: dict) -> None:
    info = {"dataset": dataset, "env": f"SEQLAB_DATA_MIRROR={args.mirror}", "time_budget_min": args.time_budget,
            "seed": args.seed, "sets": args.sets, "git_commit": _git_commit(), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
            "models": results}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False))
    os.replace(tmp, path)
    lines = [f"# seqlab train classify --data {dataset}", "",
             f"git {info['git_commit']}, {info['machine']}, time budget {args.time_budget} min per model, seed {args.seed}",
             "", "| run | test acc | test macro-F1 | best valid acc | stopped by | epochs | train wall s | threads | started |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        valid = r["best_valid_accuracy"]
        lines.append(f"| {name} | {r['test_accuracy']:.4f} | {r['test_macro_f1']:.4f} | "
                     f"{valid:.4f} | {r['stop_reason']} | {r['epochs_done']} | {r['train_wall_s']:.0f} | {r.get('threads', '')} | {r['started']} |"
                     if isinstance(valid, float) else f"| {name} | {r['test_accuracy']:.4f} | | | | | | |")
    lines += ["", "Commands (each with SEQLAB_DATA_MIRROR set):", ""]
    lines += [f"    {c}" for r in results.values() for c in r["commands"]]
    md = path.with_suffix(".md")
    md.with_suffix(".tmp").write_text("\n".join(lines) + "\n")
    os.replace(md.with_suffix(".tmp"), md)

"""Multi30k de->en: the seq2seq lineage trained from scratch through the CLI, then decoded on test_2016_flickr.

    flock /tmp/seqlab-cpu.lock python benchmarks/seq2seq_multi30k.py --models transformer,bahdanau
    python benchmarks/seq2seq_multi30k.py --models lstm,gru --lock /tmp/seqlab-cpu.lock --time-budget 45
    python benchmarks/seq2seq_multi30k.py --models transformer,bahdanau --parallel --threads 1 --lock /tmp/seqlab-cpu.lock

For each model::

    seqlab train translate --data multi30k:de-en --model M --out OUT/M --time-budget MIN --seed 0 --json

(validation = the official val split, greedy BLEU picks the checkpoint; the test split is never
seen during training), then the best checkpoint decodes test_2016_flickr (1,000 sentences) greedily
and with beam 5, in batches of 64: sacreBLEU corpus BLEU cased and lowercased, chrF, and decoding
speed in sentences/s. Targets (issue 3, 2 CPU cores, 45 minutes): lstm >= 15 BLEU, gru (+context)
>= 21, bahdanau >= 30, transformer >= 37. Results: OUT/results.{json,md}.
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

MODELS = ["transformer", "bahdanau", "gru", "lstm", "luong"]
TARGETS = {"lstm": 15, "gru": 21, "bahdanau": 30, "luong": 30, "transformer": 37}


@contextmanager
def _locked(path: str | None, wait_min: float = 0.0):
    """Hold an exclusive flock on ``path``; with ``wait_min`` > 0, give up (TimeoutError) after that long."""
    if not path:
        yield
        return
    with open(path, "a") as f:
        if wait_min > 0:
            deadline = time.time() + wait_min * 60
            while True:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.time() > deadline:
                        raise TimeoutError(f"{path} still locked after {wait_min} min") from None
                    time.sleep(5)
        else:
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return "unknown"


def _decode_metrics(run_dir: Path, beams: list[int]) -> dict:
    """Test-set metrics of the best checkpoint for each beam width (in this process, batch 64)."""
    import seqlab

    loaded = seqlab.load(run_dir)
    out = {}
    for beam in beams:
        m = loaded.evaluate("multi30k:de-en", beam=beam)
        out[f"beam{beam}"] = {k: m[k] for k in ("bleu", "bleu_lowercase", "chrf", "exact_match", "sentences_per_s", "n")}
        out[f"beam{beam}"]["by_length"] = m["by_length"]
        if beam == beams[0]:
            out["loss"], out["perplexity"], out["examples"] = m["loss"], m["perplexity"], m["examples"][:3]
    return out


def _train_cmd(model: str, out: Path, args) -> list[str]:
    cmd = ["seqlab", "train", "translate", "--data", "multi30k:de-en", "--model", model, "--out", str(out / model),
           "--time-budget", str(args.time_budget), "--seed", str(args.seed), "--overwrite", "--json"]
    for s in args.sets:
        cmd += ["--set", s]
    return cmd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="transformer,bahdanau", help=f"comma-separated, from {', '.join(MODELS)}")
    ap.add_argument("--time-budget", type=float, default=45.0, help="minutes of training per model")
    ap.add_argument("--out", default="benchmarks/results/seq2seq_multi30k", help="folder for runs and results")
    ap.add_argument("--mirror", default=os.environ.get("SEQLAB_DATA_MIRROR", "/work/shared/data"))
    ap.add_argument("--lock", default=None, help="flock this file around each model (e.g. /tmp/seqlab-cpu.lock)")
    ap.add_argument("--lock-wait", type=float, default=0.0, help="minutes to wait for the lock before giving up (0 = forever)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS / torch threads for training and decoding (0 = as is)")
    ap.add_argument("--parallel", action="store_true",
                    help="train all models at once under one lock (use with --threads 1: one core each)")
    ap.add_argument("--beams", default="1,5", help="beam widths to evaluate (1 = greedy)")
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="extra --set for every train command (repeatable)")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["SEQLAB_DATA_MIRROR"] = args.mirror
    if args.threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        torch.set_num_threads(args.threads)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()).get("models", {}) if results_path.is_file() else {}
    beams = [int(b) for b in args.beams.split(",")]
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    groups = [models] if args.parallel else [[m] for m in models]
    for group in groups:
        with _locked(args.lock, args.lock_wait):
            started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            procs = {}
            for model in group:
                cmd = _train_cmd(model, out, args)
                print(f"[{started}] {shlex.join(cmd)}", file=sys.stderr, flush=True)
                log = open(out / f"{model}.train.log", "w")
                log.write(f"$ {shlex.join(cmd)}\n\n")
                log.flush()
                procs[model] = (cmd, subprocess.Popen([sys.executable, "-m", "seqlab", *cmd[1:]], stdout=subprocess.PIPE,
                                                      stderr=log, text=True), time.time(), log)
            for model, (cmd, proc, t0, log) in procs.items():
                stdout, _ = proc.communicate()
                train_s = time.time() - t0
                log.write(stdout)
                log.close()
                if proc.returncode != 0:
                    print(f"  {model}: training failed ({proc.returncode}); see {out / (model + '.train.log')}", file=sys.stderr)
                    continue
                summary = json.loads(stdout.strip().splitlines()[-1])
                test = _decode_metrics(out / model, beams)
                config = json.loads((out / model / "config.json").read_text())
                results[model] = {"test": test, "best_valid_bleu_greedy": summary.get("best_bleu"),
                                  "stop_reason": summary.get("stop_reason"), "epochs_done": summary.get("epochs_done"),
                                  "steps": summary.get("steps"), "train_wall_s": round(summary.get("wall_s", train_s), 1),
                                  "tokens_per_s": summary.get("tokens_per_s"), "precision": summary.get("precision"),
                                  "target_bleu": TARGETS.get(model), "model_config": config.get("model"),
                                  "data_config": config.get("data"), "train_config": config.get("train"), "started": started,
                                  "concurrent_with": [m for m in group if m != model],
                                  "command": f"SEQLAB_DATA_MIRROR={args.mirror} OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} "
                                             f"{shlex.join(cmd)}"}
                b = test[f"beam{beams[-1]}"]
                print(f"  {model}: test BLEU beam{beams[-1]} {b['bleu']:.2f} (lowercased {b['bleu_lowercase']:.2f}), "
                      f"{summary.get('epochs_done')} epochs in {train_s / 60:.1f} min", file=sys.stderr, flush=True)
                _write(results_path, args, beams, results)
    return 0


def _write(path: Path, args, beams: list[int], results: dict) -> None:
    info = {"dataset": "multi30k:de-en (test_2016_flickr)", "time_budget_min": args.time_budget, "seed": args.seed,
            "sets": args.sets, "git_commit": _git_commit(), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
            "models": results}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False))
    os.replace(tmp, path)
    head = " | ".join(f"BLEU b{b} | BLEU b{b} lc | chrF b{b} | sent/s b{b}" for b in beams)
    lines = ["# seqlab train translate --data multi30k:de-en", "",
             f"git {info['git_commit']}, {info['machine']}, time budget {args.time_budget} min per model, seed {args.seed}. "
             "Test = test_2016_flickr (1,000 sentences), sacreBLEU on detokenised output, decoding batch 64.", "",
             f"| model | target | {head} | best valid BLEU (greedy) | stopped by | epochs | train min | started |",
             "|---|---|" + "---|" * (4 * len(beams)) + "---|---|---|---|---|"]
    for name, r in results.items():
        cells = " | ".join(f"{r['test'][f'beam{b}']['bleu']:.2f} | {r['test'][f'beam{b}']['bleu_lowercase']:.2f} | "
                           f"{r['test'][f'beam{b}']['chrf']:.2f} | {r['test'][f'beam{b}']['sentences_per_s']:.1f}" for b in beams)
        lines.append(f"| {name} | {r['target_bleu']} | {cells} | {r['best_valid_bleu_greedy']} | {r['stop_reason']} | "
                     f"{r['epochs_done']} | {r['train_wall_s'] / 60:.1f} | {r['started']} |")
    lines += ["", "Commands:", ""] + [f"    {r['command']}" for r in results.values()]
    md = path.with_suffix(".md")
    md.with_suffix(".tmp").write_text("\n".join(lines) + "\n")
    os.replace(md.with_suffix(".tmp"), md)


if __name__ == "__main__":
    sys.exit(main())

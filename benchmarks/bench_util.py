"""Shared by the issue-17 benchmarks: train through the real CLI in a subprocess, record what ran, write results.

Every script takes ``--smoke`` (seconds, tiny settings: shows the script works; its numbers mean nothing) and
writes ``OUT/results.json`` + ``OUT/results.md`` with the exact commands, git commit, machine and date.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gzip
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path


def sweep_args(doc: str, models: str, n: int, n_help: str, budget: float, out: str, argv=None):
    """The arguments of a script that trains each of --models on N builtin examples for --time-budget minutes."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=models)
    ap.add_argument("--n", type=int, default=n, help=n_help)
    ap.add_argument("--time-budget", type=float, default=budget, help="minutes per model")
    ap.add_argument("--out", default=out)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true")
    return ap.parse_args(argv)


def out_dir(out: str, smoke: bool) -> Path:
    """The results folder; smoke runs go to the git-ignored benchmarks/out/NAME_smoke instead."""
    p = Path("benchmarks/out") / (Path(out).name + "_smoke") if smoke else Path(out)
    p.mkdir(parents=True, exist_ok=True)
    return p


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


@contextlib.contextmanager
def base_worktree(rev: str, tmp: Path):
    """``rev`` checked out into a git worktree under ``tmp`` (yields its path and the short commit); removed after.
    A/B scripts run the working tree's benchmark code with ``PYTHONPATH`` at one side's ``src``."""
    root = Path(__file__).resolve().parent.parent
    short = subprocess.run(["git", "rev-parse", "--short", rev], capture_output=True, text=True, cwd=root,
                           check=True).stdout.strip()
    tree = tmp / "base"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), short], cwd=root, check=True)
    try:
        yield tree, short
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=root, check=False)


def ab_args(doc: str, what: str) -> tuple[argparse.Namespace, list[str]]:
    """The A/B scripts' command line: --base REV, --rounds N, --out FILE, then ``--`` and ``what``'s arguments."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--base", required=True, help="the commit to compare against (run from a git worktree)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("args", nargs=argparse.REMAINDER, help=f"-- then {what}")
    a = ap.parse_args()
    return a, a.args[1:] if a.args[:1] == ["--"] else a.args


def ab_rounds(rev: str, rounds: int, run_one) -> tuple[dict, str]:
    """``run_one(src, scratch)`` once per side and round, sides alternating who goes first: ``base`` with
    ``src`` the ``rev`` worktree's ``src``, ``head`` with this tree's; ``scratch`` a fresh path to write to.
    Returns ({"base": [results], "head": [results]}, rev's short commit)."""
    import tempfile

    root = Path(__file__).resolve().parent.parent
    rows = {"base": [], "head": []}
    with tempfile.TemporaryDirectory(prefix="seqlab-ab-") as tmp, base_worktree(rev, Path(tmp)) as (tree, short):
        for r in range(rounds):
            for side in (["base", "head"] if r % 2 == 0 else ["head", "base"]):
                src = tree / "src" if side == "base" else root / "src"
                rows[side].append(run_one(src, Path(tmp) / f"{side}{r}"))
                print(f"round {r} {side}: {rows[side][-1]}", file=sys.stderr, flush=True)
    return rows, short


def read_lines(path: str, n: int) -> list[str]:
    """The first ``n`` lines of a text file (``.gz`` too), stripped."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
        return [line.strip() for line, _ in zip(f, range(n))]


def translate_split(run: str, data: str, **predict) -> tuple[list[dict], list[str]]:
    """``seqlab.load(run).predict`` on the sources of ``data`` (a dataset's test split, or ``NAME?split=val``),
    with ``predict``'s keyword arguments (beam, n_best, length_penalty, ...): (its outputs, the references)."""
    import seqlab
    from seqlab.data.pairs import read_pairs
    from seqlab.data.sources import parse_source

    loaded = seqlab.load(run)
    pairs = read_pairs(parse_source(data, "--data"), loaded.data, "test", loaded.comp.train.seed)
    return loaded.predict(list(pairs.src), **predict), list(pairs.tgt)


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"


def run_seqlab(args: list[str], log: Path) -> tuple[dict | None, float, str]:
    """Run ``seqlab ARGS --json`` (a train command) as a user's ``seqlab`` runs (``python -m seqlab``: the same entry
    point, allocator choice included); returns (summary or None on failure, seconds, command line)."""
    cmd = ["seqlab", *args, "--json"]
    line = shlex.join(cmd)
    print(f"[{now()}] {line}", file=sys.stderr, flush=True)
    t0 = time.time()
    with open(log, "w") as f:
        f.write(f"$ {line}\n\n")
        f.flush()
        p = subprocess.run([sys.executable, "-m", "seqlab", *cmd[1:]], stdout=subprocess.PIPE, stderr=f, text=True)
        f.write(p.stdout)
    secs = time.time() - t0
    if p.returncode != 0:
        print(f"  failed ({p.returncode}); see {log}", file=sys.stderr)
        return None, secs, line
    return json.loads(p.stdout.strip().splitlines()[-1]), secs, line


def write_results(out: Path, title: str, info: dict, rows: list[dict], columns: list[str], smoke: bool) -> None:
    """results.json (everything) and results.md (a table of ``columns`` per row, then the commands)."""
    info = {"title": title, "git_commit": git_commit(), "machine": machine(), "python": platform.python_version(),
            "date": now(), "smoke": smoke, **info, "rows": rows}
    (out / "results.json").write_text(json.dumps(info, indent=2, ensure_ascii=False))
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [f"# {title}", "", f"git {info['git_commit']}, {info['machine']}, {info['date']}"
             + (" — SMOKE RUN: tiny settings, the numbers mean nothing" if smoke else ""), "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |")
    cmds = [r["command"] for r in rows if r.get("command")]
    if cmds:
        lines += ["", "Commands:", ""] + [f"    {c}" for c in cmds]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def emit(result: dict, out: str | None) -> None:
    """Print a one-file benchmark's result as JSON and, with ``out``, write it there too."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        Path(out).write_text(text + "\n")


def seq2seq_batch(B: int, S: int, T: int, V: int):
    """A synthetic seq2seq batch from seed 0: src (B, S) and tgt_in, tgt_out (B, T) ids in [4, V), all-true mask (B, S)."""
    import torch

    torch.manual_seed(0)
    src = torch.randint(4, V, (B, S))
    mask = torch.ones(B, S, dtype=torch.bool)
    return src, mask, torch.randint(4, V, (B, T)), torch.randint(4, V, (B, T))

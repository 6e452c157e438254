"""A fault catalogue: about a hundred kinds of bad input and misuse, run through the real CLI and the
Python API in a temporary folder, each classified by what a user would see.

    python benchmarks/faults.py                       # all cases, in-process (about a minute or two)
    python benchmarks/faults.py --only overwrite      # the cases whose name contains "overwrite"
    python benchmarks/faults.py --json faults.json    # also write every case's outcome as JSON

Outcomes, for each case:

- ``exit2``: a clean refusal, exit code 2 and one ``error:`` line (for the Python API: a UserError,
  TypeError or ValueError whose message says what was expected);
- ``handled``: exit 0 and the case's own check passed (the right answer, or the warning it owes);
- ``traceback``: an exception escaped (any other exit code counts too);
- ``silent_wrong``: exit 0 but the check failed (a wrong answer given without a word), or a refusal
  was owed and none came;
- ``data_lost``: a sentinel file the case put in a folder disappeared or changed (checked first:
  losing a user's file is the worst outcome, whatever the exit code).

Cases run in-process through ``seqlab.cli.main.main`` (the same code path as the ``seqlab``
command, minus the interpreter start-up), stdin empty, ``OMP_NUM_THREADS=1``. A few tiny runs are
trained first (classify text and numeric, lm, seq2seq, forecast) for the cases that need a run.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import pickle
import random
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY = ["--epochs", "1", "--batch-size", "16", "--precision", "fp32", "--set", "model.hidden=8", "--set", "model.embed_dim=8"]


@dataclass
class Case:
    name: str
    group: str
    args: list | Callable | None = None  # CLI arguments (strings/Paths), or a Python callable (the API cases)
    expect: str = "exit2"  # exit2 | handled
    check: Callable | None = None  # (Result) -> bool, for a case that should succeed
    sentinels: list = field(default_factory=list)  # files that must survive the case unchanged
    setup: Callable | None = None
    note: str = ""


@dataclass
class Result:
    rc: int | None
    out: str
    err: str
    exc: str | None = None


def run_cli(args) -> Result:
    from seqlab.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old_in = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in args])
        return Result(rc, out.getvalue(), err.getvalue())
    except BaseException as e:  # noqa: BLE001 - what escaped is the finding
        return Result(None, out.getvalue(), err.getvalue(), f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}")
    finally:
        sys.stdin = old_in


def run_api(fn) -> Result:
    from seqlab.errors import UserError

    try:
        value = fn()
        return Result(0, repr(value)[:300], "")
    except (UserError, TypeError, ValueError) as e:
        clean = type(e) is UserError or "expected" in str(e).lower()
        if clean:
            return Result(2, "", f"error: {type(e).__name__}: {e}\n")
        return Result(None, "", "", f"{type(e).__name__}: {e}")
    except Exception as e:  # noqa: BLE001
        return Result(None, "", "", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}")


def classify_outcome(case: Case, res: Result, before: dict) -> str:
    for path, content in before.items():
        if not path.exists() or path.read_bytes() != content:
            return "data_lost"
    if res.exc is not None or "Traceback (most recent call last)" in res.err:
        return "traceback"
    if res.rc == 2:
        lines = [ln for ln in res.err.splitlines() if ln.strip()]
        if lines and lines[-1].startswith("error:") and not any("Traceback" in ln for ln in lines):
            return "exit2"
        return "exit2" if case.args is None or not callable(case.args) else "traceback"
    if res.rc == 0:
        if case.expect == "exit2":
            return "silent_wrong"
        return "handled" if case.check is None or _safe(case.check, res) else "silent_wrong"
    return "traceback"


def _safe(check, res) -> bool:
    try:
        return bool(check(res))
    except Exception:  # noqa: BLE001 - a check that cannot even run means the output was not what it should be
        return False


# ---------------------------------------------------------------- data the cases use

def sentiment_rows(n=80, seed=0):
    rng = random.Random(seed)
    pos, neg = ["great", "superb", "loved", "wonderful"], ["awful", "boring", "hated", "terrible"]
    filler = ["the", "movie", "plot", "was", "really", "a", "film"]
    rows = []
    for i in range(n):
        y = i % 2
        words = [rng.choice(filler) for _ in range(4)] + [rng.choice(pos if y else neg)]
        rng.shuffle(words)
        rows.append((" ".join(words), "pos" if y else "neg"))
    return rows


def write_csv(path: Path, header=("text", "label"), rows=None, sep=","):
    rows = sentiment_rows() if rows is None else rows
    lines = ([sep.join(header)] if header else []) + [sep.join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_meta_labels(run: Path) -> list:
    return json.loads((run / "meta.json").read_text(encoding="utf-8"))["labels"]


def build_cases(tmp: Path, runs: dict) -> list[Case]:
    d = tmp / "data"
    d.mkdir()
    good = write_csv(d / "good.csv")
    cases: list[Case] = []

    def add(*a, **kw):
        cases.append(Case(*a, **kw))

    def out(name):
        return tmp / "out" / name

    def train(data, name, *extra, model="gru"):
        """``seqlab -q train classify`` into out(name), or into ``name`` itself when it is a path."""
        target = name if isinstance(name, Path) or str(name).startswith("/") else out(name)
        return ["-q", "train", "classify", "--data", data, "--model", model, "--out", target, *TINY, *extra]

    # ---- files
    (d / "empty.csv").write_bytes(b"")
    (d / "blank.csv").write_text("  \n\n")
    (d / "header_only.csv").write_text("text,label\n")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (d / "sheet.csv").write_bytes(b"PK\x03\x04" + bytes(300))
    (d / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (d / "utf16.csv").write_bytes("text,label\n".encode("utf-16") + "\n".join(f"{t},{y}" for t, y in sentiment_rows()).encode("utf-16-le"))
    (d / "cp949.csv").write_bytes(("문장,감정\n" + "\n".join(f"정말 좋아요 {i},긍정" if i % 2 else f"너무 별로 {i},부정" for i in range(40))).encode("cp949"))
    (d / "latin1.csv").write_bytes(("text,label\n" + "\n".join(f"café très bon {i},pos" for i in range(40))).encode("cp1252"))
    (d / "folder.csv").mkdir()
    (d / "fake.csv.gz").write_bytes(b"not gzip at all")
    (d / "ragged.csv").write_text("text,label\ngood film,pos\nbad film\n")
    (d / "wide.csv").write_text("text,label\ngood film,pos,extra\n")
    (d / "notobj.jsonl").write_text('{"text": "a", "label": "pos"}\n[1, 2]\n')
    (d / "badjson.jsonl").write_text('{"text": "a", "label": "pos"}\n{"text": \n')
    (d / "badarray.json").write_text('[{"text": "a"}, ')
    add("missing file", "files", train(d / "nope.csv", "f1"))
    add("empty file", "files", train(d / "empty.csv", "f2"))
    add("blank file", "files", train(d / "blank.csv", "f3"))
    add("header only", "files", train(d / "header_only.csv", "f4"))
    add("binary file", "files", train(d / "binary.csv", "f5"))
    add("xlsx (zip) named .csv", "files", train(d / "sheet.csv", "f6"))
    add("png named .csv", "files", train(d / "image.csv", "f7"))
    add("UTF-16 file", "files", train(d / "utf16.csv", "f8"), check=lambda r: "UTF-16" in r.err)
    add("cp949 file", "files", train(d / "cp949.csv", "f9"), check=lambda r: "cp949" in r.err)
    add("latin-1 file", "files", train(d / "latin1.csv", "f10"))
    add("folder as --data", "files", train(d / "folder.csv", "f11"))
    add(".gz that is not gzip", "files", train(d / "fake.csv.gz", "f12"))
    add("row with too few fields", "files", train(d / "ragged.csv", "f13"))
    add("row with too many fields", "files", train(d / "wide.csv", "f14"))
    add("JSONL line not an object", "files", train(d / "notobj.jsonl", "f15"))
    add("JSONL invalid line", "files", train(d / "badjson.jsonl", "f16"))
    add("JSON array truncated", "files", train(d / "badarray.json", "f17"))
    (d / "quotes.csv").write_text("text,label\n" + '"so bad it is good,neg\n' + "\n".join(f"{t},{y}" for t, y in sentiment_rows()) + "\n")
    add("bare quote in CSV", "files", train(d / "quotes.csv", "f18"), expect="handled",
        check=lambda r: json.loads((out("f18") / "meta.json").read_text())["n_train"] + json.loads((out("f18") / "meta.json").read_text())["n_valid"] == 81)
    gz = d / "good.csv.gz"
    gz.write_bytes(gzip.compress(good.read_bytes()))
    add("gzipped CSV", "files", train(gz, "f19"), expect="handled")

    # ---- headers and labels
    write_csv(d / "tweets.csv", ("tweet", "mood"))
    write_csv(d / "ko.tsv", ("문장", "감정"), [(f"정말 좋아요 최고 {i}", "긍정") if i % 2 else (f"너무 별로 최악 {i}", "부정") for i in range(60)], sep="\t")
    write_csv(d / "noheader.csv", None)
    add("unknown header names", "headers", train(d / "tweets.csv", "h1"), check=lambda r: "tweet" in r.err)
    add("unknown header names + --text-col/--label-col", "headers",
        train(d / "tweets.csv", "h2", "--text-col", "tweet", "--label-col", "mood"), expect="handled",
        check=lambda r: sorted(read_meta_labels(out("h2"))) == ["neg", "pos"])
    add("Korean header + columns named", "headers", train(d / "ko.tsv", "h3", "--text-col", "문장", "--label-col", "감정"),
        expect="handled", check=lambda r: sorted(read_meta_labels(out("h3"))) == ["긍정", "부정"])
    add("no header row", "headers", train(d / "noheader.csv", "h4"), check=lambda r: "col0, col1" in r.err)
    add("no header row + --text-col col0 --label-col col1", "headers",
        train(d / "noheader.csv", "h4b", "--text-col", "col0", "--label-col", "col1"), expect="handled",
        check=lambda r: sorted(read_meta_labels(out("h4b"))) == ["neg", "pos"])
    rows = sentiment_rows()
    rows[3], rows[10] = (rows[3][0], ""), (rows[10][0], " ")
    write_csv(d / "emptylabels.csv", rows=rows)
    add("empty label cells", "headers", train(d / "emptylabels.csv", "h5"), note="lead: call data.labels.check_labels in classify")
    write_csv(d / "oneclass.csv", rows=[(t, "pos") for t, _ in sentiment_rows()])
    add("a single class", "headers", train(d / "oneclass.csv", "h6"))
    write_csv(d / "rare.csv", rows=sentiment_rows() + [("a strange one", "odd")])
    add("a class with one example", "headers", train(d / "rare.csv", "h7"), expect="handled",
        check=lambda r: "single example" in r.err, note="lead: call data.labels.warn_rare_classes in classify")
    write_csv(d / "idreview.csv", ("id", "review", "stars"), [(str(i), t, str(1 + i % 5)) for i, (t, _) in enumerate(sentiment_rows())])
    add("columns without known names", "columns", train(d / "idreview.csv", "c1"))
    add("--text-col names no column", "columns", train(good, "c2", "--text-col", "body"))
    add("--label-col names no column", "columns", train(good, "c3", "--label-col", "stars"))

    # ---- flags and config
    for i, (flag, why) in enumerate([(["--epochs", "0"], "epochs 0"), (["--epochs", "-1"], "epochs -1"), (["--batch-size", "0"], "batch 0"),
                                     (["--lr", "0"], "lr 0"), (["--lr", "-1"], "lr -1"), (["--lr", "nan"], "lr nan"),
                                     (["--set", "model.hidden=abc"], "--set non-number"), (["--set", "nosuch.key=1"], "--set unknown section"),
                                     (["--set", "model.nosuch=1"], "--set unknown key"), (["--set", "train.epochs"], "--set without ="),
                                     (["--model", "nosuch"], "unknown model"), (["--precision", "fp16"], "fp16 on a CPU"),
                                     (["--device", "cuda"], "cuda without a GPU"), (["--time-budget", "-1"], "negative time budget"),
                                     (["--max-len", "0"], "--max-len 0"), (["--set", "train.warmup=1.5"], "warmup 1.5"),
                                     (["--set", "train.threads=-1"], "threads -1"), (["--config", d / "nope.yaml"], "missing --config"),
                                     (["--tokenizer", "bogus"], "unknown tokenizer"), (["--valid", d / "nope.csv"], "missing --valid"),
                                     (["--resume", "--overwrite"], "--resume with --overwrite")]):
        if why == "cuda without a GPU":
            try:
                import torch

                if torch.cuda.is_available():
                    continue
            except ImportError:
                pass
        add(why, "flags", ["-q", "train", "classify", "--data", good, "--model", "gru", "--out", out(f"g{i}"), *TINY, *flag])
    (d / "bad.yaml").write_text("model: [unclosed\n")
    (d / "list.yaml").write_text("- a\n- b\n")
    add("--config not YAML", "flags", train(good, "g30", "--config", d / "bad.yaml"))
    add("--config a YAML list", "flags", train(good, "g31", "--config", d / "list.yaml"))
    add("unknown task", "flags", ["train", "nosuchtask", "--data", good, "--out", out("g32")])
    add("unknown verb", "flags", ["nosuchverb"])
    add("no arguments", "flags", [])
    add("--help", "flags", ["train", "--help"], expect="handled", check=lambda r: "Examples" in r.out)
    add("builtin: unknown name", "flags", train("builtin:nosuch", "g33"))
    add("builtin: negative parameter", "flags", train("builtin:longrange?distance=-5", "g34"))
    add("builtin: non-numeric parameter", "flags", train("builtin:longrange?distance=abc", "g35"))
    add("unknown dataset name", "flags", train("nosuchdataset", "g36"))
    add("--resume on a folder with no run", "flags", ["-q", "train", "classify", "--data", good, "--out", d, "--resume"])

    # ---- run folders
    cls = runs["classify"]

    def broken_copy(name, mutate):
        def setup():
            dst = tmp / "broken" / name
            shutil.copytree(cls, dst)
            mutate(dst)
        return tmp / "broken" / name, setup

    def truncate(f):
        return lambda p: (p / f).write_bytes((p / f).read_bytes()[: len((p / f).read_bytes()) // 2])

    def put(f, data):
        return lambda p: (p / f).write_bytes(data)

    def drop(f):
        return lambda p: (p / f).unlink()

    def bigger_hidden(p):
        cfg = json.loads((p / "config.json").read_text())
        cfg["model"]["hidden"] = 64
        (p / "config.json").write_text(json.dumps(cfg))

    add("predict: no such run folder", "runs", ["predict", tmp / "nope", "hello"])
    add("predict: folder is not a run", "runs", ["predict", d, "hello"])
    for name, mutate, note in [("truncated model.safetensors", truncate("model.safetensors"), ""),
                               ("garbage model.safetensors", put("model.safetensors", b"garbage" * 10), ""),
                               ("no model.safetensors", drop("model.safetensors"), ""),
                               ("config.json not JSON", put("config.json", b"{oops"), ""),
                               ("config.json with an unknown task", put("config.json", b'{"task": "nosuch"}'), ""),
                               ("config.json sizes differ from the weights", bigger_hidden, "lead: size mismatch on load"),
                               ("tokenizer.json not JSON", put("tokenizer.json", b"{oops"), ""),
                               ("tokenizer.json without a vocab", put("tokenizer.json", b'{"kind": "word"}'), ""),
                               ("tokenizer.json of an unknown kind", put("tokenizer.json", b'{"kind": "alien", "vocab": []}'), ""),
                               ("meta.json missing", drop("meta.json"), "")]:
        path, setup = broken_copy(name.replace(" ", "_").replace(".", "_"), mutate)
        add(f"predict: {name}", "runs", ["predict", path, "great film"], setup=setup, note=note)
    marker = tmp / "PWNED"

    class Payload:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('pwned')",))

    evil, evil_setup = broken_copy("evil", lambda p: ((p / "state.safetensors").unlink(missing_ok=True),
                                                      (p / "state.pt").write_bytes(pickle.dumps({"x": Payload()}))))
    add("--resume with a crafted state.pt", "runs", ["-q", "train", "classify", "--data", good, "--out", evil, "--resume"],
        setup=evil_setup, check=lambda r: not marker.exists())
    bad_state, bad_state_setup = broken_copy("bad_state", put("state.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage"))
    add("--resume with a damaged state.safetensors", "runs", ["-q", "train", "classify", "--data", good, "--out", bad_state, "--resume"],
        setup=bad_state_setup)

    # ---- overwrite and data loss
    home = tmp / "home"

    def make_home():
        home.mkdir(exist_ok=True)
        for f, text in {".bashrc": "alias x=y", ".env": "K=V", "package.json": "{}", "results.jsonl": "{}\n",
                        "photo.png": "PNG", "weights.pt": "w", "config.json": '{"mine": 1}'}.items():
            (home / f).write_text(text)
    sentinels_home = [home / f for f in (".bashrc", ".env", "package.json", "results.jsonl", "photo.png", "weights.pt", "config.json")]
    add("--overwrite on a folder that is not a run", "overwrite", train(good, home, "--overwrite"),
        setup=make_home, sentinels=sentinels_home)
    add("--out non-empty without --overwrite", "overwrite", ["-q", "train", "classify", "--data", good, "--model", "gru", "--out", home, *TINY],
        setup=make_home, sentinels=sentinels_home)
    keep = tmp / "keeprun"

    def make_keeprun():
        shutil.copytree(cls, keep)
        (keep / "notes.txt").write_text("my notes")
    add("--overwrite on a run keeps the user's own file", "overwrite",
        ["-q", "train", "classify", "--data", good, "--model", "gru", "--out", keep, *TINY, "--overwrite"],
        setup=make_keeprun, sentinels=[keep / "notes.txt"], expect="handled")
    old = tmp / "oldrun"

    def make_oldrun():
        shutil.copytree(cls, old)
    add("--overwrite then a bad flag (fp16 on CPU) keeps the old model", "overwrite",
        ["-q", "train", "classify", "--data", good, "--model", "gru", "--out", old, *TINY, "--overwrite", "--precision", "fp16"],
        setup=make_oldrun, sentinels=[old / "model.safetensors"], note="lead: validate everything before replacing an old run")
    old2 = tmp / "oldrun2"
    add("--overwrite then a missing data file keeps the old model", "overwrite",
        ["-q", "train", "classify", "--data", d / "nope.csv", "--model", "gru", "--out", old2, *TINY, "--overwrite"],
        setup=lambda: shutil.copytree(cls, old2), sentinels=[old2 / "model.safetensors"])
    (d / "afile").write_text("x")
    add("--out is a file", "overwrite", ["-q", "train", "classify", "--data", good, "--model", "gru", "--out", d / "afile", *TINY],
        sentinels=[d / "afile"])

    # ---- unwritable outputs
    add("--out below a file", "unwritable", train(good, d / "afile" / "run"))
    if Path("/sys").is_dir():
        add("--out where writing is not permitted", "unwritable", train(good, Path("/sys/seqlab-fault-run")))
        add("evaluate --plot not permitted", "unwritable", ["evaluate", runs["forecast"], "--data", "builtin:sine?n=600", "--plot", "/sys/seqlab.png"])
        add("forecast --plot not permitted", "unwritable", ["forecast", runs["forecast"], "--data", "builtin:sine?n=600", "--plot", "/sys/seqlab.png"])
        add("translate --attention not permitted", "unwritable", ["translate", runs["seq2seq"], "1 2 3", "--attention", "/sys/a.png"])
    add("translate --attention into a folder", "unwritable", ["translate", runs["seq2seq"], "1 2 3", "--attention", d])
    add("demo --out a folder of the user's files", "overwrite", ["demo", "--only", "hello", "--out", home],
        setup=make_home, sentinels=sentinels_home)
    add("demo --out below a file", "unwritable", ["demo", "--only", "hello", "--out", d / "afile" / "demo"])

    # ---- numeric ranges
    fc = runs["forecast"]
    add("forecast --horizon 0", "ranges", ["forecast", fc, "--data", "builtin:sine?n=600", "--horizon", "0", "--json"],
        expect="handled", check=lambda r: len(json.loads(r.out)["times"]) > 0 and "auto" in r.err + r.out,
        note="lead: 0 is auto (say so) or refused")
    add("forecast --horizon -1", "ranges", ["forecast", fc, "--data", "builtin:sine?n=600", "--horizon", "-1"])
    add("evaluate --backtest -1", "ranges", ["evaluate", fc, "--data", "builtin:sine?n=600", "--backtest", "-1"])
    lm = runs["lm"]
    add("generate --temperature 0", "ranges", ["generate", lm, "--temperature", "0"])
    add("generate --top-p 1.5", "ranges", ["generate", lm, "--top-p", "1.5"])
    add("generate --max-new-tokens -1", "ranges", ["generate", lm, "--max-new-tokens", "-1"])
    add("generate --num-samples 0", "ranges", ["generate", lm, "--num-samples", "0"])
    add("generate --prompt-ids not numbers", "ranges", ["generate", lm, "--prompt-ids", "a,b"])
    add("generate --prompt-ids outside the vocabulary", "ranges", ["generate", lm, "--prompt-ids", "999999"])
    add("generate --prompt-ids", "ranges", ["generate", lm, "--prompt-ids", "1,2", "--max-new-tokens", "3", "--json"],
        expect="handled", check=lambda r: json.loads(r.out)["generations"][0]["new_tokens"] <= 3)
    add("translate --beam 0", "ranges", ["translate", runs["seq2seq"], "1 2 3", "--beam", "0"],
        note="tasks/seq2seq.py: `beam = beam or self.data.beam` turns 0 into the default")
    add("translate --n-best 0", "ranges", ["translate", runs["seq2seq"], "1 2 3", "--n-best", "0"])

    # ---- empty inputs and wrong kinds of input
    add("predict \"\"", "inputs", ["predict", cls, ""], expect="handled", check=lambda r: "empty" in (r.out + r.err).lower(),
        note="lead: refuse empty inputs or flag them")
    add("translate \"\"", "inputs", ["translate", runs["seq2seq"], ""], expect="handled",
        check=lambda r: "empty" in (r.out + r.err).lower(), note="lead: refuse empty inputs or flag them")
    add("predict with no inputs", "inputs", ["predict", cls],
        note="cli/predict_cmd.py: empty stdin (not a terminal) gives zero predictions and exit 0")
    add("predict --data empty file", "inputs", ["predict", cls, "--data", d / "empty.csv"])
    add("predict --data missing file", "inputs", ["predict", cls, "--data", d / "nope.csv"])
    add("predict --data with an unknown header", "inputs", ["predict", cls, "--data", d / "tweets.csv", "--json"],
        expect="handled", check=lambda r: len(json.loads(r.out)["predictions"]) == 80)
    add("predict text on a numeric-sequence run", "inputs", ["predict", runs["numeric"], "hello there"],
        note="lead: text-to-numeric-run error")
    (d / "lm.txt").write_text("hello world\n")
    add("predict on an lm run", "inputs", ["predict", lm, "--data", d / "lm.txt"], expect="handled",
        note="lead: predict on lm/mlm runs")
    add("generate on a classify run", "inputs", ["generate", cls])
    add("forecast on a classify run", "inputs", ["forecast", cls, "--data", good])
    add("translate on a classify run", "inputs", ["translate", cls, "hello"])
    add("forecast --data missing the run's columns", "inputs", ["forecast", fc, "--data", good])
    add("evaluate classify on data with unseen labels", "inputs", ["evaluate", cls, "--data", d / "rare.csv"])
    add("train --json prints only JSON", "inputs", ["train", "classify", "--data", good, "--model", "gru", "--out", out("j1"), *TINY, "--json"],
        expect="handled", check=lambda r: json.loads(r.out)["steps"] > 0)

    # ---- other verbs and tasks
    hf = tmp / "hf"
    hf.mkdir()
    (hf / "config.json").write_text('{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}')
    hf2 = tmp / "hf2"
    hf2.mkdir()
    (hf2 / "config.json").write_text("{oops")
    hf3 = tmp / "hf3"
    hf3.mkdir()
    (hf3 / "config.json").write_text('{"model_type": "llama"}')
    (hf3 / "model.safetensors").write_bytes(b"x")
    add("import-hf: no such folder", "verbs", ["import-hf", tmp / "nope", "--out", out("i1")])
    add("import-hf: config but no weights", "verbs", ["import-hf", hf, "--out", out("i2")])
    add("import-hf: config.json not JSON", "verbs", ["import-hf", hf2, "--out", out("i3")])
    add("import-hf: unsupported model type", "verbs", ["import-hf", hf3, "--out", out("i4")])
    add("import-hf: --out a folder that is not a run", "verbs", ["import-hf", hf, "--out", home, "--overwrite"],
        setup=make_home, sentinels=sentinels_home)
    add("datasets", "verbs", ["datasets"], expect="handled", check=lambda r: "longrange" in r.out)
    (d / "pairs_bad.tsv").write_text("only one column\nanother\n")
    add("seq2seq: one-column data", "verbs", ["-q", "train", "seq2seq", "--data", d / "pairs_bad.tsv", "--model", "gru",
                                               "--out", out("s1"), "--epochs", "1"])
    add("seq2seq: evaluate on a missing file", "verbs", ["evaluate", runs["seq2seq"], "--data", d / "nope.tsv"])
    add("seq2seq: --src-col naming no column", "verbs", ["-q", "train", "seq2seq", "--data", d / "ko.tsv", "--model", "gru",
                                                          "--out", out("s2"), "--src-col", "nosuch", "--epochs", "1"])
    add("lm: an empty text file", "verbs", ["-q", "train", "lm", "--data", d / "empty.csv", "--model", "rnn", "--out", out("l1")])
    (d / "tiny.txt").write_text("hi\n")
    add("lm: text shorter than one block", "verbs", ["-q", "train", "lm", "--data", d / "tiny.txt", "--model", "gpt", "--out", out("l2"),
                                                      "--epochs", "1"])
    add("lm: evaluate on a binary file", "verbs", ["evaluate", lm, "--data", d / "binary.csv"])
    add("mlm: unknown model", "verbs", ["-q", "train", "mlm", "--data", good, "--model", "gpt", "--out", out("m1")])
    (d / "series_text.csv").write_text("date,value\n" + "\n".join(f"2021-01-{1 + i % 28:02d},abc" for i in range(50)) + "\n")
    add("forecast: a non-numeric target column", "verbs", ["-q", "train", "forecast", "--data", d / "series_text.csv", "--model",
                                                            "linear", "--out", out("fc1"), "--target", "value"])
    (d / "series_short.csv").write_text("date,value\n2021-01-01,1\n2021-01-02,2\n")
    add("forecast: a series too short to split", "verbs", ["-q", "train", "forecast", "--data", d / "series_short.csv", "--model",
                                                            "linear", "--out", out("fc2"), "--target", "value"])
    add("forecast: --target naming no column", "verbs", ["-q", "train", "forecast", "--data", "builtin:sine?n=600", "--model",
                                                          "linear", "--out", out("fc3"), "--target", "nosuch"])
    add("forecast: --data too short for the lookback", "verbs", ["forecast", fc, "--data", d / "series_short.csv"])
    add("evaluate classify --json", "verbs", ["evaluate", cls, "--data", good, "--json"], expect="handled",
        check=lambda r: json.loads(r.out)["n"] == 80)
    add("predict --json", "verbs", ["predict", cls, "superb film", "--json"], expect="handled",
        check=lambda r: json.loads(r.out)["predictions"][0]["label"] in ("pos", "neg"))

    # ---- the Python API
    import seqlab

    add("load: no such folder", "api", lambda: seqlab.load(tmp / "nope"))
    add("load: a file, not a folder", "api", lambda: seqlab.load(good))
    add("predict([None])", "api", lambda: seqlab.load(cls).predict([None]), note="lead: predict([None]) type errors")
    add("predict(123)", "api", lambda: seqlab.load(cls).predict(123), note="lead: predict(123) type errors")
    add("predict('a string', not a list)", "api", lambda: seqlab.load(cls).predict("great film"),
        expect="handled", check=lambda r: r.out.count("'label'") == 1)
    add("evaluate: missing file", "api", lambda: seqlab.load(cls).evaluate(str(d / "nope.csv")))
    add("generate(top_p=2)", "api", lambda: seqlab.load(lm).generate(["h"], max_new_tokens=2, top_p=2.0))
    add("forecast(horizon=-3)", "api", lambda: seqlab.load(fc).forecast("builtin:sine?n=600", horizon=-3))
    return cases


def train_runs(tmp: Path) -> dict:
    """The tiny runs the cases need, trained once."""
    from seqlab.cli.main import main

    runs = {"classify": tmp / "runs" / "classify", "numeric": tmp / "runs" / "numeric", "lm": tmp / "runs" / "lm",
            "seq2seq": tmp / "runs" / "seq2seq", "forecast": tmp / "runs" / "forecast"}
    d = tmp / "seed"
    d.mkdir(parents=True)
    write_csv(d / "good.csv")
    num = ["sequence_id,step,x1,x2,label"] + [f"s{i},{t},{(i % 2) + 0.1 * t},{t},{'up' if i % 2 else 'down'}"
                                               for i in range(40) for t in range(5)]
    (d / "num.csv").write_text("\n".join(num) + "\n")
    commands = [
        ["-q", "train", "classify", "--data", d / "good.csv", "--model", "gru", "--out", runs["classify"], *TINY],
        ["-q", "train", "classify", "--data", d / "num.csv", "--model", "gru", "--out", runs["numeric"], "--epochs", "1",
         "--precision", "fp32", "--set", "model.hidden=8"],
        ["-q", "train", "lm", "--data", "builtin:hello", "--model", "rnn", "--out", runs["lm"], "--epochs", "1",
         "--precision", "fp32", "--set", "model.hidden=8", "--set", "data.block_size=8"],
        ["-q", "train", "seq2seq", "--data", "builtin:reverse?n=200&max_len=6", "--model", "bahdanau", "--out", runs["seq2seq"],
         "--epochs", "1", "--precision", "fp32", "--set", "model.hidden=8", "--set", "model.emb_dim=8", "--set", "model.attn_dim=8"],
        ["-q", "train", "forecast", "--data", "builtin:sine?n=600", "--model", "nlinear", "--out", runs["forecast"], "--epochs", "1",
         "--precision", "fp32"],
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        for cmd in commands:
            rc = main([str(a) for a in cmd])
            if rc != 0:
                raise SystemExit(f"could not train a run the cases need: seqlab {' '.join(map(str, cmd))} (exit {rc})")
    return runs


OUTCOMES = ("exit2", "handled", "traceback", "silent_wrong", "data_lost")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="run only cases whose name or group contains this text")
    ap.add_argument("--json", dest="json_out", default=None, help="write every case's outcome to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = ap.parse_args(argv)
    import logging

    tmp = Path(tempfile.mkdtemp(prefix="seqlab-faults-"))
    t0 = time.perf_counter()
    try:
        runs = train_runs(tmp)
        cases = [c for c in build_cases(tmp, runs) if args.only.lower() in (c.name + " " + c.group).lower()]
        results = []
        for c in cases:
            if c.setup:
                c.setup()
            before = {Path(p): Path(p).read_bytes() for p in c.sentinels if Path(p).exists()}
            t = time.perf_counter()
            res = run_api(c.args) if callable(c.args) else run_cli(c.args)
            logging.getLogger().handlers.clear()
            outcome = classify_outcome(c, res, before)
            if c.check is not None and outcome == "exit2" and c.expect == "exit2" and not _safe(c.check, res):
                outcome = "silent_wrong"  # refused, but without what the check needs (e.g. a crafted file ran)
            last = [ln for ln in res.err.splitlines() if ln.strip()]
            results.append({"name": c.name, "group": c.group, "outcome": outcome, "rc": res.rc, "seconds": round(time.perf_counter() - t, 2),
                            "message": (res.exc.splitlines()[0] if res.exc else (last[-1] if last else ""))[:300], "note": c.note})
            print(f"{outcome:13s} {c.group:10s} {c.name}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    counts = {o: sum(r["outcome"] == o for r in results) for o in OUTCOMES}
    groups = sorted({r["group"] for r in results})
    print(f"\n{'group':12s}" + "".join(f"{o:>14s}" for o in OUTCOMES))
    for g in groups:
        print(f"{g:12s}" + "".join(f"{sum(r['group'] == g and r['outcome'] == o for r in results):14d}" for o in OUTCOMES))
    print(f"{'all':12s}" + "".join(f"{counts[o]:14d}" for o in OUTCOMES))
    print(f"\n{len(results)} cases in {time.perf_counter() - t0:.0f} s")
    bad = [r for r in results if r["outcome"] in ("traceback", "silent_wrong", "data_lost")]
    for r in bad:
        print(f"  {r['outcome']}: [{r['group']}] {r['name']}: {r['message']}" + (f"  ({r['note']})" if r["note"] else ""))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"counts": counts, "cases": results}, indent=1, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

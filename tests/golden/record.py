"""Record (or check) golden outputs: for each task, a seeded fp32 tiny run through the real CLI,
then ``evaluate --json`` and ``predict --json``. ``python tests/golden/record.py OUT.json`` writes them;
tests/test_golden.py re-runs the same commands and compares the numbers.

The runs are also kept as run folders (``--keep DIR``) so that tests can check that runs written by
this version still load and predict after later changes (tests/golden/runs_v1).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

ENGINE = ["--precision", "fp32", "--seed", "3", "--device", "cpu"]

CASES = {
    "classify": {
        "train": ["train", "classify", "--data", "builtin:longrange?distance=6&n=120", "--model", "gru", "--epochs", "3", "--lr", "0.02",
                  "--batch-size", "16", "--set", "model.hidden=8", "--set", "model.embed_dim=8",
                  "--set", "model.layers=1", *ENGINE],  # pinned: the recorded shape
        "evaluate": ["--data", "builtin:longrange?distance=6&n=60"],
        "predict": ["classa w1 w2 w3 w4 w5 w6", "classb w3 w3 w3 w1 w2 w2"],
    },
    "seq2seq": {
        "train": ["train", "seq2seq", "--data", "builtin:reverse?n=120&max_len=5", "--model", "bahdanau", "--epochs", "2",
                  "--batch-size", "16", "--set", "model.hidden=16", "--set", "model.emb_dim=8", "--set",
                  "model.attn_dim=8", "--set", "data.beam=2",
                  "--set", "data.length_penalty=0.6", *ENGINE],  # pinned: the recorded default
        "evaluate": ["--data", "builtin:reverse?n=30&max_len=5"],
        "predict": ["1 2 3", "4 5 6 7"],
    },
    "lm": {
        "train": ["train", "lm", "--data", "builtin:hello?n=60", "--model", "gpt", "--epochs", "2", "--batch-size", "8",
                  "--set", "model.n_layer=1", "--set", "model.n_head=2", "--set", "model.n_embd=16",
                  "--set", "model.block_size=16", *ENGINE],
        "evaluate": ["--data", "builtin:hello?n=20"],
        "predict": ["hel"],
    },
    "mlm": {
        "train": ["train", "mlm", "--data", "builtin:longrange?distance=6&n=150", "--model", "bert", "--epochs", "2",
                  "--batch-size", "16", "--set", "model.n_layer=1", "--set", "model.n_head=2", "--set", "model.d_model=16",
                  "--set", "model.d_ff=32", "--set", "data.vocab_size=60", *ENGINE],
        "evaluate": ["--data", "builtin:longrange?distance=6&n=40"],
        "predict": ["classa w1 [MASK] w3"],
    },
    "forecast": {
        "train": ["train", "forecast", "--data", "builtin:sine?n=400", "--model", "dlinear", "--epochs", "2",
                  "--horizon", "12", "--lookback", "24", *ENGINE],
        "evaluate": ["--data", "builtin:sine?n=400"],
        "predict": None,
    },
}


def _cli(args: list[str]) -> tuple[int, str]:
    from seqlab.cli.main import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main([str(a) for a in args])
    return code, buf.getvalue()


def run_case(name: str, root: Path) -> dict:
    """Train, evaluate and predict one case on one thread (the numbers depend on the thread count)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_case(name, root)
    finally:
        torch.set_num_threads(threads)


def _run_case(name: str, root: Path) -> dict:
    case = CASES[name]
    out = root / name
    code, text = _cli(["-q", *case["train"], "--out", out, "--json"])
    if code:
        raise RuntimeError(f"{name}: train exited {code}")
    summary = json.loads(text.strip().splitlines()[-1])
    code, text = _cli(["evaluate", out, *case["evaluate"], "--json"])
    if code:
        raise RuntimeError(f"{name}: evaluate exited {code}")
    result = {"best": {k: v for k, v in summary.items() if k.startswith("best_")}, "evaluate": json.loads(text)}
    if case["predict"]:
        code, text = _cli(["predict", out, *case["predict"], "--json"])
        if code:
            raise RuntimeError(f"{name}: predict exited {code}")
        result["predict"] = json.loads(text)
    return result


def numbers(obj, prefix="") -> dict[str, float]:
    """Every number in a nested result, by dotted path (timings left out)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("sentences_per_s", "seconds", "tokens_per_s", "plot", "wall_s"):
                continue
            out.update(numbers(v, f"{prefix}{k}."))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(numbers(v, f"{prefix}{i}."))
    elif isinstance(obj, bool) or obj is None:
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, (int, float)):
        out[prefix.rstrip(".")] = float(obj)
    else:
        out[prefix.rstrip(".")] = obj
    return out


def main(argv: list[str]) -> int:
    dest = Path(argv[0])
    keep = Path(argv[2]) if len(argv) > 2 and argv[1] == "--keep" else None
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = keep or Path(tmp)
        for name in CASES:
            results[name] = run_case(name, root)
    dest.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

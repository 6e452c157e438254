"""Tiny trained runs shared by the serve, browser and LangChain tests: trained once per test session.

Each takes a few seconds on one core (mlm only when asked for); they are for plumbing, not quality (the seq2seq run is trained
just enough to emit tokens, the classifier just enough to have two labels)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

_RUNS: dict[str, Path] = {}

TINY = {
    "clf": ["train", "classify", "--data", "builtin:longrange?distance=5&n=200&vocab=12", "--model", "gru",
            "--set", "model.hidden=16", "--set", "model.bidirectional=true", "--epochs", "2", "--precision", "fp32"],
    "lm": ["train", "lm", "--data", "builtin:hello?n=100", "--model", "gpt", "--block-size", "16",
           "--set", "model.n_layer=1", "--set", "model.n_embd=32", "--set", "model.n_head=2",
           "--set", "model.dropout=0", "--epochs", "6", "--lr", "1e-2", "--batch-size", "16", "--precision", "fp32"],
    "s2s": ["train", "seq2seq", "--data", "builtin:ko-en?n=300", "--model", "bahdanau", "--epochs", "1",
            "--batch-size", "32", "--precision", "fp32", "--set", "model.hidden=32", "--set", "model.emb_dim=16",
            "--set", "model.attn_dim=16", "--set", "model.dropout=0"],
    "mlm": ["train", "mlm", "--data", "{root}/sentences.csv", "--model", "bert", "--set", "model.n_layer=1",
            "--set", "model.d_model=32", "--set", "model.n_head=2", "--set", "model.d_ff=64",
            "--set", "data.vocab_size=120", "--set", "data.max_len=24", "--epochs", "1", "--precision", "fp32"],
    "fc": ["train", "forecast", "--data", "builtin:sine?n=400", "--model", "dlinear", "--epochs", "2",
           "--precision", "fp32", "--lookback", "48", "--horizon", "12"],
}


def _write_sentences(path: Path, n: int = 200) -> None:
    import random

    rng = random.Random(0)
    words = ["the", "movie", "plot", "actors", "was", "really", "a", "film", "great", "boring", "영화", "정말"]
    lines = ["text"] + [" ".join(rng.choice(words) for _ in range(rng.randint(3, 8))) for _ in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def tiny_runs(names=("clf", "lm", "s2s", "fc")) -> dict[str, Path]:
    """``{name: run folder}``, training each run the first time it is asked for."""
    import torch

    from seqlab.cli.main import main

    if "_root" not in _RUNS:
        root = Path(tempfile.mkdtemp(prefix="seqlab-serve-runs-"))
        atexit.register(shutil.rmtree, root, True)
        _RUNS["_root"] = root
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name in names:
            if name not in _RUNS:
                out = _RUNS["_root"] / name
                if name == "mlm":
                    _write_sentences(_RUNS["_root"] / "sentences.csv")
                args = [a.replace("{root}", str(_RUNS["_root"])) for a in TINY[name]]
                code = main(["-q", *args, "--seed", "0", "--out", str(out)])
                if code != 0:
                    raise RuntimeError(f"training the tiny {name} run failed (exit {code})")
                _RUNS[name] = out
    finally:
        torch.set_num_threads(threads)
    return {k: _RUNS[k] for k in names}  # in the order asked for


class LiveServer:
    """uvicorn serving ``app`` in a thread on 127.0.0.1 and a free port; ``.url``; ``stop()`` shuts it down."""

    def __init__(self, app):
        import socket
        import threading

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.server.install_signal_handlers = lambda: None  # not the main thread (uvicorn < 0.29 asks)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        import time

        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)

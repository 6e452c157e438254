"""Which engine runs a served classifier: PyTorch eager, or ONNX Runtime through seqlab's own export.

benchmarks/engines.py found the gap large for some models and small for others (a bi-GRU at batch 1:
2.1 ms eager vs 0.4 ms in ONNX Runtime, while at batch 64 eager is slightly faster; a Transformer encoder:
0.76 vs 0.57 ms), and the answer differs by machine, so ``--engine auto`` measures it at start-up: the run
is exported to ONNX into a temporary folder the server owns (removed when it stops), both engines predict
the same texts at batch 1 and at ``--max-batch``, their answers are checked to agree (same labels,
probabilities within 1e-4), and ONNX Runtime is used only where it is faster by a clear margin (the
geometric mean of the two speed-ups at least ``MARGIN``). One engine serves every batch of a run, so a
request's answer never depends on which others shared its batch.

``--engine torch`` never exports; ``--engine onnx`` requires the export and ONNX Runtime (a load error
otherwise). Only classify runs are considered: for seq2seq, seqlab's beam search is as fast as or faster
than ONNX Runtime's graphs (RESULTS.md, #14).
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

from ..errors import UserError

log = logging.getLogger(__name__)

ENGINES = ("auto", "torch", "onnx")
MARGIN = 1.3  # ONNX Runtime must be this much faster (geometric mean of batch 1 and max batch) to be chosen


class ClassifyEngine:
    """``predict(texts)`` of a classify run on the chosen engine; ``info`` says which and why."""

    def __init__(self, run, mode: str = "auto", max_batch: int = 32):
        if mode not in ENGINES:
            raise UserError(f"--engine {mode}: expected one of {', '.join(ENGINES)}")
        self.run, self.predict = run, run.predict
        self.info: dict = {"engine": "torch", "reason": "--engine torch" if mode == "torch" else ""}
        self._dir: Path | None = None
        if mode == "torch":
            return
        onnx = self._export(mode)
        if onnx is None:
            return
        if mode == "onnx":
            self.predict, self.info = onnx.predict, {"engine": "onnx", "reason": "--engine onnx"}
            return
        self._choose(onnx, max_batch)

    def _export(self, mode: str):
        """The run's ONNX export loaded with ONNX Runtime, or None (auto) / UserError (onnx) when impossible."""
        try:
            import onnxruntime  # noqa: F401

            from .. import onnx as seqlab_onnx
            from ..export import export_run
        except ImportError as e:
            if mode == "onnx":
                raise UserError(f"--engine onnx needs the export extra ({e.name} is missing): pip install 'seqlab[export]'") from None
            self.info["reason"] = f"ONNX Runtime is not installed ({e.name}); pip install 'seqlab[export]' to compare"
            return None
        self._dir = Path(tempfile.mkdtemp(prefix="seqlab-serve-onnx-"))
        try:
            export_run(self.run.path, "onnx", self._dir / "onnx")
            return seqlab_onnx.load(self._dir / "onnx")
        except Exception as e:  # noqa: BLE001 - a model without an export path is served by PyTorch
            self.close()
            if mode == "onnx":
                raise UserError(f"--engine onnx: {self.run.path} cannot be exported to ONNX ({type(e).__name__}: {e})") from None
            self.info["reason"] = f"no ONNX export ({type(e).__name__})"
            return None

    def _choose(self, onnx, max_batch: int) -> None:
        texts = _timing_texts(self.run, max_batch)
        a, b = self.run.predict(texts), onnx.predict(texts)
        agree = all(x["label"] == y["label"] and all(abs(x["probs"][k] - y["probs"][k]) <= 1e-4 for k in x["probs"])
                    for x, y in zip(a, b))
        if not agree:
            self.info["reason"] = "ONNX Runtime's answers differ from PyTorch's beyond 1e-4: kept PyTorch"
            log.warning("%s: %s", self.run.path, self.info["reason"])
            self.close()
            return
        t = {name: {n: _best_time(fn, texts[:n]) for n in (1, len(texts))}
             for name, fn in (("torch", self.run.predict), ("onnx", onnx.predict))}
        speedup = {n: t["torch"][n] / t["onnx"][n] for n in t["torch"]}
        gain = math.prod(speedup.values()) ** (1 / len(speedup))
        use_onnx = gain >= MARGIN
        self.info = {"engine": "onnx" if use_onnx else "torch",
                     "reason": f"ONNX Runtime {gain:.2f}x PyTorch (geometric mean over batch 1 and {len(texts)}; "
                               f"chosen when >= {MARGIN})",
                     "ms_per_batch": {name: {str(n): round(v * 1000, 3) for n, v in d.items()} for name, d in t.items()}}
        log.info("%s: serving with %s (%s)", self.run.path, self.info["engine"], self.info["reason"])
        if use_onnx:
            self.predict = onnx.predict
        else:
            self.close()

    def close(self) -> None:
        """Remove the export folder this engine made (nothing else)."""
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _timing_texts(run, n: int) -> list[str]:
    """``n`` texts of typical length made of the run's own vocabulary (the first real tokens), so both
    engines run the sizes a request would."""
    tok = run.tokenizer
    max_len = int(run.config.get("data", {}).get("max_len") or 64)
    words = [w for w in (tok.id_to_token(i) for i in range(min(tok.vocab_size, 400))) if w.isalnum()][:50] or ["text"]
    length = min(max_len, 48)
    return [" ".join(words[(i + j) % len(words)] for j in range(length)) for i in range(max(1, n))]


def _best_time(fn: Callable, texts: list[str], reps: int = 5) -> float:
    best = math.inf
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - t0)
    return best

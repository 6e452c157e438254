"""Run a ``seqlab export --format onnx`` folder with ONNX Runtime, numpy and ``tokenizers`` only: no torch.

    import seqlab.onnx
    model = seqlab.onnx.load("exports/sst2-gru")
    model.predict(["a gripping, funny film"])          # classify: [{"label", "prob", "probs"}]
    model.translate(["저는 강사 입니다"], beam=5)          # seq2seq: [{"translation", "score", ...}]
    model.generate(["ROMEO:"], max_new_tokens=50)      # lm: [{"prompt", "sample", "text", ...}]
    model.forecast(values)                             # forecast: {"forecast": {column: [...]}, ...}

The API is the one ``seqlab.load`` gives a run (same outputs, same defaults). Nothing imported here
imports torch: this package, ``seqlab.errors`` and ``seqlab.data.tokenizers`` only.
"""

from __future__ import annotations

from pathlib import Path

from .runtime import read_manifest


def load(path, threads: int | None = None):
    """Load an export folder; returns the task's runner (ONNX Runtime sessions made once, kept)."""
    manifest = read_manifest(Path(path))
    task = manifest["task"]
    if task == "classify":
        from .classify import OnnxClassifier as cls
    elif task == "lm":
        from .lm import OnnxLM as cls
    elif task == "seq2seq":
        from .seq2seq import OnnxSeq2Seq as cls
    elif task == "forecast":
        from .forecast import OnnxForecaster as cls
    else:  # pragma: no cover - the exporter writes only these tasks
        from ..errors import UserError

        raise UserError(f"{path}: an export of task {task!r} has no ONNX runner")
    return cls(Path(path), manifest, threads)


__all__ = ["load"]

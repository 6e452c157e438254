"""What every ONNX runner shares: the manifest, sessions, tokenizers and a few numpy helpers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError

MANIFEST = "seqlab_export.json"


def read_manifest(path: Path) -> dict:
    f = Path(path) / MANIFEST
    if not f.is_file():
        raise UserError(f"{path}: not a seqlab ONNX export (no {MANIFEST}); expected the --out folder of "
                        "`seqlab export RUN --format onnx`")
    manifest = json.loads(f.read_text(encoding="utf-8"))
    if manifest.get("format") != "onnx":
        raise UserError(f"{path}: the export is in format {manifest.get('format')!r}; seqlab.onnx runs ONNX exports")
    return manifest


def session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session; ``threads`` sets intra-op threads (None = ONNX Runtime's default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def tokenizer(path: Path, file: str | None):
    """A seqlab tokenizer from its JSON file (``seqlab.data.tokenizers`` does not import torch)."""
    if not file:
        return None
    from ..data.tokenizers import load_tokenizer

    return load_tokenizer(Path(path) / file)


class Runner:
    """Base of the task runners: the folder, its manifest, its sessions (made on first use)."""

    task = "base"

    def __init__(self, path: Path, manifest: dict, threads: int | None = None):
        self.path, self.manifest, self.threads = Path(path), manifest, threads
        self.config: dict = manifest["config"]
        self._sessions: dict = {}

    def session(self, graph: str):
        """(session, its output names, its input names) for ``graph``, made on first use."""
        if graph not in self._sessions:
            sess = session(self.path / self.manifest["graphs"][graph]["file"], self.threads)
            self._sessions[graph] = (sess, [o.name for o in sess.get_outputs()], [i.name for i in sess.get_inputs()])
        return self._sessions[graph]

    def run(self, graph: str, feeds: dict) -> dict:
        """Run one graph on the feeds it reads (others are ignored); returns {output name: array}."""
        sess, outputs, inputs = self.session(graph)
        return dict(zip(outputs, sess.run(outputs, {k: feeds[k] for k in inputs})))

    def __repr__(self) -> str:
        return f"<seqlab.onnx {self.task} export {self.path} model={self.manifest.get('model_name')}>"


def check_texts(texts, what: str = "text") -> list[str]:
    """``texts`` as a list of non-empty strings, with ``seqlab.load``'s errors (TypeError for wrong types,
    UserError for an empty text)."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"expected a list of strings ({what}s); found {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"expected a list of strings ({what}s); item {i} is {type(t).__name__}: {t!r}")
        if not t.strip():
            raise UserError(f"input {i + 1} is empty; expected a non-empty {what} (an empty input has nothing to "
                            "predict from)")
    return list(texts)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def pad_right(seqs: list[list[int]], pad_id: int, min_len: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Id lists -> ids (B, T) int64 right-padded with pad_id and mask (B, T) bool (True = real)."""
    T = max(min_len, max(len(s) for s in seqs))
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), T), dtype=bool)
    for b, s in enumerate(seqs):
        ids[b, : len(s)] = s
        mask[b, : len(s)] = True
    return ids, mask

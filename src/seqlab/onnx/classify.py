"""Classification through ``model.onnx``: ``predict(texts)`` as ``seqlab.load(run).predict``."""

from __future__ import annotations

import logging

import numpy as np

from .runtime import Runner, check_texts, pad_right, softmax, tokenizer

log = logging.getLogger(__name__)


class OnnxClassifier(Runner):
    task = "classify"

    def __init__(self, path, manifest, threads=None):
        super().__init__(path, manifest, threads)
        self.labels: list[str] = manifest["labels"]
        self.tokenizer = tokenizer(path, manifest["tokenizers"].get("tokenizer"))
        self.settings = manifest["classify"]

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids as the run reads them: truncated to max_len; an empty text becomes one <unk>."""
        max_len = self.settings["max_len"]
        ids = self.tokenizer.encode_batch(list(texts))
        if any(len(s) > max_len for s in ids):
            log.warning("truncated %d of %d texts to max_len=%d tokens", sum(len(s) > max_len for s in ids),
                        len(ids), max_len)
        return [s[:max_len] if s else [self.settings["unk_id"]] for s in ids]

    def logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids (B, T) int64, mask (B, T) bool -> logits (B, n_classes) float32."""
        return self.run("model", {"ids": ids, "mask": mask})["logits"]

    def predict(self, texts: list[str] | str, batch_size: int = 256) -> list[dict]:
        """``[{"label": str, "prob": float, "probs": {label: prob}}]`` in input order."""
        texts = check_texts(texts)
        seqs = self.encode(texts)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))  # similar lengths share a batch
        out: list = [None] * len(seqs)
        for k in range(0, len(order), batch_size):
            idx = order[k: k + batch_size]
            ids, mask = pad_right([seqs[i] for i in idx], self.settings["pad_id"], self.settings["min_length"])
            probs = softmax(self.logits(ids, mask).astype(np.float64))
            for row, i in enumerate(idx):
                j = int(probs[row].argmax())
                out[i] = {"label": self.labels[j], "prob": round(float(probs[row, j]), 6),
                          "probs": {lab: round(float(p), 6) for lab, p in zip(self.labels, probs[row])}}
        return out

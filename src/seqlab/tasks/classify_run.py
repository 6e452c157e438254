"""A trained classification run: predict labels, evaluate on labelled data.

    run = seqlab.load("runs/nsmc")
    run.predict(["정말 강추 합니다"])    # [{"label": "1", "prob": 0.97, "probs": {"0": 0.03, "1": 0.97}}]
    run.evaluate("nsmc")                 # {"accuracy", "macro_f1", "loss", "n", "per_class", "confusion", "labels"}
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from ..data.batching import bucket_batches
from ..data.labelled import check_known_labels, read_examples
from ..data.scaling import Scaler
from ..data.sources import parse_source
from ..errors import UserError
from .classify_io import Encoded, encode_texts, evaluate_batches, min_len
from .loaded import LoadedRun, check_texts

log = logging.getLogger(__name__)


class LoadedClassifier(LoadedRun):
    task = "classify"
    column_options = ("text_col", "label_col", "seq_col")

    def __init__(self, run, module, config, meta, comp, tok, device="auto"):
        super().__init__(run, module, config, device)
        self.meta, self.comp, self.tokenizer = meta, comp, tok
        self.labels: list[str] = meta["labels"]
        self.numeric: bool = bool(meta["numeric"])
        self._min_len = min_len(comp.model)

    def _check_inputs(self, inputs) -> list:
        if not self.numeric:
            return check_texts(inputs)
        if isinstance(inputs, str) or not isinstance(inputs, (list, tuple)):
            raise TypeError(f"expected a list of numeric sequences (each a list of steps of {len(self.meta['features'])} "
                            f"numbers: {', '.join(self.meta['features'])}); found {type(inputs).__name__}")
        dim = len(self.meta["features"])
        for i, seq in enumerate(inputs):
            if isinstance(seq, str):
                raise UserError(f"this run ({self.path}) was trained on numeric sequences ({', '.join(self.meta['features'])}); "
                                f"input {i + 1} is text {seq[:40]!r} (give a CSV with those columns via --data)")
            try:
                ok = len(seq) > 0 and all(len(step) == dim and all(isinstance(v, (int, float)) for v in step) for step in seq)
            except TypeError:
                ok = False
            if not ok:
                raise UserError(f"input {i + 1}: expected a non-empty sequence of steps, each {dim} numbers "
                                f"({', '.join(self.meta['features'])})")
        return list(inputs)

    def _encode(self, inputs: list) -> Encoded:
        if self.numeric:
            return Encoded(Scaler.from_dict(self.meta["scaler"]).transform_sequences(inputs), [0] * len(inputs), True)
        ids, trunc, _ = encode_texts(self.tokenizer, list(inputs), self.comp.data.max_len)
        if trunc:
            log.warning("truncated %d of %d texts to max_len=%d tokens", trunc, len(ids), self.comp.data.max_len)
        return Encoded(ids, [0] * len(ids), False)

    def read_inputs(self, src: str, id_col: str | None = None, **columns) -> tuple[list, list | None]:
        ex = read_examples(parse_source(src, "--data"), self.comp.data.columns(id_col=id_col, **columns), "test", 0,
                           need_labels=False)
        if ex.numeric != self.numeric:
            raise UserError(f"{ex.origin}: this run was trained on {'numeric sequences' if self.numeric else 'text'}; "
                            "the data holds the other kind")
        return ex.inputs, ex.ids

    @torch.inference_mode()
    def logits(self, inputs, batch_size: int = 256) -> torch.Tensor:
        """Class logits (N, n_classes) float32 on the CPU, in input order (a teacher's soft targets, for distillation)."""
        inputs = self._check_inputs([inputs] if isinstance(inputs, str) else inputs)
        enc = self._encode(inputs)
        pad_id = self.tokenizer.pad_id if self.tokenizer else 0
        out = torch.zeros(len(inputs), len(self.labels))
        for idx in bucket_batches(enc.lengths, batch_size, shuffle=False):
            b = enc.batch(idx, pad_id, self._min_len)
            out[idx] = self.module(b["ids"].to(self.device), b["mask"].to(self.device)).float().cpu()
        return out

    @torch.inference_mode()
    def predict(self, texts, batch_size: int = 256) -> list[dict]:
        """``[{"label": str, "prob": float, "probs": {label: prob}}]`` in input order."""
        texts = self._check_inputs([texts] if isinstance(texts, str) else texts)
        enc = self._encode(texts)
        pad_id = self.tokenizer.pad_id if self.tokenizer else 0
        out: list[dict | None] = [None] * len(texts)
        for idx in bucket_batches(enc.lengths, batch_size, shuffle=False):
            b = enc.batch(idx, pad_id, self._min_len)
            probs = F.softmax(self.module(b["ids"].to(self.device), b["mask"].to(self.device)).float(), dim=-1).cpu()
            for row, i in enumerate(idx):
                k = int(probs[row].argmax())
                out[i] = {"label": self.labels[k], "prob": round(float(probs[row, k]), 6),
                          "probs": {lab: round(float(p), 6) for lab, p in zip(self.labels, probs[row])}}
        return out  # type: ignore[return-value]

    def evaluate(self, src: str, write: bool = False, **columns) -> dict:
        """Metrics on labelled data ``src`` (a path, builtin:NAME or dataset name; datasets use their test split)."""
        ex = read_examples(parse_source(src, "--data"), self.comp.data.columns(**columns), "test", self.comp.train.seed)
        check_known_labels(ex, self.labels)
        if ex.numeric != self.numeric:
            raise UserError(f"{ex.origin}: this run was trained on {'numeric sequences' if self.numeric else 'text'}; "
                            "the data holds the other kind")
        enc = self._encode(ex.inputs)
        lab = {y: i for i, y in enumerate(self.labels)}
        enc.y = [lab[y] for y in ex.labels]
        pad_id = self.tokenizer.pad_id if self.tokenizer else 0
        batches = [enc.batch(b, pad_id, self._min_len) for b in bucket_batches(enc.lengths, 256, shuffle=False)]
        res = evaluate_batches(self.module, batches, self.labels, self.device)
        rep = res["report"]
        metrics = {**res["summary"], "per_class": rep["per_class"], "confusion": rep["confusion"], "labels": self.labels}
        if write:
            self.run.write_json("test_metrics.json", metrics)
            from ..plots import confusion_matrix

            confusion_matrix(rep["confusion"], self.labels, self.run.file("confusion.png"))
        return metrics

    def format_prediction(self, inp, pred: dict) -> str:
        shown = inp if isinstance(inp, str) else f"<sequence of {len(inp)} steps>"
        return f"{pred['label']}\t{pred['prob']:.4f}\t{shown}"

    def format_metrics(self, metrics: dict) -> list[str]:
        lines = super().format_metrics(metrics)
        lines.append(f"{'class':>12}  precision  recall     f1  support")
        for name, r in metrics["per_class"].items():
            lines.append(f"{name:>12}  {r['precision']:9.4f} {r['recall']:7.4f} {r['f1']:6.4f} {r['support']:8d}")
        return lines

"""Classification inputs in and numbers out, shared by training (``classify.py``) and a loaded run
(``classify_run.py``): encoding texts or numeric sequences, batches, the loss and the evaluation.

Shapes: a batch is ``{"ids": (B, T) long or (B, T, F) float, "mask": (B, T) bool (True = real), "y": (B,)}``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.batching import pad
from ..data.tokenizers import Tokenizer
from ..metrics import classification_report


class Encoded:
    """Model-ready inputs: id lists (or float step lists) and label indices."""

    def __init__(self, inputs: list, y: list[int], numeric: bool):
        self.inputs, self.y, self.numeric = inputs, y, numeric
        self.lengths = [max(1, len(x)) for x in inputs]

    def __len__(self):
        return len(self.y)

    def batch(self, idx: list[int], pad_id: int, min_len: int) -> dict:
        if self.numeric:
            T = max(min_len, max(self.lengths[i] for i in idx))
            dim = len(self.inputs[idx[0]][0])
            x = torch.zeros(len(idx), T, dim)  # (B, T, F)
            mask = torch.zeros(len(idx), T, dtype=torch.bool)
            for r, i in enumerate(idx):
                seq = torch.tensor(self.inputs[i], dtype=torch.float32)
                x[r, : len(seq)] = seq
                mask[r, : len(seq)] = True
        else:
            x, mask = pad([self.inputs[i] for i in idx], pad_id, min_len)
        return {"ids": x, "mask": mask, "y": torch.tensor([self.y[i] for i in idx], dtype=torch.long)}


def encode_texts(tok: Tokenizer, texts: list[str], max_len: int) -> tuple[list[list[int]], int, int]:
    """Token ids, truncated to ``max_len``; also the number truncated and the number empty."""
    ids = tok.encode_batch(texts)
    truncated = sum(1 for s in ids if len(s) > max_len)
    empty = 0
    out = []
    for s in ids:
        if not s:
            empty += 1
            s = [tok.unk_id]  # an empty text still gets one position so pooling has something to read
        out.append(s[:max_len])
    return out, truncated, empty


def min_len(model_cfg) -> int:
    """The shortest padded length a model accepts (TextCNN's widest filter)."""
    return max(getattr(model_cfg, "widths", (1,)) or (1,))


def classify_loss(model, batch):
    logits = model(batch["ids"], batch["mask"])  # (B, n_classes)
    return F.cross_entropy(logits.float(), batch["y"]), int(batch["mask"].sum())


@torch.inference_mode()
def evaluate_batches(model, batches, labels, device) -> dict:
    """Loss and the classification report over batches; returns {"summary", "report"}."""
    total, n, ys, ps = 0.0, 0, [], []
    for b in batches:
        b = {k: v.to(device) for k, v in b.items()}
        logits = model(b["ids"], b["mask"]).float()
        total += F.cross_entropy(logits, b["y"], reduction="sum").item()
        n += len(b["y"])
        ys += b["y"].tolist()
        ps += logits.argmax(-1).tolist()
    rep = classification_report(ys, ps, labels)
    return {"summary": {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "loss": total / max(1, n), "n": n},
            "report": rep}

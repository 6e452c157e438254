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


class ModelInputs:
    """What the sequence models read, made from texts (a tokenizer: fitted, the resumed run's, or --init's) or
    from numeric feature sequences (a scaler fitted on training steps); shared by classify and regress."""

    def __init__(self, train: list, valid: list, tok, vocab_size: int, pad_id: int, meta: dict):
        self.train, self.valid, self.tok, self.vocab_size, self.pad_id, self.meta = train, valid, tok, vocab_size, pad_id, meta

    @classmethod
    def make(cls, models: dict, comp, data, train_ex, valid_ex, run, init, init_dir) -> "ModelInputs":
        """Encode both parts; for numeric sequences also set ``comp.model.input_dim``. ``meta`` says how."""
        import dataclasses
        import logging

        from ..data.labelled import is_korean
        from ..data.scaling import Scaler
        from ..data.tokenizers import load_tokenizer, make_tokenizer
        from ..errors import UserError

        if train_ex.numeric:
            if not models[comp.model_name].has("numeric_inputs"):
                raise UserError(f"--model {comp.model_name} reads token ids only; numeric feature sequences need one of "
                                + ", ".join(n for n, s in models.items() if s.has("numeric_inputs")))
            scaler = Scaler.fit_sequences(train_ex.inputs)
            comp.model = dataclasses.replace(comp.model, input_dim=len(train_ex.features))
            return cls(scaler.transform_sequences(train_ex.inputs), scaler.transform_sequences(valid_ex.inputs), None,
                       1, 0, {"scaler": scaler.to_dict()})
        kind = data.tokenizer if data.tokenizer != "auto" else ("morpheme" if is_korean(train_ex.inputs) else "word")
        meta = {"tokenizer": kind}
        if run is not None and run.file("tokenizer.json").is_file():  # resuming: the run's own tokenizer
            tok = load_tokenizer(run.file("tokenizer.json"))
        elif init is not None:
            tok = init.tokenizer
            meta.update(tokenizer=tok.kind, init=str(init_dir))
        else:
            options = {"lowercase": data.lowercase} if kind == "word" else {}
            tok = make_tokenizer(kind, **options).fit(train_ex.inputs, vocab_size=data.vocab_size, min_freq=data.min_freq)
        train_in, trunc, empty = encode_texts(tok, train_ex.inputs, data.max_len)
        valid_in, vtrunc, _ = encode_texts(tok, valid_ex.inputs, data.max_len)
        meta.update(truncated_train=trunc, truncated_valid=vtrunc, empty_train=empty)
        if trunc:
            logging.getLogger(__name__).warning("truncated %d of %d training texts to max_len=%d tokens (raise it with "
                                                "--set data.max_len=N)", trunc, len(train_in), data.max_len)
        return cls(train_in, valid_in, tok, tok.vocab_size, tok.pad_id, meta)

    def build(self, spec, model_cfg, init, resume: bool, meta: dict, n_outputs: int):
        """The model, with pretrained word vectors (model.vectors, recorded in ``meta``) or --init's encoder."""
        model = spec.build(model_cfg, vocab_size=self.vocab_size, n_classes=n_outputs, pad_id=self.pad_id)
        if self.tok is not None and spec.has("vocab_vectors") and not resume:
            found = model.init_from_vocab(self.tok.itos)
            if found:
                import logging

                logging.getLogger(__name__).info("pretrained word vectors for %d of %d vocabulary entries", found,
                                                 self.tok.vocab_size)
                meta["vectors_coverage"] = {"found": found, "vocab": self.tok.vocab_size}  # written after build()
        if init is not None:
            model.load_encoder(init.state)
        return model

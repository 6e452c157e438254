"""Masked language modelling's batches and metrics, shared by training (``mlm.py``) and a loaded run
(``mlm_run.py``): sentences as ``[CLS] ids [SEP]``, masked batches, the loss on the chosen tokens, and
validation loss / perplexity / accuracy."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..data.batching import bucket_batches, pad
from ..data.mlm import IGNORE_INDEX, MLMCollator
from ..data.tokenizers import Tokenizer


def encode_sentences(tok: Tokenizer, texts: list[str], max_len: int) -> tuple[list[list[int]], int]:
    """``[CLS] ids [SEP]`` per sentence (the tokenizer's cls and eos ids), truncated; also the count truncated."""
    out, truncated = [], 0
    for ids in tok.encode_batch(texts):
        if len(ids) > max_len - 2:
            truncated += 1
            ids = ids[:max_len - 2]
        out.append([tok.cls_id] + ids + [tok.eos_id])
    return out, truncated


def special_ids(tok: Tokenizer) -> set[int]:
    return {tok.pad_id, tok.unk_id, tok.sos_id, tok.eos_id, tok.mask_id, tok.cls_id}


def make_batches(seqs, lengths, collator: MLMCollator, pad_id: int, B: int, seed: int, epoch: int,
                 shuffle: bool = True) -> list[dict]:
    out = []
    for i, idx in enumerate(bucket_batches(lengths, B, seed, epoch, shuffle=shuffle)):
        ids, mask = pad([seqs[j] for j in idx], pad_id)
        out.append(collator(ids, mask, epoch=epoch, batch_index=i))
    return out


def mlm_loss(model, batch):
    """Mean cross-entropy over the chosen (labelled) tokens; returns it and their number."""
    select = batch["labels"] != IGNORE_INDEX  # (B, T)
    n = int(select.sum())
    if n == 0:  # a tiny batch where nothing was chosen: no signal, but a finite zero loss
        return model.mlm.decoder.bias.sum() * 0.0, 0
    logits = model(batch["ids"], batch["mask"], select=select)  # (N, V)
    return F.cross_entropy(logits.float(), batch["labels"][select]), n


@torch.inference_mode()
def evaluate_batches(model, batches, device) -> dict:
    total, correct, n = 0.0, 0, 0
    for b in batches:
        b = {k: v.to(device) for k, v in b.items()}
        select = b["labels"] != IGNORE_INDEX
        if not bool(select.any()):
            continue
        logits = model(b["ids"], b["mask"], select=select).float()
        y = b["labels"][select]
        total += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(-1) == y).sum())
        n += len(y)
    loss = total / max(1, n)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "accuracy": correct / max(1, n), "n": n}

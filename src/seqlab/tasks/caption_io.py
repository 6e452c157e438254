"""Captioning's batches, loss, decoding and metrics, shared by training (``tasks/caption.py``) and the loaded
run (``tasks/caption_run.py``).

Batches: ``{"images": (B, 3, H, W) float in [0, 1] or features (B, F) / (B, K, F), "tgt_in": (B, T) long
<sos> y_1 .., "tgt_out": (B, T) long y_1 .. <eos>}``, captions padded with the tokenizer's pad id.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..data.batching import bucket_batches, pad
from ..data.builtin_scenes import attribute_accuracy
from ..data.captions import CaptionSet, to_model_input
from ..models.decoding import beam_search, greedy


class EncodedCaptions:
    """(input index, caption ids) training pairs of a :class:`CaptionSet`."""

    def __init__(self, cs: CaptionSet, tok, max_len: int):
        self.set = cs
        idx, caps = cs.pairs()
        self.image_idx = idx
        ids = tok.encode_batch(caps)
        self.truncated = sum(len(x) > max_len for x in ids)
        self.ids = [x[:max_len] for x in ids]
        self.lengths = [len(x) + 1 for x in self.ids]

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, rows: list[int], pad_id: int, sos: int, eos: int) -> dict:
        tgt_in, _ = pad([[sos] + self.ids[r] for r in rows], pad_id)  # (B, T)
        tgt_out, _ = pad([self.ids[r] + [eos] for r in rows], pad_id)  # (B, T)
        images = to_model_input(self.set.inputs[[self.image_idx[r] for r in rows]])
        return {"images": images, "tgt_in": tgt_in, "tgt_out": tgt_out}


def batches(enc: EncodedCaptions, batch_size: int, pad_id: int, sos: int, eos: int, seed: int = 0, epoch: int = 0,
            shuffle: bool = True) -> list[dict]:
    return [enc.batch(b, pad_id, sos, eos) for b in bucket_batches(enc.lengths, batch_size, seed, epoch, shuffle=shuffle)]


def caption_loss(model, batch: dict, label_smoothing: float = 0.0, pad_id: int = 0):
    """Mean token cross-entropy over real caption tokens; returns (loss, number of tokens)."""
    logits = model(batch["images"], batch["tgt_in"])  # (B, T, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), batch["tgt_out"].flatten(), ignore_index=pad_id,
                           label_smoothing=label_smoothing)
    return loss, int((batch["tgt_out"] != pad_id).sum())


@torch.no_grad()
def teacher_forced_loss(model, batch_list: list[dict], pad_id: int, device) -> dict:
    model.eval()
    total, n = 0.0, 0
    for b in batch_list:
        b = {k: v.to(device) for k, v in b.items()}
        logits = model(b["images"], b["tgt_in"])
        total += float(F.cross_entropy(logits.float().flatten(0, 1), b["tgt_out"].flatten(), ignore_index=pad_id,
                                       reduction="sum"))
        n += int((b["tgt_out"] != pad_id).sum())
    loss = total / max(1, n)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


@torch.no_grad()
def decode(model, inputs: np.ndarray, tok, device, max_len: int, beam: int = 1, n_best: int = 1,
           length_penalty: float = 0.6, return_attn: bool = False, batch_size: int = 64) -> list[list]:
    """Hypotheses per input (a list of ``n_best`` :class:`~seqlab.models.decoding.Hypothesis`, best first)."""
    model.eval()
    out = []
    for start in range(0, len(inputs), batch_size):
        x = to_model_input(inputs[start: start + batch_size]).to(device)
        mask = torch.ones(x.size(0), 1, dtype=torch.bool, device=device)  # decoding.py's length reference (unused)
        if beam <= 1:
            hyps = [[h] for h in greedy(model, x, mask, tok.sos_id, tok.eos_id, max_len_a=0.0, max_len_b=max_len,
                                        return_attn=return_attn)]
        else:
            hyps = beam_search(model, x, mask, tok.sos_id, tok.eos_id, beam=beam, length_penalty=length_penalty,
                               n_best=n_best, max_len_a=0.0, max_len_b=max_len, return_attn=return_attn)
        out.extend(hyps)
    return out


def caption_metrics(hyps: list[str], cs: CaptionSet) -> dict:
    """Corpus BLEU (sacreBLEU, every reference of an image), exact match (the caption equals one reference,
    case and spaces folded) and, on builtin:scenes, attribute accuracy per slot."""
    import sacrebleu

    k = max(len(r) for r in cs.refs)
    streams = [[r[j] if j < len(r) else r[0] for r in cs.refs] for j in range(k)]  # a repeated reference changes nothing
    norm = lambda s: " ".join(s.lower().split())  # noqa: E731
    out = {"bleu": sacrebleu.corpus_bleu(hyps, streams).score,
           "exact_match": sum(norm(h) in {norm(r) for r in refs} for h, refs in zip(hyps, cs.refs)) / max(1, len(hyps)),
           "n": len(hyps)}
    if cs.objects is not None:
        out.update(attribute_accuracy(hyps, cs.objects, cs.relations))
    return out

"""A pre-trained BERT (an mlm run): fill [MASK] tokens, evaluate masked-token accuracy; its encoder starts
classifiers (``seqlab train classify --model bert --init RUN``)."""

from __future__ import annotations

import dataclasses

import torch

from ..data.mlm import MLMCollator
from ..data.sentences import read_sentences
from ..data.sources import parse_source
from ..errors import UserError
from .loaded import LoadedRun, check_texts
from .mlm_io import encode_sentences, evaluate_batches, make_batches, special_ids


class LoadedMLM(LoadedRun):
    """A pre-trained BERT: ``fill_mask`` ("the movie was [MASK] .") and the encoder for fine-tuning."""

    task = "mlm"
    predict_options = {"top_k": "candidates listed per [MASK] (default 5)"}
    column_options = ("text_col",)

    def __init__(self, run, module, config, tokenizer, device="auto", comp=None):
        super().__init__(run, module, config, device)
        self.tokenizer = tokenizer
        self.comp = comp

    @torch.inference_mode()
    def fill_mask(self, texts: list[str] | str, top_k: int = 5) -> list[dict]:
        """For each text with one or more ``[MASK]``: ``{"text", "masks": [[{"token", "prob"}, ...], ...]}``."""
        tok = self.tokenizer
        if tok is None:
            raise UserError(f"{self.path}: this run has no tokenizer.json, so it cannot read text")
        texts = check_texts(texts)
        mask_token = tok.id_to_token(tok.mask_id)
        out = []
        for text in texts:
            if "[MASK]" not in text and mask_token not in text:
                raise UserError(f"expected [MASK] in the text to fill; found none in {text!r}")
            parts = text.replace(mask_token, "[MASK]").split("[MASK]")
            ids = [tok.cls_id]
            for i, part in enumerate(parts):
                ids += tok.encode(part) if part.strip() else []
                if i < len(parts) - 1:
                    ids.append(tok.mask_id)
            ids = (ids + [tok.eos_id])[: self.module.config.max_position]
            x = torch.tensor([ids], device=self.device)
            probs = self.module(x)[0].float().softmax(-1)  # (T, V)
            masks = []
            for pos in (x[0] == tok.mask_id).nonzero()[:, 0].tolist():
                p, i = probs[pos].topk(top_k)
                masks.append([{"token": tok.id_to_token(int(j)), "prob": round(float(q), 6)} for q, j in zip(p, i)])
            out.append({"text": text, "masks": masks})
        return out

    def predict(self, texts: list[str], top_k: int | None = None) -> list[dict]:
        return self.fill_mask(texts, top_k=top_k or 5)

    def read_inputs(self, src: str, id_col: str | None = None, **columns) -> tuple[list, list | None]:
        """Sentences with [MASK] to fill, one per line (or a table's text column)."""
        data = dataclasses.replace(self.comp.data, **columns)
        return read_sentences(parse_source(src, "--data"), data, "test"), None

    def format_prediction(self, inp, pred: dict) -> str:
        fills = [" | ".join(f"{c['token']} {c['prob']:.3f}" for c in cands) for cands in pred["masks"]]
        return f"{inp}\t" + " || ".join(fills)

    def evaluate(self, src: str, write: bool = False, **columns) -> dict:
        """Masked-token loss, perplexity and accuracy on the sentences of ``src`` (one fixed masking)."""
        tok = self.tokenizer
        if tok is None:
            raise UserError(f"{self.path}: this run has no tokenizer.json, so it cannot read text to evaluate")
        data = dataclasses.replace(self.comp.data, **columns)
        seqs, _ = encode_sentences(tok, read_sentences(parse_source(src, "--data"), data, "test"),
                                   min(data.max_len, self.module.config.max_position))
        fixed = MLMCollator(tok.mask_id, tok.vocab_size, special_ids(tok), data.masking, seed=1)
        batches = make_batches(seqs, [len(s) for s in seqs], fixed, tok.pad_id, 256, 0, 0, shuffle=False)
        metrics = evaluate_batches(self.module, batches, self.device)
        if write:
            self.run.write_json("test_metrics.json", metrics)
        return metrics

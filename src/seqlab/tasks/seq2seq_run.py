"""A trained sequence-to-sequence run: translate (greedy or beam, n-best, attention heatmaps) and evaluate.

    run = seqlab.load("runs/de-en")
    run.predict(["Ein Hund rennt."], beam=5, n_best=3)   # [{"translation", "score", "truncated", "n_best"}]
    run.evaluate("multi30k:de-en")                          # BLEU, chrF, exact match, loss, BLEU by length
"""

from __future__ import annotations

import dataclasses
import logging
import time

import torch

from ..data.batching import bucket_batches
from ..data.pairs import read_pairs
from ..data.sources import parse_source
from ..device import autocast
from ..errors import UserError
from ..metrics.translation import bleu_chrf, by_length
from .loaded import LoadedRun, check_texts
from .seq2seq_io import Encoded, decode, encode_pairs, teacher_forced_loss

log = logging.getLogger(__name__)


# bf16 autocast pays off on the CPU only for large decode batches: per step every small product is cast and
# run through bf16 kernels slower than fp32's at a few rows. Below the threshold a bf16 run keeps bf16 for the
# Transformer's output projection alone (``mixed``: its weights are bound once in bf16, and reading them is
# what that product costs at a few rows). Multi30k Transformers, beam 5, 2 cores with AVX512-BF16, sentences/s
# bf16 / fp32 / mixed (benchmarks/seq2seq_decode.py, RESULTS #14): 3+3 layers of 256, batch 1 20.2 / 14.7 /
# 21.1, batch 16 92.4 / 64.8 / 70.3, batch 64 103.3 / 89.1 / 98.9; 4+4 layers of 128, batch 1 24.1 / 33.2 /
# 40.7, batch 16 105.6 / 116.8 / 134.4, batch 64 186.3 / 157.2 / 177.2: the crossing depends on the width.
BF16_MIN_ROWS = 256


def _inference_precision(run, device) -> str:
    """Decode in the precision the run trained in (bf16 where the CPU has bf16 matmuls), else fp32."""
    summary = run.read_json("summary.json") if run.file("summary.json").is_file() else {}
    if summary.get("precision") != "bf16":
        return "fp32"
    if device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "fp32"
    return "bf16"


def summary_scores(outputs: list[str], sources: list[str], refs: list[str]) -> dict:
    """ROUGE-1/2/L/Lsum F1 of the outputs, and of the LEAD-3 / LONGEST-3 extractive baselines on the same sources."""
    from ..metrics.rouge import rouge as rouge_scores
    from ..models.extractive import BASELINES

    r = rouge_scores(outputs, refs)
    out = {k: r[k] for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")}
    words = lambda texts: round(sum(len(t.split()) for t in texts) / max(1, len(texts)), 2)  # noqa: E731
    out["mean_words"] = {"output": words(outputs), "reference": words(refs)}  # summary length vs the references'
    out["baselines"] = {name: {k: v for k, v in rouge_scores([f(s) for s in sources], refs).items() if k != "n"}
                        for name, f in BASELINES.items()}
    return out


class LoadedSeq2Seq(LoadedRun):
    task = "seq2seq"
    predict_options = {"beam": "beam width (1 = greedy)", "n_best": "also list the N best hypotheses",
                       "attention": "PNG path for the first input's attention heatmap",
                       "no_repeat_ngram": "forbid any n-gram of this size twice in an output (0 = off)",
                       "length_penalty": "GNMT length penalty alpha for beam search (0 = raw log-probability)"}
    evaluate_options = {"beam": "beam width (1 = greedy)", "plot": "PNG path for BLEU by source length",
                        "no_repeat_ngram": "forbid any n-gram of this size twice in an output (0 = off)",
                        "length_penalty": "GNMT length penalty alpha for beam search (0 = raw log-probability)",
                        "rouge": "ROUGE-1/2/L and the LEAD-3/LONGEST-3 baselines (default: on for samsum)"}
    column_options = ("src_col", "tgt_col")

    def __init__(self, run, module, config, meta, comp, src_tok, tgt_tok, device="auto", attention: bool = True):
        super().__init__(run, module, config, device)
        self.meta, self.comp, self.src_tok, self.tgt_tok = meta, comp, src_tok, tgt_tok
        self.data = comp.data
        self.has_attention = attention
        self.precision = _inference_precision(run, self.device)

    def _autocast(self, rows: int | None = None):
        """The run's precision, except fp32 for a decode of fewer than BF16_MIN_ROWS rows (sentences x beam);
        there a bf16 run's Transformer still projects to the vocabulary in bf16 (``decode_output_dtype``)."""
        small = rows is not None and rows < BF16_MIN_ROWS and self.device.type == "cpu"
        if hasattr(self.module, "decode_output_dtype"):
            self.module.decode_output_dtype = torch.bfloat16 if self.precision == "bf16" else None
        return autocast(self.device, "fp32" if small else self.precision)

    def _data(self, columns: dict):
        return dataclasses.replace(self.data, **columns) if columns else self.data

    def read_inputs(self, src: str, id_col: str | None = None, **columns) -> tuple[list, list | None]:
        """Sources to translate from a file (one per line, or a table's source column) or builtin:NAME."""
        if id_col:
            raise UserError("--id-col: seq2seq inputs carry their line order; an id column is not read")
        pairs = read_pairs(parse_source(src, "--data"), self._data(columns), "test", self.comp.train.seed, need_target=False)
        return pairs.src, None

    def _check_beam(self, beam: int, n_best: int):
        if beam < 1 or n_best < 1 or n_best > beam:
            raise UserError(f"--beam must be ≥ 1 and --n-best between 1 and the beam width; found beam={beam}, n_best={n_best}")

    def _decoding(self, no_repeat_ngram: int | None, length_penalty: float | None):
        """The run's data config with the decoding options given for this call (None = the run's own)."""
        if no_repeat_ngram is not None and no_repeat_ngram < 0:
            raise UserError(f"--no-repeat-ngram must be ≥ 0 (0 = off); found {no_repeat_ngram}")
        if length_penalty is not None and not 0 <= length_penalty <= 10:
            raise UserError(f"--length-penalty must be between 0 (off) and 10; found {length_penalty}")
        given = {k: v for k, v in (("no_repeat_ngram", no_repeat_ngram), ("length_penalty", length_penalty)) if v is not None}
        return dataclasses.replace(self.data, **given) if given else self.data

    @torch.inference_mode()
    def predict(self, texts, beam: int | None = None, n_best: int | None = None, attention=None,
                batch_size: int = 64, return_attention: bool = False, no_repeat_ngram: int | None = None,
                length_penalty: float | None = None) -> list[dict]:
        """``[{"translation", "score", "n_best"?, "truncated"}]`` in input order; ``attention``: a PNG
        path for the first input's attention heatmap; ``return_attention``: add each input's matrix as
        ``"attention": {"source": [tokens], "target": [tokens], "weights": [[...]] (target x source)}``
        (models with attention only)."""
        texts = check_texts(texts)
        beam = self.data.beam if beam is None else beam  # 0 is refused by _check_beam, not taken for "default"
        n_best = 1 if n_best is None else n_best
        self._check_beam(beam, n_best)
        data = self._decoding(no_repeat_ngram, length_penalty)
        if (attention or return_attention) and not self.has_attention:
            raise UserError(f"{self.run.path}: model {self.config['model_name']} has no attention to draw "
                            f"(attention=none); use a bahdanau, luong or transformer run")
        ids = self.src_tok.encode_batch([t.strip() for t in texts])
        truncated = [len(s) > self.data.max_src_len for s in ids]
        if any(truncated):
            log.warning("truncated %d input(s) to the model's max_src_len=%d tokens", sum(truncated), self.data.max_src_len)
        enc = Encoded([s[: self.data.max_src_len] or [self.src_tok.unk_id] for s in ids], [[] for _ in ids])
        with self._autocast(rows=min(len(texts), batch_size) * beam):
            hyps = decode(self.module, enc, self.tgt_tok, data, self.device, beam=beam, n_best=n_best,
                          batch_size=batch_size, return_attn=bool(attention or return_attention))
        out = []
        for k, (hs, tr) in enumerate(zip(hyps, truncated)):
            rec = {"translation": self.tgt_tok.decode(hs[0].tokens), "score": round(hs[0].score, 4), "truncated": tr}
            if not rec["translation"].strip():
                rec["empty"] = True  # the model ended at once (<eos> first): typical of an undertrained run
            if n_best > 1:
                rec["n_best"] = [{"translation": self.tgt_tok.decode(h.tokens), "score": round(h.score, 4)} for h in hs]
            if return_attention:
                rec["attention"] = self.attention_matrix(enc.src[k], hs[0])
            out.append(rec)
        if attention:
            self._draw_attention(enc.src[0], hyps[0][0], attention)
        return out

    def attention_matrix(self, src_ids, hyp) -> dict:
        """A hypothesis' attention: source and target tokens and the (target x source) weights."""
        xs = [self.src_tok.id_to_token(i) for i in src_ids]
        ys = [self.tgt_tok.id_to_token(i) for i in hyp.tokens] + ["<eos>"]
        w = hyp.attn.float().cpu().numpy()[: len(ys), : len(xs)]  # (T_tgt, T_src)
        return {"source": xs, "target": ys[: len(w)], "weights": [[round(float(v), 6) for v in row] for row in w]}

    def _draw_attention(self, src_ids, hyp, path):
        import numpy as np

        from ..plots import heatmap

        a = self.attention_matrix(src_ids, hyp)
        heatmap(np.asarray(a["weights"]), a["source"], a["target"], path, title=f"attention ({self.config['model_name']})")

    def evaluate(self, src: str, write: bool = False, beam: int | None = None, plot=None, rouge: bool | None = None,
                 no_repeat_ngram: int | None = None, length_penalty: float | None = None, **columns) -> dict:
        """Metrics on pairs ``src`` (a path, two aligned files, builtin:NAME, or a dataset's test split).

        ``write``: also save test_metrics.json and bleu_by_length.png in the run; ``plot``: a PNG path
        for the BLEU-by-source-length plot."""
        beam = self.data.beam if beam is None else beam
        self._check_beam(beam, 1)
        data = self._decoding(no_repeat_ngram, length_penalty)
        pairs = read_pairs(parse_source(src, "--data"), self._data(columns), "test", self.comp.train.seed)
        enc, stats = encode_pairs(self.src_tok, self.tgt_tok, pairs, self.data, drop_long=False)
        pad_id, sos, eos = self.tgt_tok.pad_id, self.tgt_tok.sos_id, self.tgt_tok.eos_id
        batches = [enc.batch(b, pad_id, sos, eos)  # capped at the training batches' padded tokens (memory)
                   for b in bucket_batches(enc.lengths, 128, shuffle=False, max_tokens=self.data.max_batch_tokens)]
        metrics: dict = {"n": len(enc), "beam": beam, "length_penalty": data.length_penalty,
                         "no_repeat_ngram": data.no_repeat_ngram, "precision": self.precision}
        with self._autocast():
            metrics.update(teacher_forced_loss(self.module, batches, pad_id, self.device))
        t0 = time.perf_counter()
        with torch.inference_mode(), self._autocast():
            hyps = decode(self.module, enc, self.tgt_tok, data, self.device, beam=beam)
        dt = time.perf_counter() - t0
        texts = [self.tgt_tok.decode(h[0].tokens) for h in hyps]
        metrics.update(bleu_chrf(texts, pairs.tgt))
        metrics["sentences_per_s"] = round(len(enc) / max(dt, 1e-9), 2)
        metrics["by_length"] = by_length(texts, pairs.tgt, [len(s) for s in enc.src])
        metrics.update({k: v for k, v in stats.items() if k != "pairs"})
        if rouge is None:  # summarisation: scored with ROUGE beside BLEU, and its extractive baselines
            rouge = any(str(x).startswith("samsum") for x in (src, (self.config.get("sources") or {}).get("data")))
        if rouge:
            metrics.update(summary_scores(texts, pairs.src, pairs.tgt))
        metrics["examples"] = [{"source": s, "reference": r, "output": h} for s, r, h in list(zip(pairs.src, pairs.tgt, texts))[:5]]
        if write:
            self.run.write_json("test_metrics.json", metrics)
        for path in ([self.run.file("bleu_by_length.png")] if write else []) + ([plot] if plot else []):
            from ..plots import lines

            rows = metrics["by_length"]
            lines([r["bucket"] for r in rows], {"BLEU": [r["bleu"] for r in rows]}, path,
                  "source length (tokens)", "BLEU", f"BLEU by source length (beam {beam})")
        return metrics

    def format_prediction(self, inp, pred: dict) -> str:
        lines = [pred["translation"] if not pred.get("empty") else
                 "(empty: the model produced <eos> first; an undertrained run? see `seqlab evaluate`)"]
        for h in pred.get("n_best", [])[1:]:
            lines.append(f"  {h['score']:.4f}\t{h['translation']}")
        return "\n".join(lines)

    def format_metrics(self, metrics: dict) -> list[str]:
        lines = super().format_metrics(metrics)
        lines.append(f"{'src tokens':>12}  {'n':>5}  {'BLEU':>6}  exact")
        for r in metrics["by_length"]:
            lines.append(f"{r['bucket']:>12}  {r['n']:5d}  {r['bleu']:6.2f}  {r['exact_match']:.4f}")
        return lines

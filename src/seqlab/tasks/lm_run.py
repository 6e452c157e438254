"""A trained (or imported) language model: generate text (streaming, stop strings across token boundaries),
evaluate on held-out text, and predict (a greedy continuation per input).

    lm = seqlab.load("runs/shakespeare")
    lm.generate("ROMEO:", 200, top_k=20, seed=1)   # [{"prompt", "sample", "text", "new_tokens", "stop_reason"}]
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Iterator

import torch

from ..data.readers import read_lines
from ..data.sources import parse_source
from ..data.stream import read_stream_text
from ..data.tokenizers import Tokenizer
from ..errors import UserError
from ..models.sampling import GEN_PRECISIONS, GenerationConfig, generate_stream, prepare_for_generation
from .lm_io import evaluate_stream
from .loaded import LoadedRun, check_texts

log = logging.getLogger(__name__)


class LoadedLM(LoadedRun):
    """A trained (or imported) language model: ``generate`` text, ``evaluate`` on held-out text."""

    task = "lm"
    predict_options = {"max_new_tokens": "tokens to continue each input with (default 50, greedy)"}
    column_options = ("text_col",)

    def __init__(self, run, module, config, tokenizer: Tokenizer | None, device="auto", comp=None, stateful: bool = False):
        super().__init__(run, module, config, device)
        self.tokenizer = tokenizer
        self.comp = comp
        self.stateful = stateful
        self._decoders: dict[str, tuple] = {}  # precision asked -> (decoding copy of the model, precision used)

    def decoder(self, precision: str = "auto"):
        """The model prepared for decoding in ``precision`` (auto | fp32 | bf16 | int8), made once and kept."""
        if precision not in GEN_PRECISIONS:
            raise UserError(f"--precision {precision}: expected one of {', '.join(GEN_PRECISIONS)}")
        if precision not in self._decoders:
            self._decoders[precision] = prepare_for_generation(self.module, precision)
        return self._decoders[precision]

    def encode_prompt(self, prompt: str) -> list[int]:
        tok = self.tokenizer
        if tok is None:
            raise UserError(f"{self.path}: this run has no tokenizer.json, so it cannot read text prompts "
                            "(an imported checkpoint without tokenizer.json); pass token ids instead "
                            "(seqlab generate --prompt-ids 1,2,3)")
        if prompt == "":
            nl = tok.encode("\n")
            return nl if nl and nl[0] != tok.unk_id else [tok.eos_id]
        ids = tok.encode(prompt)
        unknown = [t for t, i in zip(tok.tokenize(prompt), ids) if i == tok.unk_id] if hasattr(tok, "tokenize") else []
        if ids and all(i == tok.unk_id for i in ids):
            raise UserError(f"the prompt {prompt!r} has nothing this model knows: every token is outside its "
                            f"vocabulary of {tok.vocab_size} (e.g. {', '.join(repr(u) for u in unknown[:5])}); "
                            "use characters/words from the training text")
        if unknown:
            log.warning("%d prompt token(s) are not in the vocabulary and are read as <unk>: %s", len(unknown),
                        ", ".join(repr(u) for u in unknown[:10]))
        if not ids:
            raise UserError(f"the prompt {prompt!r} encodes to no tokens")
        return ids

    def generate_stream(self, prompts: list[str] | str, cfg: GenerationConfig, stop: list[str] | str | None = None,
                        prompt_ids: list[list[int]] | None = None, precision: str = "auto") -> Iterator[dict]:
        """An iterator of ``{"row", "text"}`` pieces as tokens arrive, then one ``{"done": [...], "seconds",
        "tokens_per_s"}`` with every result. The prompts are checked before the iterator is returned."""
        if isinstance(prompts, str):
            prompts = [prompts]
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        ids = prompt_ids if prompt_ids is not None else [self.encode_prompt(p) for p in prompts]
        model, used = self.decoder(precision)
        return self._stream(model, used, prompts, ids, cfg, stops, prompt_ids is not None)

    def _stream(self, model, used, prompts, ids, cfg, stops, from_ids) -> Iterator[dict]:
        n = cfg.num_samples
        rows = len(ids) * n
        generated: list[list[int]] = [[] for _ in range(rows)]
        shown = [""] * rows
        reason = ["max_new_tokens"] * rows
        eos = self.tokenizer.eos_id if self.tokenizer is not None else None

        def decode(toks):
            return self.tokenizer.decode(toks) if self.tokenizer is not None else " ".join(map(str, toks))

        def stopped(r, toks):  # asked by the sampler after each token (eos already excluded)
            if any(s in decode(toks) for s in stops):
                reason[r] = "stop"
                return True
            return False

        t0 = time.perf_counter()
        count = 0
        stream = generate_stream(model, ids, cfg, pad_id=self.tokenizer.pad_id if self.tokenizer else 0,
                                 eos_id=eos, stop=stopped if stops else None)
        for row_idx, toks in stream:
            for r, t in zip(row_idx, toks.tolist()):
                count += 1
                if t == eos:
                    reason[r] = "eos"
                else:
                    generated[r].append(t)
            for r in row_idx:
                text = _cut_at_stop(decode(generated[r]), stops)
                if reason[r] != "stop":  # hold back a tail that may be the start of a stop text
                    text = text[:len(text) - _stop_prefix_len(text, stops)]
                if len(text) > len(shown[r]) and text.startswith(shown[r]):
                    yield {"row": r, "text": text[len(shown[r]):]}
                    shown[r] = text
        for r in range(rows):  # whatever was held back and turned out not to be a stop text
            text = _cut_at_stop(decode(generated[r]), stops)
            if len(text) > len(shown[r]) and text.startswith(shown[r]):
                yield {"row": r, "text": text[len(shown[r]):]}
        seconds = time.perf_counter() - t0
        done = []
        for r in range(rows):
            done.append({"prompt": None if from_ids else prompts[r // n], "sample": r % n,
                         "text": _cut_at_stop(decode(generated[r]), stops), "new_tokens": len(generated[r]),
                         "stop_reason": reason[r]})
        yield {"done": done, "seconds": seconds, "tokens_per_s": count / max(seconds, 1e-9), "precision": used}

    def generate(self, prompts: list[str] | str = "", max_new_tokens: int = 200, *, greedy: bool = False,
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                 stop: list[str] | str | None = None, num_samples: int = 1, seed: int | None = None,
                 precision: str = "auto") -> list[dict]:
        """Continue each prompt; returns ``[{"prompt", "sample", "text", "new_tokens", "stop_reason"}]``.

        ``text`` is the continuation only (cut before a ``stop`` string); rows are prompt-major with
        ``num_samples`` rows per prompt. Bad settings (``top_p`` outside (0, 1], ``temperature`` <= 0)
        raise UserError. ``precision``: auto (the faster of fp32 and bf16, measured) | fp32 | bf16 | int8
        (weight-only, fastest on the CPU; see ``seqlab.models.sampling``); greedy text is exactly
        reproducible only in fp32.
        """
        try:
            cfg = GenerationConfig(max_new_tokens=max_new_tokens, greedy=greedy, temperature=temperature, top_k=top_k,
                                   top_p=top_p, repetition_penalty=repetition_penalty, num_samples=num_samples, seed=seed)
        except ValueError as e:
            raise UserError(str(e)) from None
        result = None
        for piece in self.generate_stream(prompts, cfg, stop, precision=precision):
            if "done" in piece:
                result = piece["done"]
        return result or []

    def evaluate(self, src: str, write: bool = False, **columns) -> dict:
        """Loss, perplexity, bits/char and accuracy on the text of ``src``."""
        if self.tokenizer is None:
            raise UserError(f"{self.path}: this run has no tokenizer.json, so it cannot read text to evaluate")
        data = dataclasses.replace(self.comp.data, **columns)
        text = read_stream_text(parse_source(src, "--data"), data, "test")
        ids = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
        metrics = evaluate_stream(self.module, ids, data.block_size or 128, self.device, len(text) / max(1, len(ids)),
                                  self.stateful)
        if write:
            self.run.write_json("test_metrics.json", metrics)
        return metrics

    def read_inputs(self, src: str, id_col: str | None = None, **columns) -> tuple[list, list | None]:
        """Prompts to continue: the non-empty lines of a text file (or a table's text column)."""
        source = parse_source(src, "--data")
        if source.kind == "file" and len(source.paths) == 1 and not columns and not id_col:
            lines = read_lines(source.paths[0], keep_empty=False)
        else:
            from ..data.labelled import Columns, read_examples

            ex = read_examples(source, Columns(text_col=columns.get("text_col"), id_col=id_col), "test", 0,
                               need_labels=False)
            return ex.inputs, ex.ids
        return lines, None

    def predict(self, texts, max_new_tokens: int | None = None) -> list[dict]:
        """``seqlab predict`` on an LM: a greedy continuation of ``max_new_tokens`` (50) tokens per text."""
        return self.generate(check_texts(texts, "prompt"), max_new_tokens=max_new_tokens or 50, greedy=True)

    def format_prediction(self, inp, pred: dict) -> str:
        return f"{inp}{pred['text']}"


def _stop_prefix_len(text: str, stops: list[str]) -> int:
    """Length of the longest end of ``text`` that begins some stop text (so it may still become one)."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best


def _cut_at_stop(text: str, stops: list[str]) -> str:
    cut = min((text.find(s) for s in stops if s in text), default=-1)
    return text[:cut] if cut >= 0 else text

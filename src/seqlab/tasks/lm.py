"""Language modelling (task ``lm``): predict the next token of a text stream; then generate.

Input: a text file (``.txt``, ``.gz``), a table with a text column (CSV/TSV/JSONL; rows joined by
newlines), ``tinyshakespeare``, or ``builtin:hello`` (the notes' HELL -> ELLO). The text becomes one
contiguous token stream; without ``--valid`` its last ``valid_fraction`` is held out.

Training examples are blocks of ``block_size`` tokens: x = stream[i : i+T], y = stream[i+1 : i+T+1].
GPT reads shuffled blocks that start at a fresh random offset every epoch. The recurrent models
(rnn, lstm, gru) read the stream as B parallel lanes, block after block, and carry their hidden state
from one block to the next (truncated backpropagation through time), unless ``data.stateful=false``.

Metrics on the held-out stream: loss (nats per token), perplexity = exp(loss), bits per character
= total nats / ln 2 / characters, and next-token accuracy. Every scored token has at least
``block_size // 2`` tokens of context: GPT slides windows of ``block_size`` by half a block and
scores their second halves; the recurrent models carry their state over the whole stream.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from ..data import builtin, datasets
from ..data.readers import file_format, pick_column, read_table, read_text
from ..data.sources import Source, parse_source
from ..data.tokenizers import KINDS, Tokenizer, load_tokenizer, make_tokenizer
from ..device import pick_device
from ..errors import UserError
from ..models.gpt import GPT, GPTConfig
from ..models.rnnlm import RNNLM, RNNLMConfig, detach_state
from ..models.sampling import GEN_PRECISIONS, GenerationConfig, generate_stream, prepare_for_generation
from ..run import RunDir
from ..train.engine import TrainConfig, Trainer
from .base import LoadedRun, TrainRequest, choose_model, compose_or_resume, restore_composed

log = logging.getLogger(__name__)

TEXT_COLS = ("text", "content", "body", "document", "sentence", "story")


@dataclass
class RNNConfig(RNNLMConfig):
    cell: str = "rnn"  # the Elman RNN: h_t = tanh(W_x x_t + W_h h_{t-1} + b)


@dataclass
class LSTMConfig(RNNLMConfig):
    cell: str = "lstm"  # gated: input, forget, output gates and a cell state


@dataclass
class GRUConfig(RNNLMConfig):
    cell: str = "gru"  # gated: update and reset gates


def _build_gpt(cfg: GPTConfig):
    return GPT(cfg)


def _build_rnn(cfg: RNNLMConfig):
    return RNNLM(cfg)


MODELS = {"gpt": (GPTConfig, _build_gpt), "rnn": (RNNConfig, _build_rnn), "lstm": (LSTMConfig, _build_rnn),
          "gru": (GRUConfig, _build_rnn)}


@dataclass
class LMData:
    text_col: str | None = None  # tables only: the column holding the text (auto: text, content, body, ...)
    tokenizer: str = "char"  # char | word | bpe | wordpiece | morpheme (hf: imported with import-hf)
    vocab_size: int = 8000  # largest vocabulary (bpe/wordpiece merge target; caps char/word vocabularies)
    min_freq: int = 1  # drop rarer tokens from char/word/morpheme vocabularies
    lowercase: bool = False  # fold case before word tokenization
    block_size: int = 0  # tokens per training example; 0 = the GPT's context (block_size) or 128 (recurrent)
    valid_fraction: float = 0.1  # the held-out tail of the stream when no --valid is given
    stateful: bool = True  # recurrent models: carry the hidden state across consecutive blocks (TBPTT)

    def __post_init__(self):
        if self.tokenizer not in KINDS + ("hf",):
            raise ValueError(f"tokenizer must be one of {', '.join(KINDS)}; found {self.tokenizer!r}")
        if self.block_size < 0 or self.vocab_size < 8:
            raise ValueError("block_size must be >= 0 and vocab_size >= 8")
        if not 0 < self.valid_fraction < 0.9:
            raise ValueError(f"valid_fraction must be in (0, 0.9); found {self.valid_fraction}")


def default_train() -> TrainConfig:
    return TrainConfig(epochs=10, batch_size=32, lr=1e-3, patience=3, metric="loss", mode="min", warmup=0.05)


# ---------------------------------------------------------------- reading


def read_stream_text(src: Source, cfg: LMData, role: str) -> str:
    """The text of a source: a file's whole content, a table's text column joined by newlines, a dataset, a built-in."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed={"train": 0, "valid": 1, "test": 2}[role])
        if "text" not in d:
            raise UserError(f"builtin:{src.name} is data for task {builtin.BUILTINS[src.name].task}, not lm")
        return d["text"]
    if src.kind == "dataset":
        ds = datasets.get(src.name)
        if ds.task != "lm":
            raise UserError(f"dataset {src.name} is for task {ds.task}, not lm (lm datasets: "
                            + ", ".join(n for n, d in datasets.DATASETS.items() if d.task == "lm") + ")")
        return read_text(datasets.fetch(src.name, ds.splits["train"]))
    parts = []
    for p in src.paths:
        if file_format(p) == "txt":
            parts.append(read_text(p))
        else:
            table = read_table(p, wanted=(cfg.text_col or "",))
            col = pick_column(table, cfg.text_col, TEXT_COLS, "text", "--text-col")
            parts.append("\n".join(table.column(col)))
    text = "\n".join(parts)
    if not text.strip():
        raise UserError(f"{src.text}: holds no text; expected at least a few characters to model")
    return text


def _block_size(model_name: str, model_cfg, data: LMData) -> int:
    if model_name == "gpt":
        return data.block_size or model_cfg.block_size
    return data.block_size or 128


# ---------------------------------------------------------------- batches


def gpt_batches(stream: torch.Tensor, T: int, B: int, seed: int, epoch: int) -> list[dict]:
    """Shuffled non-overlapping blocks starting at a random offset (0..T-1) per epoch: x (B, T), y (B, T)."""
    rng = random.Random(seed * 1_000_003 + epoch)
    pairs = len(stream) - 1  # (x, y) positions in the stream
    offset = rng.randrange(0, T) if pairs >= 2 * T else 0
    starts = list(range(offset, pairs - T + 1, T))
    rng.shuffle(starts)
    out = []
    for i in range(0, len(starts), B):
        idx = torch.tensor(starts[i:i + B])[:, None] + torch.arange(T + 1)  # (b, T + 1)
        block = stream[idx]  # (b, T + 1)
        out.append({"x": block[:, :-1], "y": block[:, 1:]})
    return out


def lane_batches(stream: torch.Tensor, T: int, B: int, seed: int, epoch: int) -> list[dict]:
    """The stream cut into B lanes read block by block, so row b of batch k+1 continues row b of batch k."""
    rng = random.Random(seed * 1_000_003 + epoch)
    B = max(1, min(B, (len(stream) - 1) // (T + 1)))
    offset = rng.randrange(0, T) if len(stream) - 1 > B * (T + 1) + T else 0
    lane = (len(stream) - 1 - offset) // B
    lanes = stream[offset:offset + B * lane + 1]
    xs = lanes[:B * lane].view(B, lane)  # (B, lane)
    ys = lanes[1:B * lane + 1].view(B, lane)  # (B, lane)
    out = []
    for k, t in enumerate(range(0, lane - 1, T)):
        out.append({"x": xs[:, t:t + T], "y": ys[:, t:t + T], "reset": torch.tensor(k == 0)})
    return out


class LMLoss:
    """loss_fn for the engine: mean cross-entropy over the block; recurrent models carry their state."""

    def __init__(self, stateful: bool):
        self.stateful = stateful
        self.state = None

    def __call__(self, model, batch):
        if isinstance(model, RNNLM):
            state = None
            if self.stateful and not bool(batch["reset"]) and self.state is not None \
                    and _state_batch(self.state) == batch["x"].size(0):
                state = self.state
            logits, new_state = model(batch["x"], state)  # (B, T, V)
            self.state = detach_state(new_state) if self.stateful else None
        else:
            logits = model(batch["x"])  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch["y"].flatten())
        return loss, batch["y"].numel()


def _state_batch(state) -> int:
    return (state[0] if isinstance(state, tuple) else state).size(1)


@torch.inference_mode()
def evaluate_stream(model, stream: torch.Tensor, T: int, device, chars_per_token: float) -> dict:
    """Loss, perplexity, bits/char and accuracy on a held-out stream; each scored token has >= T//2 context."""
    warm = T // 2
    if len(stream) < 2:
        return {"loss": float("nan"), "perplexity": float("nan"), "bits_per_char": float("nan"), "accuracy": 0.0, "n": 0}
    if len(stream) - 1 <= warm:
        warm = 0
    total, correct, n = 0.0, 0, 0
    x_all, y_all = stream[:-1], stream[1:]
    if isinstance(model, RNNLM):  # one lane over the whole stream, in chunks, carrying the state
        state = None
        for s in range(0, len(x_all), 4096):
            logits, state = model(x_all[s:s + 4096].to(device)[None], state)  # (1, chunk, V)
            first = max(warm - s, 0)
            lg, y = logits[0, first:].float(), y_all[s + first:s + 4096].to(device)
            if len(y):
                total += F.cross_entropy(lg, y, reduction="sum").item()
                correct += int((lg.argmax(-1) == y).sum())
                n += len(y)
    else:
        stride = max(1, T - warm) if warm else T
        N = len(x_all)
        starts = list(range(0, max(1, N - T) + 1, stride))
        if starts[-1] + T < N:
            starts.append(N - T)
        scored_to = warm  # tokens before this index are already scored (or context only)
        windows = []
        for s in starts:
            e = min(s + T, N)
            first = max(scored_to, s)  # score only tokens not scored by an earlier window
            if e > first:
                windows.append((s, e, first))
                scored_to = e
        for i in range(0, len(windows), 64):
            group = windows[i:i + 64]
            L = max(e - s for s, e, _ in group)
            xb = torch.stack([F.pad(x_all[s:e], (0, L - (e - s))) for s, e, _ in group]).to(device)  # (b, L)
            logits = model(xb).float()  # (b, L, V)
            for r, (s, e, first) in enumerate(group):
                lg, y = logits[r, first - s:e - s], y_all[first:e].to(device)
                total += F.cross_entropy(lg, y, reduction="sum").item()
                correct += int((lg.argmax(-1) == y).sum())
                n += len(y)
    loss = total / max(1, n)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "bits_per_char": loss / math.log(2) / chars_per_token,
            "accuracy": correct / max(1, n), "n": n}


# ---------------------------------------------------------------- the task


class LMTask:
    name = "lm"
    models = MODELS

    def train(self, req: TrainRequest) -> dict:
        if req.init:
            raise UserError("--init does not apply to task lm (it starts classify --model bert from an mlm run)")
        comp, run = compose_or_resume(req, MODELS, LMData, lambda _: default_train())
        data, tcfg, seed = comp.data, comp.train, comp.train.seed
        src = parse_source(req.data, "--data")
        text = read_stream_text(src, data, "train")
        if req.valid:
            train_text, valid_text = text, read_stream_text(parse_source(req.valid, "--valid"), data, "valid")
        else:
            cut = int(len(text) * (1 - data.valid_fraction))
            train_text, valid_text = text[:cut], text[cut:]
        if run is None:
            run = RunDir.create(req.out, overwrite=req.overwrite)
        if req.resume and run.file("tokenizer.json").is_file():
            tok = load_tokenizer(run.file("tokenizer.json"))
        else:
            options = {"lowercase": data.lowercase} if data.tokenizer == "word" else {}
            tok = make_tokenizer(data.tokenizer, **options).fit([train_text], vocab_size=data.vocab_size,
                                                                 min_freq=data.min_freq)
            tok.save(run.file("tokenizer.json"))
        train_ids = torch.tensor(tok.encode(train_text), dtype=torch.long)
        valid_ids = torch.tensor(tok.encode(valid_text), dtype=torch.long)
        T = _block_size(comp.model_name, comp.model, data)
        if len(train_ids) < T + 2:
            raise UserError(f"{src.text}: {len(train_ids)} training tokens are too few for blocks of {T}; "
                            f"use more text or a smaller --block-size")
        model_cfg = dataclasses.replace(comp.model, vocab_size=tok.vocab_size)
        if comp.model_name == "gpt":
            model_cfg = dataclasses.replace(model_cfg, block_size=T)
        comp.model = model_cfg
        comp.data = dataclasses.replace(data, block_size=T)
        chars_per_token = len(valid_text) / max(1, len(valid_ids))
        meta = {"n_train_tokens": len(train_ids), "n_valid_tokens": len(valid_ids), "chars_per_token": chars_per_token,
                "tokenizer": data.tokenizer}
        run.write_json("meta.json", meta)
        run.write_json("config.json", comp.to_json(self.name))

        torch.manual_seed(seed)
        model = MODELS[comp.model_name][1](model_cfg)
        recurrent = comp.model_name != "gpt"
        make = lane_batches if recurrent and data.stateful else gpt_batches
        device = pick_device(tcfg.device)

        cache: dict = {}

        def train_batches(epoch):
            if cache.get("epoch") != epoch:
                cache.update(epoch=epoch, batches=make(train_ids, T, tcfg.batch_size, seed, epoch))
            return cache["batches"]

        def eval_fn(m):
            return evaluate_stream(m, valid_ids, T, device, chars_per_token)

        trainer = Trainer(model, tcfg, run, LMLoss(recurrent and data.stateful), eval_fn, train_batches, device,
                          verbose=req.verbose)
        summary = trainer.fit(resume=req.resume)
        best = run.read_json("best_metrics.json") if run.file("best_metrics.json").is_file() else {}
        summary.update({k: best[k] for k in ("perplexity", "bits_per_char", "accuracy") if k in best})
        run.write_json("summary.json", summary)
        return summary

    def load_run(self, run: RunDir, device: str = "auto") -> "LoadedLM":
        cfg = run.read_json("config.json")
        cfg_cls, build = choose_model(cfg["model_name"], MODELS, self.name)
        comp = restore_composed(run, cfg_cls, LMData)
        tok = load_tokenizer(run.file("tokenizer.json")) if run.file("tokenizer.json").is_file() else None
        module = build(comp.model)
        module.load_state_dict(run.load_weights("model.safetensors"))
        return LoadedLM(run, module, cfg, tok, device)


class LoadedLM(LoadedRun):
    """A trained (or imported) language model: ``generate`` text, ``evaluate`` on held-out text."""

    task = "lm"

    def __init__(self, run, module, config, tokenizer: Tokenizer | None, device="auto"):
        super().__init__(run, module, config, device)
        self.tokenizer = tokenizer
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
                            "(an imported checkpoint without tokenizer.json); pass token ids instead (`seqlab generate RUN --prompt-ids 1,2,3`)")
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

    def evaluate(self, src: str, write: bool = False) -> dict:
        """Loss, perplexity, bits/char and accuracy on the text of ``src``."""
        if self.tokenizer is None:
            raise UserError(f"{self.path}: this run has no tokenizer.json, so it cannot read text to evaluate")
        comp_data = LMData(**{k: v for k, v in self.config["data"].items()})
        text = read_stream_text(parse_source(src, "--data"), comp_data, "test")
        ids = torch.tensor(self.tokenizer.encode(text), dtype=torch.long)
        metrics = evaluate_stream(self.module, ids, comp_data.block_size or 128, self.device, len(text) / max(1, len(ids)))
        if write:
            self.run.write_json("test_metrics.json", metrics)
        return metrics

    def predict(self, texts: list[str]) -> list[dict]:
        """``seqlab predict`` on an LM: a greedy continuation of 50 tokens per text."""
        return self.generate(list(texts), max_new_tokens=50, greedy=True)


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


TASK = LMTask()

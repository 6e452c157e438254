"""Language modelling (task ``lm``): predict the next token of a text stream; then generate.

Input: a text file (``.txt``, ``.gz``), a table with a text column (rows joined by newlines),
``tinyshakespeare``, or ``builtin:hello`` (the notes' HELL -> ELLO); see :mod:`seqlab.data.stream`. The
text becomes one contiguous token stream; without ``--valid`` its last ``valid_fraction`` is held out.
Batches, the loss and the evaluation are in :mod:`seqlab.tasks.lm_io`; the loaded run (generate,
evaluate, predict) in :mod:`seqlab.tasks.lm_run`.

Metrics on the held-out stream: loss (nats per token), perplexity = exp(loss), bits per character
= total nats / ln 2 / characters, and next-token accuracy. Every scored token has at least
``block_size // 2`` tokens of context.

Model registry sizes: ``build(cfg)`` with ``vocab_size`` (and a GPT's ``block_size``) filled into the config.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from ..data.labelled import is_korean
from ..data.sources import parse_source
from ..data.stream import read_stream_text
from ..data.tokenizers import KINDS, load_tokenizer, make_tokenizer
from ..device import pick_device
from ..errors import UserError
from ..models.gpt import GPT, GPTConfig
from ..models.rnnlm import RNNLM, RNNLMConfig
from ..train.engine import TrainConfig
from .lm_io import LMLoss, evaluate_stream, gpt_batches, lane_batches
from . import lm_sizing
from .protocol import ModelSpec, Prepared, TaskBase

log = logging.getLogger(__name__)


@dataclass
class RNNConfig(RNNLMConfig):
    cell: str = "rnn"  # the Elman RNN: h_t = tanh(W_x x_t + W_h h_{t-1} + b)


@dataclass
class LSTMConfig(RNNLMConfig):
    cell: str = "lstm"  # gated: input, forget, output gates and a cell state


@dataclass
class GRUConfig(RNNLMConfig):
    cell: str = "gru"  # gated: update and reset gates


_STATEFUL = frozenset({"stateful"})
MODELS = {
    "gpt": ModelSpec(GPTConfig, GPT, capabilities=frozenset({"kv_cache"}), description="a GPT-style decoder"),
    "rnn": ModelSpec(RNNConfig, RNNLM, capabilities=_STATEFUL, description="the plain RNN"),
    "lstm": ModelSpec(LSTMConfig, RNNLM, capabilities=_STATEFUL, description="LSTM"),
    "gru": ModelSpec(GRUConfig, RNNLM, capabilities=_STATEFUL, description="GRU"),
}


@dataclass
class LMData:
    text_col: str | None = None  # tables only: the column holding the text (auto: text, content, body, ...)
    tokenizer: str = "char"  # char | word | bpe | wordpiece | morpheme | auto (morpheme for Korean text, else char)
                             # (hf: imported with import-hf)
    vocab_size: int = 8000  # largest vocabulary (bpe/wordpiece merge target; caps char/word vocabularies)
    min_freq: int = 1  # drop rarer tokens from char/word/morpheme vocabularies
    lowercase: bool = False  # fold case before word tokenization
    block_size: int = 0  # tokens per training example; 0 = the model's context (GPT block_size) or 128 (recurrent)
    valid_fraction: float = 0.1  # the held-out tail of the stream when no --valid is given
    stateful: bool = True  # recurrent models: carry the hidden state across consecutive blocks (TBPTT)

    def __post_init__(self):
        if self.tokenizer not in KINDS + ("hf", "auto"):
            raise ValueError(f"tokenizer must be auto or one of {', '.join(KINDS)}; found {self.tokenizer!r}")
        if self.block_size < 0 or self.vocab_size < 8:
            raise ValueError("block_size must be >= 0 and vocab_size >= 8")
        if not 0 < self.valid_fraction < 0.9:
            raise ValueError(f"valid_fraction must be in (0, 0.9); found {self.valid_fraction}")


def block_size(model_cfg, data: LMData) -> int:
    """Tokens per training block: data.block_size, else a fixed-context model's own context, else 128."""
    return data.block_size or getattr(model_cfg, "block_size", 0) or 128


class LMTask(TaskBase):
    name = "lm"
    default_model = "gpt"  # the GPT: KV-cached C decoding, export and serving are built around it
    data_config = LMData
    models = MODELS

    def default_train(self, model_name: str) -> TrainConfig:
        return TrainConfig(epochs=10, batch_size=32, lr=1e-3, patience=3, metric="loss", mode="min", warmup=0.05)

    def prepare(self, comp, req, run) -> Prepared:
        spec = self.models[comp.model_name]
        data, tcfg, seed = comp.data, comp.train, comp.train.seed
        src = parse_source(req.data, "--data")
        text = read_stream_text(src, data, "train")
        if req.valid:
            train_text, valid_text = text, read_stream_text(parse_source(req.valid, "--valid"), data, "valid")
        else:
            cut = int(len(text) * (1 - data.valid_fraction))
            train_text, valid_text = text[:cut], text[cut:]
        if run is not None and run.file("tokenizer.json").is_file():  # resuming: the run's own tokenizer
            tok = load_tokenizer(run.file("tokenizer.json"))
        else:
            kind = data.tokenizer
            if kind == "auto":
                kind = "morpheme" if is_korean([train_text[:20000]]) else "char"
                log.info("--tokenizer auto: %s", kind)
            if kind == "hf":
                raise UserError("--tokenizer hf names a tokenizer imported with `seqlab import-hf`; to train one, "
                                f"choose one of {', '.join(KINDS)}")
            options = {"lowercase": data.lowercase} if kind == "word" else {}
            tok = make_tokenizer(kind, **options).fit([train_text], vocab_size=data.vocab_size, min_freq=data.min_freq)
        train_ids = torch.tensor(tok.encode(train_text), dtype=torch.long)
        valid_ids = torch.tensor(tok.encode(valid_text), dtype=torch.long)
        device = pick_device(tcfg.device)
        sizing = None
        if lm_sizing.applies(req, comp):  # a --time-budget and no size given: the largest GPT that fits it
            if not req.given("train", "epochs"):  # the size is chosen for the whole budget: train to its end
                tcfg = comp.train = dataclasses.replace(tcfg, epochs=lm_sizing.BUDGET_EPOCHS)  # (patience still stops)
            vocab_cfg = dataclasses.replace(comp.model, vocab_size=tok.vocab_size)
            choice, sizing = lm_sizing.choose(
                vocab_cfg, comp.train, spec.build, LMLoss(False, False),
                lambda T: gpt_batches(train_ids, T, tcfg.batch_size, seed, 0), device)
            comp.model = dataclasses.replace(comp.model, **choice["model"])
            data = comp.data = dataclasses.replace(data, block_size=choice["block_size"])
            if not req.given("train", "lr"):
                tcfg = comp.train = dataclasses.replace(tcfg, lr=choice["lr"])
        T = block_size(comp.model, data)
        if len(train_ids) < T + 2:
            raise UserError(f"{src.text}: {len(train_ids)} training tokens are too few for blocks of {T}; "
                            f"use more text or a smaller --block-size")
        model_cfg = dataclasses.replace(comp.model, vocab_size=tok.vocab_size)
        if hasattr(model_cfg, "block_size"):
            model_cfg = dataclasses.replace(model_cfg, block_size=T)
        comp.model = model_cfg
        comp.data = dataclasses.replace(data, block_size=T)
        chars_per_token = len(valid_text) / max(1, len(valid_ids))
        meta = {"n_train_tokens": len(train_ids), "n_valid_tokens": len(valid_ids), "chars_per_token": chars_per_token,
                "tokenizer": tok.kind, **({"sizing": sizing} if sizing else {})}
        stateful = spec.has("stateful")
        make = lane_batches if stateful and data.stateful else gpt_batches
        cache: dict = {}

        def train_batches(epoch):
            if cache.get("epoch") != epoch:
                cache.update(epoch=epoch, batches=make(train_ids, T, tcfg.batch_size, seed, epoch))
            return cache["batches"]

        def eval_fn(m):
            return evaluate_stream(m, valid_ids, T, device, chars_per_token, stateful)

        return Prepared(lambda: spec.build(model_cfg), LMLoss(stateful, stateful and data.stateful), eval_fn,
                        train_batches, meta, {"tokenizer.json": tok},
                        summary_from_best=("perplexity", "bits_per_char", "accuracy"))

    def load_run(self, run, device: str = "auto"):
        from .base import restore_composed
        from .lm_run import LoadedLM
        from .loader import build_and_load, model_spec

        cfg = run.read_json("config.json")
        spec = model_spec(self, run, cfg)
        comp = restore_composed(run, spec.config_cls, LMData)
        tok = load_tokenizer(run.file("tokenizer.json")) if run.file("tokenizer.json").is_file() else None
        module = build_and_load(run, spec, comp.model)
        return LoadedLM(run, module, cfg, tok, device, comp=comp, stateful=spec.has("stateful"))


TASK = LMTask()

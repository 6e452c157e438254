"""Masked language modelling (task ``mlm``): pre-train a BERT encoder; then fine-tune it with classify.

Input: sentences (see :mod:`seqlab.data.sentences`). Each sentence becomes ``[CLS] tokens [SEP]`` with a
WordPiece tokenizer fitted on the training sentences. Every batch is corrupted by
:class:`seqlab.data.mlm.MLMCollator` (15% of tokens chosen; 80% [MASK], 10% random, 10% kept), redrawn
every epoch; the loss is the cross-entropy at the chosen positions only.

Validation: loss, perplexity and accuracy on the chosen tokens of held-out sentences, with one fixed
masking so evaluations are comparable. Fine-tuning::

    seqlab train mlm --data sst2 --model bert --out runs/mlm
    seqlab train classify --data sst2 --model bert --init runs/mlm --out runs/sst2-bert

Model registry sizes: ``build(cfg)`` with ``vocab_size`` and ``max_position`` filled into the config.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass


from ..data.holdout import random_split
from ..data.mlm import MLMCollator, MLMMaskingConfig
from ..data.sentences import read_sentences
from ..data.sources import parse_source
from ..data.tokenizers import KINDS, load_tokenizer, make_tokenizer
from ..device import pick_device
from ..models.bert import BertConfig, BertForMaskedLM
from ..train.engine import TrainConfig
from .mlm_io import encode_sentences, evaluate_batches, make_batches, mlm_loss, special_ids
from .protocol import ModelSpec, Prepared, TaskBase

log = logging.getLogger(__name__)

MODELS = {"bert": ModelSpec(BertConfig, BertForMaskedLM, description="BERT with a masked-LM head")}


@dataclass
class MLMData:
    text_col: str | None = None  # tables only: the column holding the sentences (auto: text, sentence, ...)
    tokenizer: str = "wordpiece"  # wordpiece (BERT's) | bpe | word | char | morpheme | hf (imported)
    vocab_size: int = 8000  # WordPiece vocabulary size
    min_freq: int = 2  # drop rarer merges/tokens
    max_len: int = 128  # longest input in tokens, [CLS] and [SEP] included; longer sentences are truncated
    valid_fraction: float = 0.05  # sentences held out when no --valid is given
    mask_prob: float = 0.15  # fraction of tokens chosen for prediction
    mask_frac: float = 0.8  # of the chosen: replaced by [MASK]
    random_frac: float = 0.1  # of the chosen: replaced by a random token (the rest are kept)

    def __post_init__(self):
        if self.tokenizer not in KINDS + ("hf",):
            raise ValueError(f"tokenizer must be one of {', '.join(KINDS)}; found {self.tokenizer!r}")
        if self.max_len < 3 or self.vocab_size < 8:
            raise ValueError("max_len must be >= 3 ([CLS] x [SEP]) and vocab_size >= 8")
        if not 0 < self.valid_fraction < 0.9:
            raise ValueError(f"valid_fraction must be in (0, 0.9); found {self.valid_fraction}")
        MLMMaskingConfig(self.mask_prob, self.mask_frac, self.random_frac)  # validates the proportions

    @property
    def masking(self) -> MLMMaskingConfig:
        return MLMMaskingConfig(self.mask_prob, self.mask_frac, self.random_frac)


class MLMTask(TaskBase):
    name = "mlm"
    default_model = "bert"  # the only mlm model
    data_config = MLMData
    models = MODELS

    def default_train(self, model_name: str) -> TrainConfig:
        return TrainConfig(epochs=10, batch_size=64, lr=5e-4, patience=3, metric="loss", mode="min", warmup=0.05)

    def prepare(self, comp, req, run) -> Prepared:
        spec = self.models[comp.model_name]
        data, tcfg, seed = comp.data, comp.train, comp.train.seed
        src = parse_source(req.data, "--data")
        train_texts = read_sentences(src, data, "train")
        if req.valid:
            valid_texts = read_sentences(parse_source(req.valid, "--valid"), data, "valid")
        else:
            tr, va = random_split(len(train_texts), data.valid_fraction, seed)
            valid_texts = [train_texts[i] for i in va] or train_texts[:1]
            train_texts = [train_texts[i] for i in tr]
        if run is not None and run.file("tokenizer.json").is_file():  # resuming: the run's own tokenizer
            tok = load_tokenizer(run.file("tokenizer.json"))
        else:
            tok = make_tokenizer(data.tokenizer).fit(train_texts, vocab_size=data.vocab_size, min_freq=data.min_freq)
        train_seqs, trunc = encode_sentences(tok, train_texts, data.max_len)
        valid_seqs, _ = encode_sentences(tok, valid_texts, data.max_len)
        if trunc:
            log.warning("truncated %d of %d training sentences to max_len=%d tokens", trunc, len(train_seqs), data.max_len)
        comp.model = model_cfg = dataclasses.replace(comp.model, vocab_size=tok.vocab_size, max_position=data.max_len)
        meta = {"n_train": len(train_seqs), "n_valid": len(valid_seqs), "truncated_train": trunc,
                "tokenizer": data.tokenizer}
        collator = MLMCollator(tok.mask_id, tok.vocab_size, special_ids(tok), data.masking, seed=seed)
        lengths = [len(s) for s in train_seqs]
        cache: dict = {}

        def train_batches(epoch):
            if cache.get("epoch") != epoch:
                cache.update(epoch=epoch, batches=make_batches(train_seqs, lengths, collator, tok.pad_id,
                                                               tcfg.batch_size, seed, epoch))
            return cache["batches"]

        fixed = MLMCollator(tok.mask_id, tok.vocab_size, special_ids(tok), data.masking, seed=seed + 1)
        valid_batches = make_batches(valid_seqs, [len(s) for s in valid_seqs], fixed, tok.pad_id, 256, seed, 0,
                                     shuffle=False)
        device = pick_device(tcfg.device)
        return Prepared(lambda: spec.build(model_cfg), mlm_loss, lambda m: evaluate_batches(m, valid_batches, device),
                        train_batches, meta, {"tokenizer.json": tok}, mean_over="count")

    def load_run(self, run, device: str = "auto"):
        from .base import restore_composed
        from .loader import build_and_load, model_spec
        from .mlm_run import LoadedMLM

        cfg = run.read_json("config.json")
        spec = model_spec(self, run, cfg)
        comp = restore_composed(run, spec.config_cls, MLMData)
        tok = load_tokenizer(run.file("tokenizer.json")) if run.file("tokenizer.json").is_file() else None
        module = build_and_load(run, spec, comp.model)
        return LoadedMLM(run, module, cfg, tok, device, comp=comp)


TASK = MLMTask()

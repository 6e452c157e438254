"""Sequence classification (sequence -> vector -> label): sentiment, spam, the notes' "정말 강추 합니다 -> 긍정".

Input: a table with a text column and a label column, a built-in dataset, ``sst2`` / ``nsmc``, or numeric
feature sequences (see :mod:`seqlab.data.labelled`). Output: a run whose ``predict`` returns
``{"label", "prob", "probs"}`` per input and whose ``evaluate`` returns accuracy, macro-F1, per-class
precision/recall and the confusion matrix (:mod:`seqlab.tasks.classify_run`).

Model registry sizes: ``build(cfg, vocab_size=, n_classes=, pad_id=)``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import torch

from ..data import datasets
from ..data.batching import EpochCache, bucket_batches
from ..data.holdout import SPLITS, hold_out_examples
from ..data.labelled import Columns, check_known_labels, label_order, read_examples
from ..data.sources import parse_source
from ..data.tokenizers import KINDS, load_tokenizer
from ..device import pick_device
from ..errors import UserError
from ..models.bert_classify import FINETUNE_LR, BertClassifyConfig, build_bert_classifier
from ..models.regression import suggests_regression
from ..models.classifier import (GRUClassifierConfig, LSTMClassifierConfig, RecurrentClassifier, RNNClassifierConfig,
                                 TextCNNClassifier, TextCNNClassifierConfig, TransformerClassifier,
                                 TransformerClassifierConfig)
from ..train.distill import DistillConfig
from ..train.engine import TrainConfig
from .classify_io import Encoded, ModelInputs, classify_loss, evaluate_batches, min_len
from .pretrained import init_from_mlm
from .protocol import ModelSpec, Prepared, TaskBase

log = logging.getLogger(__name__)

_SEQ = frozenset({"numeric_inputs", "vocab_vectors"})  # vocab_vectors: model.vectors starts the embedding table
MODELS = {
    "rnn": ModelSpec(RNNClassifierConfig, RecurrentClassifier, capabilities=_SEQ, description="the plain (Elman) RNN"),
    "lstm": ModelSpec(LSTMClassifierConfig, RecurrentClassifier, capabilities=_SEQ, description="LSTM"),
    "gru": ModelSpec(GRUClassifierConfig, RecurrentClassifier, capabilities=_SEQ, description="GRU"),
    "textcnn": ModelSpec(TextCNNClassifierConfig, TextCNNClassifier, capabilities=_SEQ,
                         description="Kim's CNN"),
    "transformer": ModelSpec(TransformerClassifierConfig, TransformerClassifier, capabilities=_SEQ,
                             description="a Transformer encoder"),
    "bert": ModelSpec(BertClassifyConfig, build_bert_classifier, capabilities=frozenset({"pretrained_init"}),
                      description="BERT; --init MLM_RUN fine-tunes a pre-trained encoder", lr=FINETUNE_LR),
}


@dataclass
class ClassifyData:
    text_col: str | None = None  # column holding the text (auto: text, sentence, document, review, message)
    label_col: str | None = None  # column holding the label (auto: label, labels, class, target, sentiment)
    seq_col: str | None = None  # numeric sequences: the sequence-id column (auto: sequence_id, seq_id)
    tokenizer: str = "auto"  # auto (morpheme for Korean text, word otherwise) | char | word | bpe | wordpiece | morpheme
    vocab_size: int = 30000  # largest vocabulary (bpe/wordpiece: the merges' target size)
    min_freq: int = 1  # drop rarer tokens from char/word/morpheme vocabularies
    lowercase: bool = True  # fold case before word tokenization (no effect on Korean)
    max_len: int = 256  # longest token sequence fed to the model; longer ones are truncated and counted
    valid_fraction: float = 0.1  # held out, stratified, when no --valid is given
    valid_split: str = "random"  # how it is held out: random | whole (whole texts, none of their parts left in training:
                                 # for phrase-level data such as SST-2; see seqlab.data.holdout)
    teacher: str = ""  # a classify run to distil from (--teacher RUN): its soft targets join the labels (train/distill.py)
    distill_alpha: float = 0.5  # weight of the teacher's soft targets; 1 - alpha weighs the labels' cross-entropy
    distill_temperature: float = 2.0  # T softening both distributions (the soft term is scaled by T²)
    adversarial: float = 0.0  # adversarial training on the word vectors (Miyato et al. 2017): the perturbation's size
                              # relative to each text's vectors (0 = off; each step costs about twice; train/adversarial.py)

    def __post_init__(self):
        if self.tokenizer != "auto" and self.tokenizer not in KINDS:
            raise ValueError(f"tokenizer must be auto or one of {', '.join(KINDS)}; found {self.tokenizer!r}")
        if self.max_len < 1 or self.vocab_size < 8:
            raise ValueError("max_len must be ≥ 1 and vocab_size ≥ 8")
        if not 0 < self.valid_fraction < 0.9:
            raise ValueError(f"valid_fraction must be in (0, 0.9); found {self.valid_fraction}")
        if self.valid_split not in SPLITS:
            raise ValueError(f"valid_split must be one of {', '.join(SPLITS)}; found {self.valid_split!r}")
        DistillConfig(self.distill_alpha, self.distill_temperature)  # raises ValueError for values out of range
        if not 0 <= self.adversarial < 1:
            raise ValueError(f"adversarial is a relative perturbation size in [0, 1) (0 = off); found {self.adversarial}")

    def columns(self, **override) -> Columns:
        return Columns(**{"text_col": self.text_col, "label_col": self.label_col, "seq_col": self.seq_col, **override})


class ClassifyTask(TaskBase):
    name = "classify"
    default_model = "gru"  # the bi-GRU: the best default on SST-2 (RESULTS #2)
    data_config = ClassifyData
    models = MODELS

    def default_train(self, model_name: str) -> TrainConfig:
        return TrainConfig(epochs=10, batch_size=64, lr=self.default_lr(model_name, 2e-3),
                           patience=3, metric="accuracy", mode="max")

    def prepare(self, comp, req, run) -> Prepared:
        spec = self.models[comp.model_name]
        init = init_from_mlm(req.init, comp.model) if req.init and not req.resume else None
        if init is not None:  # the pre-trained encoder's shape and tokenizer
            comp.model = init.model_cfg
        data, seed = comp.data, comp.train.seed
        cols = data.columns()
        train_src = parse_source(req.data, "--data")
        train_ex = read_examples(train_src, cols, "train", seed)
        if len(set(train_ex.labels)) < 2:
            raise UserError(f"{train_ex.origin}: the training data has a single class ({train_ex.labels[0]!r}); "
                            "classification needs at least two")
        if suggests_regression(train_ex.labels):
            log.warning("%s: every label is a number and there are %d distinct values: a score rather than classes? "
                        "`seqlab train regress` predicts it as a number (MSE/Huber, MAE/RMSE/R²)", train_ex.origin,
                        len(set(train_ex.labels)))
        if req.valid:
            valid_ex = read_examples(parse_source(req.valid, "--valid"), cols, "valid", seed)
        elif train_src.kind == "builtin":
            valid_ex = read_examples(train_src, cols, "valid", seed)
        else:
            train_ex, valid_ex = hold_out_examples(train_ex, train_src, data.valid_fraction, data.valid_split, seed)
        has_test = train_src.kind == "dataset" and train_src.split is None and "test" in datasets.get(train_src.name).splits
        labels = label_order(train_ex.labels)
        check_known_labels(valid_ex, labels)

        meta = {"labels": labels, "numeric": train_ex.numeric, "features": train_ex.features}
        inp = ModelInputs.make(self.models, comp, data, train_ex, valid_ex, run, init, req.init)
        meta.update(inp.meta)
        train_in, valid_in, tok, pad_id = inp.train, inp.valid, inp.tok, inp.pad_id
        tokenizers = {"tokenizer.json": tok} if tok is not None else {}
        lab_index = {y: i for i, y in enumerate(labels)}
        train_enc = Encoded(train_in, [lab_index[y] for y in train_ex.labels], train_ex.numeric)
        valid_enc = Encoded(valid_in, [lab_index[y] for y in valid_ex.labels], train_ex.numeric)
        meta.update(n_train=len(train_enc), n_valid=len(valid_enc), class_counts=dict(Counter(train_ex.labels)))

        model_cfg, shortest, bs = comp.model, min_len(comp.model), comp.train.batch_size

        def build():
            return inp.build(spec, model_cfg, init, req.resume, meta, len(labels))

        def train_batches(epoch):
            out = []
            for b in bucket_batches(train_enc.lengths, bs, seed, epoch):
                out.append(train_enc.batch(b, pad_id, shortest))
                out[-1]["index"] = torch.tensor(b)  # (B,) training-example indices: the teacher-logit cache's keys
            return out

        loss_fn = classify_loss
        if data.teacher:  # knowledge distillation from a trained classify run (tasks/classify_distill.py)
            from .classify_distill import distill_loss_fn

            loss_fn = distill_loss_fn(data, labels, train_ex.inputs, comp.train.device)
            meta["teacher"] = data.teacher
        if data.adversarial:  # the clean loss plus the loss under the worst small change of the word vectors
            if train_ex.numeric:
                raise UserError("data.adversarial perturbs word vectors; numeric feature sequences have none (leave it at 0)")
            from ..train.adversarial import adversarial_loss_fn

            loss_fn = adversarial_loss_fn(loss_fn, data.adversarial)

        valid_batches = [valid_enc.batch(b, pad_id, shortest) for b in bucket_batches(valid_enc.lengths, 256, shuffle=False)]
        device = pick_device(comp.train.device)

        def eval_fn(m):
            return evaluate_batches(m, valid_batches, labels, device)["summary"]

        return Prepared(build, loss_fn, eval_fn, EpochCache(train_batches), meta, tokenizers,
                        test_source=req.test or (req.data if has_test else None),
                        summary_extra={k: meta[k] for k in ("truncated_train", "empty_train") if k in meta})

    def load_run(self, run, device: str = "auto"):
        from .base import restore_composed
        from .classify_run import LoadedClassifier
        from .loader import build_and_load, model_spec

        cfg = run.read_json("config.json")
        meta = run.read_json("meta.json")
        spec = model_spec(self, run, cfg)
        comp = restore_composed(run, spec.config_cls, ClassifyData)
        tok = None if meta["numeric"] else load_tokenizer(run.file("tokenizer.json"))
        module = build_and_load(run, spec, comp.model, vocab_size=tok.vocab_size if tok else 1,
                                n_classes=len(meta["labels"]), pad_id=tok.pad_id if tok else 0)
        return LoadedClassifier(run, module, cfg, meta, comp, tok, device)


TASK = ClassifyTask()

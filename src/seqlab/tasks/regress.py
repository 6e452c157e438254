"""Sequence regression (task ``regress``): a sequence in, a number out: the notes' "동작 점수" (a score for a
video from its frames) or a sentiment score for a text.

Input: what classify reads (a text column, or numeric feature sequences with a sequence-id column; see
:mod:`seqlab.data.labelled`) with a numeric target column (``label``, ``target``, ``score``, ...), or
``builtin:frames`` (per-frame features -> a score). Models: every classifier (rnn, lstm, gru, textcnn,
transformer, bert) with its output layer of width 1 (:mod:`seqlab.models.regression`): the same registry as
classify. Targets are standardised on the training set, the loss is MSE or Huber on the z-scores
(``data.loss``), predictions are mapped back to the original units. Validation keeps the lowest RMSE.
``evaluate``: MAE, RMSE, R², Spearman and a predicted-vs-true scatter plot (:mod:`seqlab.tasks.regress_run`).

Several targets at once: ``--label-col a,b`` (a text table): one output per column, each standardised on its own;
metrics per output and averaged.

Model registry sizes: ``build(cfg, vocab_size=, n_classes=K, pad_id=)`` (classify's registry; K targets).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from ..data.batching import EpochCache, bucket_batches
from ..data.holdout import random_split
from ..data.sources import parse_source
from ..data.tokenizers import KINDS, load_tokenizer
from ..device import pick_device
from ..errors import UserError
from ..models.regression import LOSSES, Standardizer, regression_loss
from ..train.engine import TrainConfig
from .classify import MODELS as CLASSIFY_MODELS
from .classify_io import Encoded, ModelInputs, min_len
from .pretrained import init_from_mlm
from .regress_io import read_scored
from .protocol import Prepared, TaskBase

log = logging.getLogger(__name__)

MODELS = dict(CLASSIFY_MODELS)


@dataclass
class RegressData:
    text_col: str | None = None  # column holding the text (auto: text, sentence, document, review, message)
    label_col: str | None = None  # the numeric target column(s), comma-separated (auto: target, score, label, value, y, rating)
    seq_col: str | None = None  # numeric sequences: the sequence-id column (auto: sequence_id, seq_id)
    tokenizer: str = "auto"  # auto (morpheme for Korean text, word otherwise) | char | word | bpe | wordpiece | morpheme
    vocab_size: int = 30000  # largest vocabulary (bpe/wordpiece: the merges' target size)
    min_freq: int = 1  # drop rarer tokens from char/word/morpheme vocabularies
    lowercase: bool = True  # fold case before word tokenization
    max_len: int = 256  # longest token sequence fed to the model; longer ones are truncated and counted
    valid_fraction: float = 0.1  # held out at random when no --valid is given
    loss: str = "mse"  # mse | huber (on standardised targets)
    huber_delta: float = 1.0  # Huber: quadratic within delta standard deviations, linear beyond
    standardize: bool = True  # train on z-scores of the target (mean/std of the training set), report in its units

    def __post_init__(self):
        if self.tokenizer != "auto" and self.tokenizer not in KINDS:
            raise ValueError(f"tokenizer must be auto or one of {', '.join(KINDS)}; found {self.tokenizer!r}")
        if self.max_len < 1 or self.vocab_size < 8:
            raise ValueError("max_len must be ≥ 1 and vocab_size ≥ 8")
        if not 0 < self.valid_fraction < 0.9:
            raise ValueError(f"valid_fraction must be in (0, 0.9); found {self.valid_fraction}")
        if self.loss not in LOSSES or not self.huber_delta > 0:
            raise ValueError(f"loss must be one of {LOSSES} and huber_delta > 0; found {self.loss!r}, {self.huber_delta}")


class RegressTask(TaskBase):
    name = "regress"
    default_model = "gru"  # the bi-GRU, as for classify
    data_config = RegressData
    models = MODELS

    def default_train(self, model_name: str) -> TrainConfig:
        return TrainConfig(epochs=20, batch_size=64, lr=self.default_lr(model_name, 2e-3),
                           patience=4, metric="rmse", mode="min")

    def prepare(self, comp, req, run) -> Prepared:
        spec = self.models[comp.model_name]
        init = init_from_mlm(req.init, comp.model) if req.init and not req.resume else None
        if init is not None:
            comp.model = init.model_cfg
        data, seed = comp.data, comp.train.seed
        train_src = parse_source(req.data, "--data")
        train_ex, train_y, names = read_scored(train_src, data, "train", seed)
        if req.valid:
            valid_ex, valid_y, _ = read_scored(parse_source(req.valid, "--valid"), data, "valid", seed)
        elif train_src.kind == "builtin":
            valid_ex, valid_y, _ = read_scored(train_src, data, "valid", seed)
        else:
            tr, va = random_split(len(train_y), data.valid_fraction, seed)
            valid_ex, valid_y = train_ex.subset(va, train_ex.origin + " (held out)"), [train_y[i] for i in va]
            train_ex, train_y = train_ex.subset(tr), [train_y[i] for i in tr]
            log.info("no --valid given: held out %d of %d examples at random", len(va), len(tr) + len(va))
        Y = torch.tensor(train_y, dtype=torch.float64)  # (N, K)
        flat = [k for k in range(Y.shape[1]) if float(Y[:, k].max() - Y[:, k].min()) == 0.0]
        if flat:
            raise UserError(f"{train_ex.origin}: every training value of target {names[flat[0]]} is {float(Y[0, flat[0]])}; "
                            "regression needs varying targets")
        std = Standardizer.fit(Y, enabled=data.standardize)
        meta = {"numeric": train_ex.numeric, "features": train_ex.features, "target": std.state(), "targets": names,
                "target_range": [[float(Y[:, k].min()), float(Y[:, k].max())] for k in range(Y.shape[1])]}
        inp = ModelInputs.make(self.models, comp, data, train_ex, valid_ex, run, init, req.init)
        meta.update(inp.meta)
        train_in, valid_in, tok, pad_id = inp.train, inp.valid, inp.tok, inp.pad_id
        tokenizers = {"tokenizer.json": tok} if tok is not None else {}
        train_enc = Encoded(train_in, [0] * len(train_in), train_ex.numeric)
        valid_enc = Encoded(valid_in, [0] * len(valid_in), train_ex.numeric)
        z_train = std.transform(torch.tensor(train_y))  # (N, K)
        z_valid = std.transform(torch.tensor(valid_y))
        meta.update(n_train=len(train_enc), n_valid=len(valid_enc))
        model_cfg, shortest, bs = comp.model, min_len(comp.model), comp.train.batch_size

        def build():
            return inp.build(spec, model_cfg, init, req.resume, meta, len(names))

        def batch(enc, idx, z):
            b = enc.batch(idx, pad_id, shortest)
            b["y"] = z[idx]  # (B, K) float z-scores
            return b

        def train_batches(epoch):
            return [batch(train_enc, i, z_train) for i in bucket_batches(train_enc.lengths, bs, seed, epoch)]

        def loss_fn(m, b):
            return regression_loss(m(b["ids"], b["mask"]), b["y"], data.loss, data.huber_delta), len(b["y"])

        valid_batches = [batch(valid_enc, i, z_valid) for i in bucket_batches(valid_enc.lengths, 256, shuffle=False)]
        device = pick_device(comp.train.device)

        def eval_fn(m):
            from .regress_run import score_batches

            return score_batches(m, valid_batches, std, device, data, names if len(names) > 1 else None)

        has_test = train_src.kind == "builtin"
        return Prepared(build, loss_fn, eval_fn, EpochCache(train_batches), meta, tokenizers,
                        test_source=req.test or (req.data if has_test else None))

    def load_run(self, run, device: str = "auto"):
        from .base import restore_composed
        from .loader import build_and_load, model_spec
        from .regress_run import LoadedRegressor

        cfg = run.read_json("config.json")
        meta = run.read_json("meta.json")
        spec = model_spec(self, run, cfg)
        comp = restore_composed(run, spec.config_cls, RegressData)
        tok = None if meta["numeric"] else load_tokenizer(run.file("tokenizer.json"))
        module = build_and_load(run, spec, comp.model, vocab_size=tok.vocab_size if tok else 1,
                                n_classes=len(meta.get("targets", [0])),
                                pad_id=tok.pad_id if tok else 0)
        return LoadedRegressor(run, module, cfg, meta, comp, tok, device)


TASK = RegressTask()

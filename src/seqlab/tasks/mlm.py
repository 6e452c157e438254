"""Masked language modelling (task ``mlm``): pre-train a BERT encoder; then fine-tune it with classify.

Input: sentences, one per line of a text file, or the text column of a table (CSV/TSV/JSONL), or a
known classification dataset's sentences (``sst2``: its labels are ignored). Each sentence becomes
``[CLS] tokens [SEP]`` with a WordPiece tokenizer fitted on the training sentences. Every batch is
corrupted by :class:`seqlab.data.mlm.MLMCollator` (15% of tokens chosen; 80% [MASK], 10% random,
10% kept), redrawn every epoch; the loss is the cross-entropy at the chosen positions only.

Validation: loss, perplexity and accuracy on the chosen tokens of held-out sentences, with one fixed
masking so evaluations are comparable. Fine-tuning::

    seqlab train mlm --data sst2 --model bert --out runs/mlm
    seqlab train classify --data sst2 --model bert --init runs/mlm --out runs/sst2-bert
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import builtin, datasets
from ..data.batching import bucket_batches, pad
from ..data.mlm import IGNORE_INDEX, MLMCollator, MLMMaskingConfig
from ..data.readers import file_format, pick_column, read_lines, read_table
from ..data.sources import Source, parse_source
from ..data.tokenizers import KINDS, Tokenizer, load_tokenizer, make_tokenizer
from ..device import pick_device
from ..errors import UserError
from ..models.bert import BertClassifier, BertConfig, BertForMaskedLM
from ..run import RunDir
from ..train.engine import TrainConfig, Trainer
from .base import LoadedRun, TrainRequest, compose_or_resume, restore_composed

log = logging.getLogger(__name__)

TEXT_COLS = ("text", "sentence", "document", "review", "message", "content", "body")


def _build_mlm(cfg: BertConfig):
    return BertForMaskedLM(cfg)


MODELS = {"bert": (BertConfig, _build_mlm)}


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


def default_train() -> TrainConfig:
    return TrainConfig(epochs=10, batch_size=64, lr=5e-4, patience=3, metric="loss", mode="min", warmup=0.05)


# ---------------------------------------------------------------- reading and encoding


def read_sentences(src: Source, cfg: MLMData, role: str) -> list[str]:
    """Non-empty sentences: text-file lines, a table's text column, a dataset's or built-in's texts."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed={"train": 0, "valid": 1, "test": 2}[role])
        texts = d.get("texts") or (d["text"].splitlines() if "text" in d else None)
        if texts is None:
            raise UserError(f"builtin:{src.name} has no sentences for task mlm")
    elif src.kind == "dataset":
        ds = datasets.get(src.name)
        if ds.task not in ("classify", "lm"):
            raise UserError(f"dataset {src.name} is for task {ds.task}; mlm reads the sentences of classify or lm datasets")
        split = src.split or ds.splits.get(role) or ds.splits["train"]
        path = datasets.fetch(src.name, split)
        texts = _file_sentences(path, cfg) if ds.task == "classify" else read_lines(path, keep_empty=False)
    else:
        texts = [t for p in src.paths for t in _file_sentences(p, cfg)]
    texts = [t.strip() for t in texts if t and t.strip()]
    if not texts:
        raise UserError(f"{src.text}: holds no sentences; expected one sentence per line (or a text column)")
    return texts


def _file_sentences(path, cfg: MLMData) -> list[str]:
    if file_format(path) == "txt":
        return read_lines(path, keep_empty=False)
    table = read_table(path, wanted=(cfg.text_col or "",))
    return table.column(pick_column(table, cfg.text_col, TEXT_COLS, "text", "--text-col"))


def encode_sentences(tok: Tokenizer, texts: list[str], max_len: int) -> tuple[list[list[int]], int]:
    """``[CLS] ids [SEP]`` per sentence (the tokenizer's cls and eos ids), truncated; also the count truncated."""
    out, truncated = [], 0
    for ids in tok.encode_batch(texts):
        if len(ids) > max_len - 2:
            truncated += 1
            ids = ids[:max_len - 2]
        out.append([tok.cls_id] + ids + [tok.eos_id])
    return out, truncated


def _special_ids(tok: Tokenizer) -> set[int]:
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


# ---------------------------------------------------------------- the task


class MLMTask:
    name = "mlm"
    models = MODELS

    def train(self, req: TrainRequest) -> dict:
        if req.init:
            raise UserError("--init does not apply to task mlm (it starts classify --model bert from an mlm run)")
        comp, run = compose_or_resume(req, MODELS, MLMData, lambda _name: default_train())
        data, tcfg, seed = comp.data, comp.train, comp.train.seed
        src = parse_source(req.data, "--data")
        train_texts = read_sentences(src, data, "train")
        if req.valid:
            valid_texts = read_sentences(parse_source(req.valid, "--valid"), data, "valid")
        else:
            order = list(range(len(train_texts)))
            random.Random(seed).shuffle(order)
            k = max(1, round(len(order) * data.valid_fraction)) if len(order) > 1 else 0
            held = set(order[:k])
            valid_texts = [t for i, t in enumerate(train_texts) if i in held] or train_texts[:1]
            train_texts = [t for i, t in enumerate(train_texts) if i not in held]
        if run is None:
            run = RunDir.create(req.out, overwrite=req.overwrite)
        if req.resume and run.file("tokenizer.json").is_file():
            tok = load_tokenizer(run.file("tokenizer.json"))
        else:
            tok = make_tokenizer(data.tokenizer).fit(train_texts, vocab_size=data.vocab_size, min_freq=data.min_freq)
            tok.save(run.file("tokenizer.json"))
        train_seqs, trunc = encode_sentences(tok, train_texts, data.max_len)
        valid_seqs, _ = encode_sentences(tok, valid_texts, data.max_len)
        if trunc:
            log.warning("truncated %d of %d training sentences to max_len=%d tokens", trunc, len(train_seqs), data.max_len)
        comp.model = dataclasses.replace(comp.model, vocab_size=tok.vocab_size, max_position=data.max_len)
        meta = {"n_train": len(train_seqs), "n_valid": len(valid_seqs), "truncated_train": trunc,
                "tokenizer": data.tokenizer}
        run.write_json("meta.json", meta)
        run.write_json("config.json", comp.to_json(self.name))

        torch.manual_seed(seed)
        model = BertForMaskedLM(comp.model)
        collator = MLMCollator(tok.mask_id, tok.vocab_size, _special_ids(tok), data.masking, seed=seed)
        lengths = [len(s) for s in train_seqs]
        cache: dict = {}

        def train_batches(epoch):
            if cache.get("epoch") != epoch:
                cache.update(epoch=epoch, batches=make_batches(train_seqs, lengths, collator, tok.pad_id,
                                                               tcfg.batch_size, seed, epoch))
            return cache["batches"]

        fixed = MLMCollator(tok.mask_id, tok.vocab_size, _special_ids(tok), data.masking, seed=seed + 1)
        valid_batches = make_batches(valid_seqs, [len(s) for s in valid_seqs], fixed, tok.pad_id, 256, seed, 0,
                                     shuffle=False)
        device = pick_device(tcfg.device)
        trainer = Trainer(model, tcfg, run, mlm_loss, lambda m: evaluate_batches(m, valid_batches, device),
                          train_batches, device, verbose=req.verbose)
        summary = trainer.fit(resume=req.resume)
        run.write_json("summary.json", summary)
        return summary

    def load_run(self, run: RunDir, device: str = "auto") -> "LoadedMLM":
        comp = restore_composed(run, BertConfig, MLMData)
        tok = load_tokenizer(run.file("tokenizer.json")) if run.file("tokenizer.json").is_file() else None
        module = BertForMaskedLM(comp.model)
        module.load_state_dict(run.load_weights("model.safetensors"))
        return LoadedMLM(run, module, run.read_json("config.json"), tok, device)


class LoadedMLM(LoadedRun):
    """A pre-trained BERT: ``fill_mask`` ("the movie was [MASK] .") and the encoder for fine-tuning."""

    task = "mlm"

    def __init__(self, run, module, config, tokenizer, device="auto"):
        super().__init__(run, module, config, device)
        self.tokenizer = tokenizer

    @torch.inference_mode()
    def fill_mask(self, texts: list[str] | str, top_k: int = 5) -> list[dict]:
        """For each text with one or more ``[MASK]``: ``{"text", "masks": [[{"token", "prob"}, ...], ...]}``."""
        tok = self.tokenizer
        if tok is None:
            raise UserError(f"{self.path}: this run has no tokenizer.json, so it cannot read text")
        if isinstance(texts, str):
            texts = [texts]
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

    def predict(self, texts: list[str]) -> list[dict]:
        return self.fill_mask(texts)

    def evaluate(self, src: str, write: bool = False) -> dict:
        """Masked-token loss, perplexity and accuracy on the sentences of ``src`` (one fixed masking)."""
        tok = self.tokenizer
        if tok is None:
            raise UserError(f"{self.path}: this run has no tokenizer.json, so it cannot read text to evaluate")
        data = MLMData(**self.config["data"])
        seqs, _ = encode_sentences(tok, read_sentences(parse_source(src, "--data"), data, "test"),
                                   min(data.max_len, self.module.config.max_position))
        fixed = MLMCollator(tok.mask_id, tok.vocab_size, _special_ids(tok), data.masking, seed=1)
        batches = make_batches(seqs, [len(s) for s in seqs], fixed, tok.pad_id, 256, 0, 0, shuffle=False)
        metrics = evaluate_batches(self.module, batches, self.device)
        if write:
            self.run.write_json("test_metrics.json", metrics)
        return metrics


# ---------------------------------------------------------------- fine-tuning: classify --model bert [--init RUN]


@dataclass
class BertClassifyConfig(BertConfig):
    cls_id: int = 5  # [CLS] id put before every input (seqlab's tokenizers: <cls> = 5; set from --init's tokenizer)
    sep_id: int = 3  # [SEP] id put after every input (seqlab's tokenizers: <eos> = 3; set from --init's tokenizer)


def build_bert_classifier(cfg: BertClassifyConfig, vocab_size: int, n_classes: int, pad_id: int) -> BertClassifier:
    fields = {f.name for f in dataclasses.fields(BertConfig)}
    base = BertConfig(**{k: v for k, v in dataclasses.asdict(cfg).items() if k in fields})
    return BertClassifier(dataclasses.replace(base, vocab_size=vocab_size), n_classes, cls_id=cfg.cls_id,
                          sep_id=cfg.sep_id)


BERT_CLASSIFIER = (BertClassifyConfig, build_bert_classifier)  # an entry for classify's model registry


@dataclass
class InitFromMLM:
    tokenizer: Tokenizer
    model_cfg: BertClassifyConfig
    state: dict


def init_from_mlm(init_dir, model_name: str, model_cfg) -> InitFromMLM:
    """What ``classify --model bert --init RUN`` takes from an mlm run: its tokenizer, its encoder's shape
    (dropout stays as configured for fine-tuning) and its weights. A run of another task is a UserError."""
    if model_name != "bert":
        raise UserError(f"--init starts a BERT classifier from an mlm run; use --model bert (found --model {model_name})")
    run = RunDir.open(init_dir)
    cfg = run.read_json("config.json")
    if cfg.get("task") != "mlm":
        raise UserError(f"--init {init_dir}: a run of task {cfg.get('task')!r} (model {cfg.get('model_name')}); "
                        "expected an mlm run (seqlab train mlm ..., or seqlab import-hf of a BERT checkpoint)")
    if not run.file("tokenizer.json").is_file():
        raise UserError(f"--init {init_dir}: the run has no tokenizer.json; a classifier needs the pre-training tokenizer")
    tok = load_tokenizer(run.file("tokenizer.json"))
    arch = {k: v for k, v in cfg["model"].items() if k not in ("dropout", "attn_dropout")}
    new_cfg = dataclasses.replace(model_cfg, **arch, cls_id=tok.cls_id, sep_id=tok.eos_id)
    return InitFromMLM(tok, new_cfg, run.load_weights("model.safetensors"))


TASK = MLMTask()

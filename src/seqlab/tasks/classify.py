"""Sequence classification (sequence -> vector -> label): sentiment, spam, the notes' "정말 강추 합니다 -> 긍정".

Input: a table with a text column and a label column (CSV, TSV, JSONL, ``.gz``), a built-in
dataset, or ``sst2`` / ``nsmc``; or numeric feature sequences (one row per time step, a sequence-id
column, numeric feature columns), the notes' video-frames example. Output: a run directory whose
``predict`` returns ``{"label", "prob"}`` per input and whose ``evaluate`` returns accuracy,
macro-F1, per-class precision/recall and the confusion matrix.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import builtin, datasets
from ..data.batching import EpochCache, bucket_batches, pad
from ..data.holdout import SPLITS, stratified_split, whole_text_split
from ..data.readers import Table, is_number, pick_column, read_table
from ..data.sources import Source, parse_source
from ..data.tokenizers import KINDS, Tokenizer, load_tokenizer, make_tokenizer
from ..errors import UserError
from ..metrics import classification_report
from ..models.classifier import CLASSIFIERS
from ..run import RunDir
from ..train.engine import TrainConfig, Trainer
from ..device import pick_device
from .mlm import BERT_CLASSIFIER, init_from_mlm
from .base import LoadedRun, TrainRequest, choose_model, compose_or_resume, restore_composed

log = logging.getLogger(__name__)

TEXT_COLS = ("text", "sentence", "document", "review", "message", "content", "body")
LABEL_COLS = ("label", "labels", "class", "target", "sentiment", "category")
SEQ_COLS = ("sequence_id", "seq_id", "sequence", "video_id")
STEP_COLS = ("step", "frame", "time", "t", "timestamp")

MODELS = dict(CLASSIFIERS)  # name -> (config class, build(cfg, vocab_size, n_classes, pad_id))
MODELS["bert"] = BERT_CLASSIFIER  # BERT fine-tuning; --init RUN starts it from an mlm run (tasks/mlm.py)


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

    def __post_init__(self):
        if self.tokenizer != "auto" and self.tokenizer not in KINDS:
            raise ValueError(f"tokenizer must be auto or one of {', '.join(KINDS)}; found {self.tokenizer!r}")
        if self.max_len < 1 or self.vocab_size < 8:
            raise ValueError("max_len must be ≥ 1 and vocab_size ≥ 8")
        if not 0 < self.valid_fraction < 0.9:
            raise ValueError(f"valid_fraction must be in (0, 0.9); found {self.valid_fraction}")
        if self.valid_split not in SPLITS:
            raise ValueError(f"valid_split must be one of {', '.join(SPLITS)}; found {self.valid_split!r}")


def default_train() -> TrainConfig:
    return TrainConfig(epochs=10, batch_size=64, lr=2e-3, patience=3, metric="accuracy", mode="max")


# ---------------------------------------------------------------- reading
@dataclass
class Examples:
    inputs: list  # texts (str) or numeric sequences (list of float lists)
    labels: list[str]
    origin: str  # where they came from, for messages
    numeric: bool = False
    features: list[str] | None = None


def _table_examples(table: Table, cfg: ClassifyData, need_labels: bool = True) -> Examples:
    lowered = [c.lower() for c in table.columns]
    seq_col = cfg.seq_col or next((table.columns[lowered.index(c)] for c in SEQ_COLS if c in lowered), None)
    label_col = None
    if need_labels or cfg.label_col or any(c in lowered for c in LABEL_COLS):
        label_col = pick_column(table, cfg.label_col, LABEL_COLS, "label", "--label-col")
    if seq_col:
        return _numeric_examples(table, seq_col, label_col, cfg)
    if not table.has_header and not cfg.text_col:
        # no header: the text is the column with the longest values, the label the other one
        lens = [sum(len(r[j]) for r in table.rows[:200]) for j in range(len(table.columns))]
        text_col = table.columns[max(range(len(lens)), key=lens.__getitem__)]
    else:
        text_col = pick_column(table, cfg.text_col, TEXT_COLS, "text", "--text-col")
    texts = table.column(text_col)
    labels = table.column(label_col) if label_col else [""] * len(texts)
    return Examples(texts, [s.strip() for s in labels], table.path)


def _numeric_examples(table: Table, seq_col: str, label_col: str | None, cfg: ClassifyData) -> Examples:
    skip = {seq_col, label_col} | {c for c in table.columns if c.lower() in STEP_COLS}
    feats = [c for c in table.columns if c not in skip]
    if not feats:
        raise UserError(f"{table.path}: numeric sequences need feature columns besides {seq_col} and {label_col}; found: {', '.join(table.columns)}")
    idx = {c: table.columns.index(c) for c in feats}
    groups: dict[str, list] = defaultdict(list)
    glabel: dict[str, str] = {}
    for r, ln in zip(table.rows, table.line_of):
        sid = r[table.columns.index(seq_col)]
        try:
            groups[sid].append([float(r[idx[c]]) for c in feats])
        except ValueError:
            bad = next(c for c in feats if not is_number(r[idx[c]]))
            raise UserError(f"{table.path}: line {ln}: column {bad} holds {r[idx[bad]]!r}; numeric sequences need numbers in every feature column") from None
        if label_col:
            lab = r[table.columns.index(label_col)].strip()
            if glabel.setdefault(sid, lab) != lab:
                raise UserError(f"{table.path}: line {ln}: sequence {sid} has labels {glabel[sid]!r} and {lab!r}; one label per sequence")
    ids = list(groups)
    return Examples([groups[s] for s in ids], [glabel.get(s, "") for s in ids], table.path, numeric=True, features=feats)



def read_examples(src: Source, cfg: ClassifyData, role: str, seed: int, need_labels: bool = True) -> Examples:
    """Examples for ``role`` (train, valid, test) from a parsed source."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed=seed + {"train": 0, "valid": 1, "test": 2}[role])
        if "texts" not in d:
            raise UserError(f"builtin:{src.name} is data for task {builtin.BUILTINS[src.name].task}, not classify")
        return Examples(d["texts"], d["labels"], src.text)
    if src.kind == "dataset":
        ds = datasets.get(src.name)
        if ds.task != "classify":
            raise UserError(f"dataset {src.name} is for task {ds.task}, not classify")
        split = src.split or ds.splits.get(role) or ds.splits["test" if role != "train" else "train"]
        if split not in ds.files:
            raise UserError(f"{src.text}: dataset {src.name} has no split {split!r}; splits: {', '.join(ds.files)}")
        table = read_table(datasets.fetch(src.name, split), wanted=(cfg.text_col or "", cfg.label_col or ""))
        return _table_examples(table, cfg, need_labels)
    exs = [_table_examples(read_table(p, wanted=(cfg.text_col or "", cfg.label_col or "")), cfg, need_labels) for p in src.paths]
    if len(exs) == 1:
        return exs[0]
    return Examples(sum((e.inputs for e in exs), []), sum((e.labels for e in exs), []), src.text, exs[0].numeric, exs[0].features)


def _hold_out(ex: Examples, src, data: ClassifyData, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, valid) of ``ex`` when no --valid is given (see :mod:`seqlab.data.holdout`)."""
    if data.valid_split == "whole":
        if ex.numeric:
            raise UserError("--set data.valid_split=whole holds out whole texts; numeric sequences need random (or --valid)")
        tr, va, dropped = whole_text_split(ex.inputs, ex.labels, data.valid_fraction, seed)
        log.info("no --valid given: held out %d whole texts of %d examples, stratified, and left out of training the "
                 "%d examples contained in them (data.valid_split=whole)", len(va), len(ex.labels), dropped)
        return tr, va
    tr, va = stratified_split(ex.labels, data.valid_fraction, seed)
    log.info("no --valid given: held out %d of %d training examples, stratified", len(va), len(tr) + len(va))
    if src.kind == "dataset" and datasets.get(src.name).nested:
        log.info("%s lists the phrases of its sentences as examples: validation accuracy on random phrases, whose "
                 "sentences stay in training, overstates accuracy on new sentences; --set data.valid_split=whole "
                 "holds out whole sentences instead", src.name)
    return tr, va


def _label_order(labels) -> list[str]:
    uniq = set(labels)
    try:
        return sorted(uniq, key=float)
    except ValueError:
        return sorted(uniq)


def _is_korean(texts: list[str]) -> bool:
    sample = "".join(texts[:2000])
    hangul = sum(1 for ch in sample if "\uac00" <= ch <= "\ud7a3")
    letters = sum(1 for ch in sample if ch.isalpha())
    return letters > 0 and hangul / letters > 0.3


# ---------------------------------------------------------------- encoding
class Encoded:
    """Model-ready inputs: id lists (or float step lists) and label indices."""

    def __init__(self, inputs: list, y: list[int], numeric: bool):
        self.inputs, self.y, self.numeric = inputs, y, numeric
        self.lengths = [max(1, len(x)) for x in inputs]

    def __len__(self):
        return len(self.y)

    def batch(self, idx: list[int], pad_id: int, min_len: int) -> dict:
        if self.numeric:
            T = max(min_len, max(self.lengths[i] for i in idx))
            dim = len(self.inputs[idx[0]][0])
            x = torch.zeros(len(idx), T, dim)
            mask = torch.zeros(len(idx), T, dtype=torch.bool)
            for r, i in enumerate(idx):
                seq = torch.tensor(self.inputs[i], dtype=torch.float32)
                x[r, : len(seq)] = seq
                mask[r, : len(seq)] = True
        else:
            x, mask = pad([self.inputs[i] for i in idx], pad_id, min_len)
        return {"ids": x, "mask": mask, "y": torch.tensor([self.y[i] for i in idx], dtype=torch.long)}


def encode_texts(tok: Tokenizer, texts: list[str], max_len: int) -> tuple[list[list[int]], int, int]:
    """Token ids, truncated to ``max_len``; also the number truncated and the number empty."""
    ids = tok.encode_batch(texts)
    truncated = sum(1 for s in ids if len(s) > max_len)
    empty = 0
    out = []
    for s in ids:
        if not s:
            empty += 1
            s = [tok.unk_id]  # an empty text still gets one position so pooling has something to read
        out.append(s[:max_len])
    return out, truncated, empty


class Scaler:
    """Per-feature standardisation for numeric sequences, fitted on training steps only."""

    def __init__(self, mean: list[float], std: list[float]):
        self.mean, self.std = mean, std

    @classmethod
    def fit(cls, seqs: list) -> "Scaler":
        x = torch.tensor([step for s in seqs for step in s], dtype=torch.float64)
        return cls(x.mean(0).tolist(), x.std(0).clamp_min(1e-8).tolist())

    def apply(self, seqs: list) -> list:
        m, s = torch.tensor(self.mean), torch.tensor(self.std)
        return [((torch.tensor(q, dtype=torch.float64) - m) / s).tolist() for q in seqs]


def _min_len(model_cfg) -> int:
    return max(getattr(model_cfg, "widths", (1,)) or (1,))


# ---------------------------------------------------------------- the task
class ClassifyTask:
    name = "classify"
    models = MODELS

    def train(self, req: TrainRequest) -> dict:
        comp, run = compose_or_resume(req, MODELS, ClassifyData, lambda _: default_train())
        init = init_from_mlm(req.init, comp.model_name, comp.model) if req.init and not req.resume else None
        if init is not None:  # the pre-trained encoder's shape and tokenizer
            comp.model = init.model_cfg
        data, tcfg = comp.data, comp.train
        seed = tcfg.seed
        train_src = parse_source(req.data, "--data")
        train_ex = read_examples(train_src, data, "train", seed)
        if len(set(train_ex.labels)) < 2:
            raise UserError(f"{train_ex.origin}: the training data has a single class ({train_ex.labels[0]!r}); classification needs at least two")
        if req.valid:
            valid_ex = read_examples(parse_source(req.valid, "--valid"), data, "valid", seed)
        elif train_src.kind == "builtin":
            valid_ex = read_examples(train_src, data, "valid", seed)
        else:
            tr, va = _hold_out(train_ex, train_src, data, seed)
            valid_ex = Examples([train_ex.inputs[i] for i in va], [train_ex.labels[i] for i in va], train_ex.origin + " (held out)", train_ex.numeric, train_ex.features)
            train_ex = Examples([train_ex.inputs[i] for i in tr], [train_ex.labels[i] for i in tr], train_ex.origin, train_ex.numeric, train_ex.features)
        test_text = req.test or (req.data if train_src.kind == "dataset" and train_src.split is None and "test" in datasets.get(train_src.name).splits else None)
        labels = _label_order(train_ex.labels)
        _check_known_labels(valid_ex, labels)

        if run is None:
            run = RunDir.create(req.out, overwrite=req.overwrite)
        meta = {"labels": labels, "numeric": train_ex.numeric, "features": train_ex.features}
        if train_ex.numeric:
            scaler = Scaler.fit(train_ex.inputs)
            meta["scaler"] = {"mean": scaler.mean, "std": scaler.std}
            train_in, valid_in = scaler.apply(train_ex.inputs), scaler.apply(valid_ex.inputs)
            tok, vocab, pad_id = None, 1, 0
            model_cfg = _with_input_dim(comp.model, len(train_ex.features))
        else:
            kind = data.tokenizer if data.tokenizer != "auto" else ("morpheme" if _is_korean(train_ex.inputs) else "word")
            meta["tokenizer"] = kind
            if (run.file("tokenizer.json")).is_file() and req.resume:
                tok = load_tokenizer(run.file("tokenizer.json"))
            elif init is not None:
                tok = init.tokenizer
                tok.save(run.file("tokenizer.json"))
                meta.update(tokenizer=tok.kind, init=str(req.init))
            else:
                options = {"lowercase": data.lowercase} if kind == "word" else {}
                tok = make_tokenizer(kind, **options).fit(train_ex.inputs, vocab_size=data.vocab_size, min_freq=data.min_freq)
                tok.save(run.file("tokenizer.json"))
            train_in, trunc, empty = encode_texts(tok, train_ex.inputs, data.max_len)
            valid_in, vtrunc, _ = encode_texts(tok, valid_ex.inputs, data.max_len)
            meta.update(truncated_train=trunc, truncated_valid=vtrunc, empty_train=empty)
            if trunc:
                log.warning("truncated %d of %d training texts to max_len=%d tokens (raise it with --set data.max_len=N)", trunc, len(train_in), data.max_len)
            vocab, pad_id = tok.vocab_size, tok.pad_id
            model_cfg = comp.model
        comp.model = model_cfg
        lab_index = {y: i for i, y in enumerate(labels)}
        train_enc = Encoded(train_in, [lab_index[y] for y in train_ex.labels], train_ex.numeric)
        valid_enc = Encoded(valid_in, [lab_index[y] for y in valid_ex.labels], train_ex.numeric)
        meta.update(n_train=len(train_enc), n_valid=len(valid_enc), class_counts=dict(Counter(train_ex.labels)))
        run.write_json("meta.json", meta)
        run.write_json("config.json", comp.to_json(self.name))

        torch.manual_seed(seed)
        _, build = MODELS[comp.model_name]
        model = build(model_cfg, vocab, len(labels), pad_id)
        if tok is not None and hasattr(model, "init_from_vocab") and not req.resume:
            found = model.init_from_vocab(tok.itos)  # textcnn's pretrained vectors (model.vectors), if set
            if found:
                log.info("pretrained word vectors for %d of %d vocabulary entries", found, tok.vocab_size)
        if init is not None:
            model.load_encoder(init.state)
        min_len = _min_len(model_cfg)
        bs = tcfg.batch_size

        def train_batches(epoch):
            return [train_enc.batch(b, pad_id, min_len) for b in bucket_batches(train_enc.lengths, bs, seed, epoch)]

        valid_batches = [valid_enc.batch(b, pad_id, min_len) for b in bucket_batches(valid_enc.lengths, 256, shuffle=False)]
        device = pick_device(tcfg.device)

        def eval_fn(m):
            return evaluate_batches(m, valid_batches, labels, device)["summary"]

        trainer = Trainer(model, tcfg, run, classify_loss, eval_fn, EpochCache(train_batches), device, verbose=req.verbose)
        summary = trainer.fit(resume=req.resume)
        summary.update({k: meta[k] for k in ("truncated_train", "empty_train") if k in meta})
        if test_text:
            loaded = self.load_run(run)
            summary["test"] = loaded.evaluate(test_text, write=True)
        run.write_json("summary.json", summary)
        return summary

    def load_run(self, run: RunDir, device: str = "auto") -> "LoadedClassifier":
        cfg = run.read_json("config.json")
        meta = run.read_json("meta.json")
        cfg_cls, build = choose_model(cfg["model_name"], MODELS, self.name)
        comp = restore_composed(run, cfg_cls, ClassifyData)
        tok = None if meta["numeric"] else load_tokenizer(run.file("tokenizer.json"))
        module = build(comp.model, tok.vocab_size if tok else 1, len(meta["labels"]), tok.pad_id if tok else 0)
        module.load_state_dict(run.load_weights("model.safetensors"))
        return LoadedClassifier(run, module, cfg, meta, comp, tok, device)


def _with_input_dim(model_cfg, dim):
    import dataclasses

    if not hasattr(model_cfg, "input_dim"):
        raise UserError("this model reads token ids only; numeric feature sequences need rnn, lstm, gru, textcnn or transformer")
    return dataclasses.replace(model_cfg, input_dim=dim)


def _check_known_labels(ex: Examples, labels: list[str]) -> None:
    unseen = sorted(set(ex.labels) - set(labels))
    if unseen:
        shown = ", ".join(repr(u) for u in unseen[:5])
        raise UserError(f"{ex.origin}: label(s) {shown} never occur in the training data (training labels: {', '.join(labels)}); "
                        f"a classifier cannot predict a class it never saw")


def classify_loss(model, batch):
    logits = model(batch["ids"], batch["mask"])  # (B, n_classes)
    return F.cross_entropy(logits.float(), batch["y"]), int(batch["mask"].sum())


@torch.inference_mode()
def evaluate_batches(model, batches, labels, device) -> dict:
    """Loss and the classification report over batches; returns {"summary", "report", "pred", "prob"}."""
    total, n, ys, ps = 0.0, 0, [], []
    for b in batches:
        b = {k: v.to(device) for k, v in b.items()}
        logits = model(b["ids"], b["mask"]).float()
        total += F.cross_entropy(logits, b["y"], reduction="sum").item()
        n += len(b["y"])
        ys += b["y"].tolist()
        ps += logits.argmax(-1).tolist()
    rep = classification_report(ys, ps, labels)
    return {"summary": {"accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "loss": total / max(1, n), "n": n}, "report": rep}


class LoadedClassifier(LoadedRun):
    task = "classify"

    def __init__(self, run, module, config, meta, comp, tok, device="auto"):
        super().__init__(run, module, config, device)
        self.meta, self.comp, self.tokenizer = meta, comp, tok
        self.labels: list[str] = meta["labels"]
        self._min_len = _min_len(comp.model)

    def _encode(self, inputs: list) -> Encoded:
        if self.meta["numeric"]:
            sc = self.meta["scaler"]
            return Encoded(Scaler(sc["mean"], sc["std"]).apply(inputs), [0] * len(inputs), True)
        ids, trunc, _ = encode_texts(self.tokenizer, list(inputs), self.comp.data.max_len)
        if trunc:
            log.warning("truncated %d of %d texts to max_len=%d tokens", trunc, len(ids), self.comp.data.max_len)
        return Encoded(ids, [0] * len(ids), False)

    @torch.inference_mode()
    def predict(self, texts: list, batch_size: int = 256) -> list[dict]:
        """``[{"label": str, "prob": float, "probs": {label: prob}}]`` in input order."""
        if isinstance(texts, str):
            texts = [texts]
        enc = self._encode(texts)
        pad_id = self.tokenizer.pad_id if self.tokenizer else 0
        out: list[dict | None] = [None] * len(texts)
        for idx in bucket_batches(enc.lengths, batch_size, shuffle=False):
            b = enc.batch(idx, pad_id, self._min_len)
            probs = F.softmax(self.module(b["ids"].to(self.device), b["mask"].to(self.device)).float(), dim=-1).cpu()
            for row, i in enumerate(idx):
                k = int(probs[row].argmax())
                out[i] = {"label": self.labels[k], "prob": round(float(probs[row, k]), 6),
                          "probs": {lab: round(float(p), 6) for lab, p in zip(self.labels, probs[row])}}
        return out  # type: ignore[return-value]

    def evaluate(self, src: str, write: bool = False) -> dict:
        """Metrics on labelled data ``src`` (a path, builtin:NAME or dataset name; datasets use their test split)."""
        source = parse_source(src, "--data")
        ex = read_examples(source, self.comp.data, "test", self.comp.train.seed)
        _check_known_labels(ex, self.labels)
        if ex.numeric != self.meta["numeric"]:
            raise UserError(f"{ex.origin}: this run was trained on {'numeric sequences' if self.meta['numeric'] else 'text'}; the data holds the other kind")
        enc = self._encode(ex.inputs)
        lab = {y: i for i, y in enumerate(self.labels)}
        enc.y = [lab[y] for y in ex.labels]
        pad_id = self.tokenizer.pad_id if self.tokenizer else 0
        batches = [enc.batch(b, pad_id, self._min_len) for b in bucket_batches(enc.lengths, 256, shuffle=False)]
        res = evaluate_batches(self.module, batches, self.labels, self.device)
        rep = res["report"]
        metrics = {**res["summary"], "per_class": rep["per_class"], "confusion": rep["confusion"], "labels": self.labels}
        if write:
            self.run.write_json("test_metrics.json", metrics)
            from ..plots import confusion_matrix

            confusion_matrix(rep["confusion"], self.labels, self.run.file("confusion.png"))
        return metrics


TASK = ClassifyTask()

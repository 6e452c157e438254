"""Sequence-to-sequence (task ``seq2seq``, alias ``translate``): the notes' "저는 강사 입니다 -> I am an instructor".

Input: source/target pairs from a table (CSV/TSV/JSONL with source and target columns), two
line-aligned files (``--data train.de,train.en``), a built-in set (``builtin:reverse``,
``builtin:dates``, ``builtin:ko-en``) or ``multi30k:de-en``. Each side gets its own tokenizer
(BPE by default). Models: RNN encoder-decoders with or without attention, and the Transformer.

Training minimises token cross-entropy (label smoothing) under teacher forcing; RNN models can
mix in their own predictions with a scheduled teacher-forcing ratio. Validation decodes greedily
and keeps the checkpoint with the best BLEU. ``evaluate`` decodes with beam search (never teacher
forcing) and reports sacreBLEU corpus BLEU and chrF on detokenised text, exact match, loss,
perplexity and BLEU by source-length bucket; ``predict`` translates and can draw the attention.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data import builtin, datasets
from ..data.batching import EpochCache, bucket_batches, pad
from ..data.readers import file_format, pick_column, read_lines, read_table
from ..data.sources import Source, parse_source
from ..data.tokenizers import KINDS, Tokenizer, load_tokenizer, make_tokenizer
from ..device import autocast, pick_device
from ..errors import UserError
from ..models.decoding import beam_search, greedy
from ..models.seq2seq import TF_SCHEDULES, Seq2Seq, Seq2SeqConfig, teacher_forcing_ratio
from ..models.transformer import Transformer, TransformerConfig
from ..run import RunDir
from ..train.engine import TrainConfig, Trainer
from .base import LoadedRun, TrainRequest, choose_model, compose_or_resume, restore_composed

log = logging.getLogger(__name__)

SRC_COLS = ("src", "source", "input", "question")
TGT_COLS = ("tgt", "target", "output", "answer", "translation")
LANG_CODES = ("de", "en", "fr", "ko", "ja", "zh", "es", "it", "cs", "ru", "pt", "nl")  # header names of a two-column pair file
BUCKETS = (10, 20, 30, 40)  # source-length bucket edges in tokens: 1-10, 11-20, 21-30, 31-40, 41+


# ---------------------------------------------------------------- configs and models
@dataclass
class RNNSeq2SeqConfig(Seq2SeqConfig):
    cell: str = "rnn"  # the notes' plain RNN encoder-decoder (h_t = tanh(x_t W_x + h_{t-1} W_h + b))
    attention: str = "none"  # one context vector; --set model.attention=bahdanau|luong adds attention


@dataclass
class LSTMSeq2SeqConfig(Seq2SeqConfig):
    cell: str = "lstm"  # Sutskever et al. 2014: LSTM encoder-decoder
    attention: str = "none"  # the last encoder state is the only link between the two RNNs
    context_feed: bool = False  # ... through the decoder's initial state only


@dataclass
class GRUContextConfig(Seq2SeqConfig):
    cell: str = "gru"  # Cho et al. 2014: GRU encoder-decoder
    attention: str = "none"  # no attention: one context vector ...
    context_feed: bool = True  # ... fed to every decoder step and to the output layer


@dataclass
class LuongSeq2SeqConfig(Seq2SeqConfig):
    cell: str = "lstm"  # Luong et al. 2015 used LSTMs
    attention: str = "luong"  # general (bilinear) scores, input feeding


def _build_rnn(cfg, src_vocab, tgt_vocab, pad_id):
    return Seq2Seq(dataclasses.replace(cfg, src_vocab=src_vocab, tgt_vocab=tgt_vocab, pad_id=pad_id))


def _build_transformer(cfg, src_vocab, tgt_vocab, pad_id):
    return Transformer(dataclasses.replace(cfg, src_vocab=src_vocab, tgt_vocab=tgt_vocab, pad_id=pad_id))


MODELS = {  # name -> (config class, build(cfg, src_vocab, tgt_vocab, pad_id))
    "rnn": (RNNSeq2SeqConfig, _build_rnn),
    "lstm": (LSTMSeq2SeqConfig, _build_rnn),
    "gru": (GRUContextConfig, _build_rnn),
    "bahdanau": (Seq2SeqConfig, _build_rnn),
    "luong": (LuongSeq2SeqConfig, _build_rnn),
    "transformer": (TransformerConfig, _build_transformer),
}


@dataclass
class Seq2SeqData:
    src_col: str | None = None  # source column (auto: src, source, input; or the first of two columns)
    tgt_col: str | None = None  # target column (auto: tgt, target, output; or the second of two columns)
    src_tokenizer: str = "auto"  # auto (bpe; a built-in set's own choice) | char | word | bpe | wordpiece | morpheme
    tgt_tokenizer: str = "auto"  # as src_tokenizer, for the target side
    src_vocab_size: int = 8000  # largest source vocabulary (bpe/wordpiece: merge target)
    tgt_vocab_size: int = 6000  # largest target vocabulary
    shared_vocab: bool = False  # one tokenizer fitted on both sides (needed for model.share_embeddings)
    max_src_len: int = 100  # longest source in tokens: longer training pairs are dropped, inputs truncated
    max_tgt_len: int = 100  # longest target in tokens: longer training pairs are dropped (counted)
    valid_fraction: float = 0.05  # held out when neither --valid nor a dataset split gives validation data
    label_smoothing: float = 0.1  # cross-entropy label smoothing (Szegedy et al. 2016; 0.1 in the Transformer paper)
    teacher_forcing: float = 1.0  # RNN models: probability of feeding the gold previous token (start of schedule)
    tf_schedule: str = "constant"  # constant | linear | inverse_sigmoid decay of the ratio over training
    tf_end: float = 0.5  # the ratio at the end of a linear / inverse_sigmoid schedule
    beam: int = 5  # beam width for evaluate/predict (1 = greedy); validation during training is greedy
    length_penalty: float = 0.6  # GNMT length penalty alpha for beam search (0 = raw log-probability)
    max_len_a: float = 1.5  # decode at most a * source tokens + b target tokens
    max_len_b: int = 10  # ... (and never more than max_tgt_len)
    valid_bleu_max: int = 1000  # validation sentences decoded for BLEU at each evaluation (loss uses all)

    def __post_init__(self):
        for side in ("src_tokenizer", "tgt_tokenizer"):
            v = getattr(self, side)
            if v != "auto" and v not in KINDS:
                raise ValueError(f"{side} must be auto or one of {', '.join(KINDS)}; found {v!r}")
        if min(self.max_src_len, self.max_tgt_len, self.beam, self.valid_bleu_max) < 1:
            raise ValueError("max_src_len, max_tgt_len, beam and valid_bleu_max must be ≥ 1")
        if min(self.src_vocab_size, self.tgt_vocab_size) < 8:
            raise ValueError("src_vocab_size and tgt_vocab_size must be ≥ 8")
        if not 0 < self.valid_fraction < 0.9:
            raise ValueError(f"valid_fraction must be in (0, 0.9); found {self.valid_fraction}")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.teacher_forcing <= 1 or not 0 <= self.tf_end <= 1:
            raise ValueError("label_smoothing must be in [0, 1); teacher_forcing and tf_end in [0, 1]")
        if self.tf_schedule not in TF_SCHEDULES:
            raise ValueError(f"tf_schedule must be one of {', '.join(TF_SCHEDULES)}; found {self.tf_schedule!r}")
        if self.max_len_a < 0 or self.max_len_b < 0:
            raise ValueError("max_len_a and max_len_b must be ≥ 0")


def default_train(model_name: str) -> TrainConfig:
    if model_name == "transformer":  # pre-LN: a short warmup suffices
        return TrainConfig(epochs=20, batch_size=128, lr=1e-3, warmup=0.05, patience=4, metric="bleu", mode="max")
    return TrainConfig(epochs=15, batch_size=128, lr=1e-3, warmup=0.02, patience=4, metric="bleu", mode="max")


# ---------------------------------------------------------------- reading
@dataclass
class Pairs:
    src: list[str]
    tgt: list[str]
    origin: str  # where they came from, for messages
    empty: int = 0  # pairs skipped because one side was empty
    tokenizer_hint: str | None = None  # a built-in set's preferred tokenizer


def _drop_empty(src: list[str], tgt: list[str], origin: str, hint=None) -> Pairs:
    keep = [i for i, (s, t) in enumerate(zip(src, tgt)) if s.strip() and t.strip()]
    empty = len(src) - len(keep)
    if empty:
        log.warning("%s: skipped %d pair(s) with an empty source or target", origin, empty)
    return Pairs([src[i].strip() for i in keep], [tgt[i].strip() for i in keep], origin, empty, hint)


def _aligned_files(a, b) -> tuple[list[str], list[str]]:
    la, lb = read_lines(a), read_lines(b)
    if len(la) != len(lb):
        raise UserError(f"{a} has {len(la):,} lines but {b} has {len(lb):,}; the two files must be line-aligned "
                        f"(line i of one is the translation of line i of the other)")
    return la, lb


def _table_pairs(path, cfg: Seq2SeqData, need_target: bool = True) -> tuple[list[str], list[str]]:
    table = read_table(path, wanted=(cfg.src_col or "", cfg.tgt_col or "", *SRC_COLS, *TGT_COLS, *LANG_CODES))
    low = [c.lower() for c in table.columns]
    named = cfg.src_col or cfg.tgt_col or any(c in low for c in SRC_COLS + TGT_COLS)
    if named:
        s = pick_column(table, cfg.src_col, SRC_COLS, "source", "--src-col")
        t = pick_column(table, cfg.tgt_col, TGT_COLS, "target", "--tgt-col") if need_target or cfg.tgt_col or any(c in low for c in TGT_COLS) else None
    elif len(table.columns) == 2:
        s, t = table.columns
        log.info("%s: reading %s as the source and %s as the target (use --src-col/--tgt-col to choose)", path, s, t)
    elif len(table.columns) == 1 and not need_target:
        s, t = table.columns[0], None
    else:
        raise UserError(f"{path}: expected a source and a target column (src/source, tgt/target, or exactly two columns); "
                        f"found: {', '.join(table.columns)} (use --src-col and --tgt-col)")
    src = table.column(s)
    return src, (table.column(t) if t else [""] * len(src))


def read_pairs(src: Source, cfg: Seq2SeqData, role: str, seed: int, need_target: bool = True) -> Pairs:
    """Source/target pairs for ``role`` (train, valid, test) from a parsed ``--data`` string."""
    if src.kind == "builtin":
        d = builtin.generate(src.name, src.params, seed=seed + {"train": 0, "valid": 1, "test": 2}[role])
        if "src" not in d:
            raise UserError(f"builtin:{src.name} is data for task {builtin.BUILTINS[src.name].task}, not seq2seq")
        return _drop_empty(d["src"], d["tgt"], src.text, d.get("tokenizer"))
    if src.kind == "dataset":
        ds = datasets.get(src.name)
        if ds.task != "seq2seq":
            raise UserError(f"dataset {src.name} is for task {ds.task}, not seq2seq")
        s_lang, t_lang = src.config.split("-")
        split = src.split or ds.splits[role]
        splits = sorted({k.rsplit(".", 1)[0] for k in ds.files})
        if f"{split}.{s_lang}" not in ds.files:
            raise UserError(f"{src.text}: dataset {src.name} has no split {split!r}; splits: {', '.join(splits)}")
        a, b = datasets.fetch(src.name, f"{split}.{s_lang}"), datasets.fetch(src.name, f"{split}.{t_lang}")
        return _drop_empty(*_aligned_files(a, b), src.text)
    paths = src.paths
    if len(paths) == 2 and all(file_format(p) == "txt" and "\t" not in read_lines(p)[0] for p in paths):
        return _drop_empty(*_aligned_files(*paths), src.text)
    if len(paths) == 1 and file_format(paths[0]) == "txt" and not need_target and "\t" not in read_lines(paths[0])[0]:
        lines = read_lines(paths[0])
        return _drop_empty(lines, ["-"] * len(lines), src.text)
    s_all, t_all = [], []
    for p in paths:
        s, t = _table_pairs(p, cfg, need_target)
        s_all += s
        t_all += t
    if not need_target:
        t_all = [t or "-" for t in t_all]
    return _drop_empty(s_all, t_all, src.text)


# ---------------------------------------------------------------- encoding and batches
class Encoded:
    """Token ids of both sides; targets carry <sos>/<eos> at batching time."""

    def __init__(self, src: list[list[int]], tgt: list[list[int]]):
        self.src, self.tgt = src, tgt
        self.lengths = [max(len(s), len(t)) for s, t in zip(src, tgt)]

    def __len__(self):
        return len(self.src)

    def batch(self, idx: list[int], pad_id: int, sos: int, eos: int) -> dict:
        src, src_mask = pad([self.src[i] for i in idx], pad_id)  # (B, S)
        tgt, _ = pad([[sos] + self.tgt[i] + [eos] for i in idx], pad_id)  # (B, T+1)
        return {"src": src, "src_mask": src_mask, "tgt_in": tgt[:, :-1], "tgt_out": tgt[:, 1:]}


def encode_pairs(src_tok, tgt_tok, pairs: Pairs, cfg: Seq2SeqData, drop_long: bool) -> tuple[Encoded, dict]:
    """Encode both sides. Training (``drop_long``) drops pairs over the length limits; evaluation
    truncates sources to max_src_len and targets to max_tgt_len. Returns the counts too."""
    S, T = src_tok.encode_batch(pairs.src), tgt_tok.encode_batch(pairs.tgt)
    long_src = [i for i, s in enumerate(S) if len(s) > cfg.max_src_len]
    long_tgt = [i for i, t in enumerate(T) if len(t) > cfg.max_tgt_len]
    empty = [i for i, s in enumerate(S) if not s]
    stats = {"pairs": len(S), "empty_skipped": pairs.empty}
    if drop_long:
        drop = set(long_src) | set(long_tgt) | set(empty)
        keep = [i for i in range(len(S)) if i not in drop]
        stats["dropped_long"] = len(set(long_src) | set(long_tgt))
        if stats["dropped_long"]:
            log.warning("%s: dropped %d of %d pairs longer than max_src_len=%d / max_tgt_len=%d tokens "
                        "(raise them with --max-src-len / --max-tgt-len)", pairs.origin, stats["dropped_long"],
                        len(S), cfg.max_src_len, cfg.max_tgt_len)
        return Encoded([S[i] for i in keep], [T[i] for i in keep]), stats
    stats["truncated_src"] = len(long_src)
    if long_src:
        log.warning("%s: truncated %d source(s) to max_src_len=%d tokens", pairs.origin, len(long_src), cfg.max_src_len)
    S = [s[: cfg.max_src_len] or [src_tok.unk_id] for s in S]
    return Encoded(S, [t[: cfg.max_tgt_len] for t in T]), stats


class _Progress:
    """Training progress in [0, 1] as the engine measures it: max(step / total, elapsed / time budget)."""

    def __init__(self, total_steps: int, budget_min: float, step: int = 0, elapsed: float = 0.0):
        self.total, self.budget, self.step, self.elapsed, self.t0 = total_steps, budget_min * 60, step, elapsed, None

    def on_step(self, step: int) -> None:
        self.step = step

    def __call__(self) -> float:
        if self.t0 is None:
            self.t0 = time.perf_counter() - self.elapsed
        p = self.step / max(1, self.total)
        if self.budget:
            p = max(p, (time.perf_counter() - self.t0) / self.budget)
        return min(1.0, p)


def _tf_ratio(data: Seq2SeqData, progress: float) -> float:
    """The teacher-forcing ratio at ``progress`` in [0, 1] of training (schedules in models/seq2seq.py)."""
    return teacher_forcing_ratio(data.tf_schedule, round(progress * 1000), 1000, start=data.teacher_forcing, end=data.tf_end)


def seq2seq_loss(model, batch, label_smoothing: float = 0.0, pad_id: int = 0, teacher_forcing: float = 1.0):
    """Mean token cross-entropy over real target tokens; returns (loss, number of target tokens)."""
    if isinstance(model, Seq2Seq):
        logits = model(batch["src"], batch["src_mask"], batch["tgt_in"], teacher_forcing=teacher_forcing)
    else:
        logits = model(batch["src"], batch["src_mask"], batch["tgt_in"])  # (B, T, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), batch["tgt_out"].flatten(), ignore_index=pad_id,
                           label_smoothing=label_smoothing)
    return loss, int((batch["tgt_out"] != pad_id).sum())


# ---------------------------------------------------------------- decoding and metrics
def decode(model, enc: Encoded, tgt_tok, data: Seq2SeqData, device, beam: int = 1, n_best: int = 1,
           batch_size: int = 64, return_attn: bool = False, limit: int | None = None) -> list[list]:
    """Hypotheses (best first) for each source in ``enc`` (first ``limit`` of them), in input order."""
    n = len(enc) if limit is None else min(limit, len(enc))
    order = sorted(range(n), key=lambda i: len(enc.src[i]))
    out: list = [None] * n
    cap = data.max_tgt_len + 1
    if isinstance(model, Transformer):
        cap = min(cap, model.cfg.max_len - 1)
    for k in range(0, n, batch_size):
        idx = order[k : k + batch_size]
        src, mask = pad([enc.src[i] for i in idx], tgt_tok.pad_id)  # (B, S); both sides share the pad id
        src, mask = src.to(device), mask.to(device)
        kw = dict(max_len_a=data.max_len_a, max_len_b=data.max_len_b, max_len_cap=cap, return_attn=return_attn)
        if beam == 1:
            hyps = [[h] for h in greedy(model, src, mask, tgt_tok.sos_id, tgt_tok.eos_id, **kw)]
        else:
            hyps = beam_search(model, src, mask, tgt_tok.sos_id, tgt_tok.eos_id, beam=beam, n_best=n_best,
                               length_penalty=data.length_penalty, **kw)
        for i, h in zip(idx, hyps):
            out[i] = h
    return out


def bleu_chrf(hyps: list[str], refs: list[str]) -> dict:
    import sacrebleu

    if not hyps:
        return {"bleu": 0.0, "bleu_lowercase": 0.0, "chrf": 0.0, "exact_match": 0.0}
    return {"bleu": round(sacrebleu.corpus_bleu(hyps, [refs]).score, 4),
            "bleu_lowercase": round(sacrebleu.corpus_bleu(hyps, [refs], lowercase=True).score, 4),
            "chrf": round(sacrebleu.corpus_chrf(hyps, [refs]).score, 4),
            "exact_match": round(sum(h.strip() == r.strip() for h, r in zip(hyps, refs)) / len(hyps), 6)}


def by_length(hyps: list[str], refs: list[str], src_lens: list[int]) -> list[dict]:
    """BLEU and exact match per source-length bucket (in source tokens)."""
    import sacrebleu

    edges = [0, *BUCKETS, 10**9]
    rows = []
    for lo, hi in zip(edges, edges[1:]):
        sel = [i for i, n in enumerate(src_lens) if lo < n <= hi]
        if not sel:
            continue
        h, r = [hyps[i] for i in sel], [refs[i] for i in sel]
        rows.append({"bucket": f"{lo + 1}-{hi}" if hi < 10**9 else f"{lo + 1}+", "n": len(sel),
                     "bleu": round(sacrebleu.corpus_bleu(h, [r]).score, 2),
                     "exact_match": round(sum(a.strip() == b.strip() for a, b in zip(h, r)) / len(sel), 4)})
    return rows


@torch.inference_mode()
def teacher_forced_loss(model, batches, pad_id, device) -> dict:
    """Token-level NLL (no smoothing, always teacher forced) and perplexity."""
    total, n = 0.0, 0
    for b in batches:
        b = {k: v.to(device) for k, v in b.items()}
        loss, ntok = seq2seq_loss(model, b, 0.0, pad_id, 1.0)
        total += loss.item() * ntok
        n += ntok
    nll = total / max(1, n)
    return {"loss": round(nll, 6), "perplexity": round(math.exp(min(nll, 50)), 4)}


# ---------------------------------------------------------------- the task
def _fit_tokenizer(kind: str, texts: list[str], vocab_size: int) -> Tokenizer:
    tok = make_tokenizer(kind)
    return tok.fit(texts, vocab_size=vocab_size, min_freq=1 if kind != "bpe" else 2)


class Seq2SeqTask:
    name = "seq2seq"
    models = MODELS

    def train(self, req: TrainRequest) -> dict:
        comp, run = compose_or_resume(req, MODELS, Seq2SeqData, default_train)
        data, tcfg, seed = comp.data, comp.train, comp.train.seed
        is_rnn = comp.model_name != "transformer"
        if not is_rnn and (data.teacher_forcing < 1 or data.tf_schedule != "constant"):
            raise UserError("data.teacher_forcing / data.tf_schedule apply to the RNN models; the Transformer "
                            "always trains with teacher forcing")
        if not is_rnn and max(data.max_src_len, data.max_tgt_len + 2) > comp.model.max_len:
            raise UserError(f"max_src_len={data.max_src_len} / max_tgt_len={data.max_tgt_len} exceed the Transformer's "
                            f"max_len={comp.model.max_len} positions (raise model.max_len or lower the limits)")
        if getattr(comp.model, "share_embeddings", False) and not data.shared_vocab:
            raise UserError("model.share_embeddings needs one vocabulary for both sides: add --set data.shared_vocab=true")

        train_src = parse_source(req.data, "--data")
        train_p = read_pairs(train_src, data, "train", seed)
        if req.valid:
            valid_p = read_pairs(parse_source(req.valid, "--valid"), data, "valid", seed)
        elif train_src.kind in ("builtin", "dataset") and train_src.split is None:
            valid_p = read_pairs(train_src, data, "valid", seed)
        else:
            idx = list(range(len(train_p.src)))
            random.Random(seed).shuffle(idx)
            k = max(1, round(len(idx) * data.valid_fraction))
            va, tr = sorted(idx[:k]), sorted(idx[k:])
            valid_p = Pairs([train_p.src[i] for i in va], [train_p.tgt[i] for i in va], train_p.origin + " (held out)")
            train_p = Pairs([train_p.src[i] for i in tr], [train_p.tgt[i] for i in tr], train_p.origin, train_p.empty,
                            train_p.tokenizer_hint)
            log.info("no --valid given: held out %d of %d training pairs", len(va), len(idx))
        if len(train_p.src) < 2:
            raise UserError(f"{train_p.origin}: {len(train_p.src)} usable training pair(s); seq2seq needs more data")
        test_text = req.test or (req.data if train_src.kind == "dataset" and train_src.split is None else None)

        if run is None:
            run = RunDir.create(req.out, overwrite=req.overwrite)
        hint = train_p.tokenizer_hint or "bpe"
        kinds = {"src": data.src_tokenizer if data.src_tokenizer != "auto" else hint,
                 "tgt": data.tgt_tokenizer if data.tgt_tokenizer != "auto" else hint}
        if req.resume and run.file("tokenizer.src.json").is_file():
            src_tok, tgt_tok = load_tokenizer(run.file("tokenizer.src.json")), load_tokenizer(run.file("tokenizer.tgt.json"))
        elif data.shared_vocab:
            src_tok = tgt_tok = _fit_tokenizer(kinds["src"], train_p.src + train_p.tgt, data.src_vocab_size)
        else:
            src_tok = _fit_tokenizer(kinds["src"], train_p.src, data.src_vocab_size)
            tgt_tok = _fit_tokenizer(kinds["tgt"], train_p.tgt, data.tgt_vocab_size)
        src_tok.save(run.file("tokenizer.src.json"))
        tgt_tok.save(run.file("tokenizer.tgt.json"))
        if src_tok.pad_id != tgt_tok.pad_id:
            raise UserError("the source and target tokenizers use different padding ids; use seqlab's own tokenizers")
        pad_id = tgt_tok.pad_id
        train_enc, tstats = encode_pairs(src_tok, tgt_tok, train_p, data, drop_long=True)
        valid_enc, vstats = encode_pairs(src_tok, tgt_tok, valid_p, data, drop_long=False)
        if len(train_enc) == 0:
            raise UserError(f"{train_p.origin}: no training pair is within max_src_len/max_tgt_len; raise --max-src-len/--max-tgt-len")
        meta = {"src_tokenizer": kinds["src"], "tgt_tokenizer": kinds["tgt"], "shared_vocab": data.shared_vocab,
                "src_vocab": src_tok.vocab_size, "tgt_vocab": tgt_tok.vocab_size, "n_train": len(train_enc),
                "n_valid": len(valid_enc), "train": tstats, "valid": vstats}
        run.write_json("meta.json", meta)
        comp.model = dataclasses.replace(comp.model, src_vocab=src_tok.vocab_size, tgt_vocab=tgt_tok.vocab_size, pad_id=pad_id)
        run.write_json("config.json", comp.to_json(self.name))

        torch.manual_seed(seed)
        model = MODELS[comp.model_name][1](comp.model, src_tok.vocab_size, tgt_tok.vocab_size, pad_id)
        sos, eos, bs = tgt_tok.sos_id, tgt_tok.eos_id, tcfg.batch_size

        def train_batches(epoch):
            return [train_enc.batch(b, pad_id, sos, eos) for b in bucket_batches(train_enc.lengths, bs, seed, epoch)]

        cached = EpochCache(train_batches)
        total = tcfg.epochs * len(cached(0))
        total = min(total, tcfg.max_steps) if tcfg.max_steps else total
        state = run.load_state() if req.resume else None
        progress = _Progress(total, tcfg.time_budget, (state or {}).get("step", 0), (state or {}).get("elapsed", 0.0))

        def loss_fn(m, batch):
            tf = _tf_ratio(data, progress()) if is_rnn else 1.0
            return seq2seq_loss(m, batch, data.label_smoothing, pad_id, tf)

        valid_batches = [valid_enc.batch(b, pad_id, sos, eos) for b in bucket_batches(valid_enc.lengths, 128, shuffle=False)]
        device = pick_device(tcfg.device)
        refs = valid_p.tgt[: data.valid_bleu_max]

        def eval_fn(m):
            metrics = teacher_forced_loss(m, valid_batches, pad_id, device)
            hyps = decode(m, valid_enc, tgt_tok, data, device, beam=1, limit=data.valid_bleu_max)
            texts = [tgt_tok.decode(h[0].tokens) for h in hyps]
            metrics.update(bleu_chrf(texts, refs))
            if is_rnn:
                metrics["teacher_forcing"] = round(_tf_ratio(data, progress()), 4)
            return metrics

        trainer = Trainer(model, tcfg, run, loss_fn, eval_fn, cached, device, verbose=req.verbose,
                          on_step=progress.on_step)
        summary = trainer.fit(resume=req.resume)
        summary.update(dropped_long=tstats["dropped_long"], empty_skipped=tstats["empty_skipped"])
        if test_text:
            summary["test"] = self.load_run(run).evaluate(test_text, write=True)
        run.write_json("summary.json", summary)
        return summary

    def load_run(self, run: RunDir, device: str = "auto") -> "LoadedSeq2Seq":
        cfg = run.read_json("config.json")
        meta = run.read_json("meta.json")
        cfg_cls, build = choose_model(cfg["model_name"], MODELS, self.name)
        comp = restore_composed(run, cfg_cls, Seq2SeqData)
        src_tok, tgt_tok = load_tokenizer(run.file("tokenizer.src.json")), load_tokenizer(run.file("tokenizer.tgt.json"))
        module = build(comp.model, src_tok.vocab_size, tgt_tok.vocab_size, tgt_tok.pad_id)
        module.load_state_dict(run.load_weights("model.safetensors"))
        return LoadedSeq2Seq(run, module, cfg, meta, comp, src_tok, tgt_tok, device)


def _inference_precision(run: RunDir, device) -> str:
    """Decode in the precision the run trained in (bf16 where the CPU has bf16 matmuls), else fp32."""
    summary = run.read_json("summary.json") if run.file("summary.json").is_file() else {}
    if summary.get("precision") != "bf16":
        return "fp32"
    if device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return "fp32"
    return "bf16"


class LoadedSeq2Seq(LoadedRun):
    task = "seq2seq"

    def __init__(self, run, module, config, meta, comp, src_tok, tgt_tok, device="auto"):
        super().__init__(run, module, config, device)
        self.meta, self.comp, self.src_tok, self.tgt_tok = meta, comp, src_tok, tgt_tok
        self.data: Seq2SeqData = comp.data
        self.precision = _inference_precision(run, self.device)

    def _autocast(self):
        return autocast(self.device, self.precision)

    def read_inputs(self, data: str) -> list[str]:
        """Sources to translate from a file (one per line, or a table's source column) or builtin:NAME."""
        return read_pairs(parse_source(data, "--data"), self.data, "test", self.comp.train.seed, need_target=False).src

    def _check_beam(self, beam: int, n_best: int):
        if beam < 1 or n_best < 1 or n_best > beam:
            raise UserError(f"--beam must be ≥ 1 and --n-best between 1 and the beam width; found beam={beam}, n_best={n_best}")

    @torch.inference_mode()
    def predict(self, texts, beam: int | None = None, n_best: int = 1, attention=None, batch_size: int = 64) -> list[dict]:
        """``[{"translation", "score", "n_best"?, "truncated"}]`` in input order; ``attention``: a PNG
        path for the first input's attention heatmap (models with attention only)."""
        if isinstance(texts, str):
            texts = [texts]
        beam = beam or self.data.beam
        self._check_beam(beam, n_best)
        if attention and isinstance(self.module, Seq2Seq) and self.module.attn is None:
            raise UserError(f"{self.run.path}: model {self.config['model_name']} has no attention to draw "
                            f"(attention=none); use a bahdanau, luong or transformer run")
        ids = self.src_tok.encode_batch([t.strip() for t in texts])
        truncated = [len(s) > self.data.max_src_len for s in ids]
        if any(truncated):
            log.warning("truncated %d input(s) to the model's max_src_len=%d tokens", sum(truncated), self.data.max_src_len)
        enc = Encoded([s[: self.data.max_src_len] or [self.src_tok.unk_id] for s in ids], [[] for _ in ids])
        with self._autocast():
            hyps = decode(self.module, enc, self.tgt_tok, self.data, self.device, beam=beam, n_best=n_best,
                          batch_size=batch_size, return_attn=bool(attention))
        out = []
        for hs, tr in zip(hyps, truncated):
            rec = {"translation": self.tgt_tok.decode(hs[0].tokens), "score": round(hs[0].score, 4), "truncated": tr}
            if n_best > 1:
                rec["n_best"] = [{"translation": self.tgt_tok.decode(h.tokens), "score": round(h.score, 4)} for h in hs]
            out.append(rec)
        if attention:
            self._draw_attention(enc.src[0], hyps[0][0], attention)
        return out

    def _draw_attention(self, src_ids, hyp, path):
        from ..plots import heatmap

        xs = [self.src_tok.id_to_token(i) for i in src_ids]
        ys = [self.tgt_tok.id_to_token(i) for i in hyp.tokens] + ["<eos>"]
        w = hyp.attn.float().cpu().numpy()[: len(ys), : len(xs)]
        heatmap(w, xs, ys[: len(w)], path, title=f"attention ({self.config['model_name']})")

    def evaluate(self, src: str, write: bool = False, beam: int | None = None, plot=None) -> dict:
        """Metrics on pairs ``src`` (a path, two aligned files, builtin:NAME, or a dataset's test split).

        ``write``: also save test_metrics.json and bleu_by_length.png in the run; ``plot``: a PNG path
        for the BLEU-by-source-length plot."""
        beam = beam or self.data.beam
        self._check_beam(beam, 1)
        pairs = read_pairs(parse_source(src, "--data"), self.data, "test", self.comp.train.seed)
        enc, stats = encode_pairs(self.src_tok, self.tgt_tok, pairs, self.data, drop_long=False)
        pad_id, sos, eos = self.tgt_tok.pad_id, self.tgt_tok.sos_id, self.tgt_tok.eos_id
        batches = [enc.batch(b, pad_id, sos, eos) for b in bucket_batches(enc.lengths, 128, shuffle=False)]
        metrics: dict = {"n": len(enc), "beam": beam, "precision": self.precision}
        with self._autocast():
            metrics.update(teacher_forced_loss(self.module, batches, pad_id, self.device))
        t0 = time.perf_counter()
        with torch.inference_mode(), self._autocast():
            hyps = decode(self.module, enc, self.tgt_tok, self.data, self.device, beam=beam)
        dt = time.perf_counter() - t0
        texts = [self.tgt_tok.decode(h[0].tokens) for h in hyps]
        metrics.update(bleu_chrf(texts, pairs.tgt))
        metrics["sentences_per_s"] = round(len(enc) / max(dt, 1e-9), 2)
        metrics["by_length"] = by_length(texts, pairs.tgt, [len(s) for s in enc.src])
        metrics.update({k: v for k, v in stats.items() if k != "pairs"})
        metrics["examples"] = [{"source": s, "reference": r, "output": h} for s, r, h in list(zip(pairs.src, pairs.tgt, texts))[:5]]
        if write:
            self.run.write_json("test_metrics.json", metrics)
        for path in ([self.run.file("bleu_by_length.png")] if write else []) + ([plot] if plot else []):
            from ..plots import lines

            rows = metrics["by_length"]
            lines([r["bucket"] for r in rows], {"BLEU": [r["bleu"] for r in rows]}, path,
                  "source length (tokens)", "BLEU", f"BLEU by source length (beam {beam})")
        return metrics


TASK = Seq2SeqTask()

"""Sequence-to-sequence (task ``seq2seq``, alias ``translate``): the notes' "저는 강사 입니다 -> I am an instructor".

Input: source/target pairs (see :mod:`seqlab.data.pairs`). Each side gets its own tokenizer (BPE by
default; ``--tokenizer`` sets both, ``data.src_tokenizer``/``data.tgt_tokenizer`` one side). Models: RNN
encoder-decoders with or without attention, and the Transformer.

Training minimises token cross-entropy (label smoothing) under teacher forcing; RNN models can mix in
their own predictions with a scheduled teacher-forcing ratio. Validation decodes greedily and keeps
the checkpoint with the best BLEU. ``evaluate`` decodes with beam search (never teacher forcing) and
reports sacreBLEU corpus BLEU and chrF on detokenised text, exact match, loss, perplexity and BLEU by
source-length bucket; ``predict`` translates and can draw the attention (:mod:`seqlab.tasks.seq2seq_run`).

Model registry sizes: ``build(cfg)``, with ``src_vocab``, ``tgt_vocab`` and ``pad_id`` filled into the config.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

from ..data.batching import EpochCache, bucket_batches
from ..data.holdout import random_split
from ..data.pairs import Pairs, read_pairs
from ..data.sources import parse_source
from ..data.tokenizers import KINDS, Tokenizer, load_tokenizer, make_tokenizer
from ..device import pick_device
from ..errors import UserError
from ..metrics.translation import bleu_chrf
from ..models.seq2seq import TF_SCHEDULES, Seq2Seq, Seq2SeqConfig
from ..models.transformer import Transformer, TransformerConfig
from ..train.engine import TrainConfig
from . import seq2seq_copy
from .protocol import ModelSpec, Prepared, TaskBase
from .seq2seq_io import (bpe_dropout_epochs, decode, encode_pairs, seq2seq_loss, teacher_forced_loss, tf_ratio,
                         trainable)

log = logging.getLogger(__name__)


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


_RNN = frozenset({"teacher_forcing_schedule"})
_ATT = frozenset({"teacher_forcing_schedule", "attention"})
MODELS = {
    "rnn": ModelSpec(RNNSeq2SeqConfig, Seq2Seq, capabilities=_RNN, description="plain RNN encoder-decoder"),
    "lstm": ModelSpec(LSTMSeq2SeqConfig, Seq2Seq, capabilities=_RNN, description="Sutskever et al. 2014"),
    "gru": ModelSpec(GRUContextConfig, Seq2Seq, capabilities=_RNN, description="Cho et al. 2014"),
    "bahdanau": ModelSpec(Seq2SeqConfig, Seq2Seq, capabilities=_ATT, description="additive attention"),
    "luong": ModelSpec(LuongSeq2SeqConfig, Seq2Seq, capabilities=_ATT, description="multiplicative attention"),
    "transformer": ModelSpec(TransformerConfig, Transformer, capabilities=frozenset({"attention"}),
                             description="Vaswani et al. 2017"),
}


def has_attention(spec: ModelSpec, model_cfg) -> bool:
    """Whether the model attends over the source: by registry name, or an RNN given model.attention."""
    return spec.has("attention") or getattr(model_cfg, "attention", "none") != "none"


@dataclass
class Seq2SeqData:
    src_col: str | None = None  # source column (auto: src, source, input; or the first of two columns)
    tgt_col: str | None = None  # target column (auto: tgt, target, output; or the second of two columns)
    tokenizer: str = "auto"  # both sides: auto (bpe; a built-in set's own choice) | char | word | bpe | wordpiece | morpheme
    src_tokenizer: str = "auto"  # the source side (auto = as tokenizer)
    tgt_tokenizer: str = "auto"  # the target side (auto = as tokenizer)
    src_vocab_size: int = 8000  # largest source vocabulary (bpe/wordpiece: merge target)
    tgt_vocab_size: int = 6000  # largest target vocabulary
    shared_vocab: bool = False  # one tokenizer fitted on both sides (needed for model.share_embeddings)
    copy_source: str = "auto"  # auto | on | off: targets built from their source's words (summaries): one joint
    # vocabulary, shared embeddings, the Transformer's copy head, and trigram blocking where targets are under half
    # the source's length; auto = on when ≥ 50% of the target words occur in their source (seq2seq_copy.py)
    max_src_len: int = 0  # longest source in tokens: longer training pairs are dropped, inputs truncated; 0 = auto:
                          # 99% of the training sources fit (at least 100, at most the model's positions)
    max_tgt_len: int = 0  # longest target in tokens: longer training pairs are dropped (counted); 0 = auto, as above
    max_batch_tokens: int = 12800  # a training batch also stops at this many padded tokens (rows x longest pair):
    # 128 pairs of up to 100 tokens, the default batch before long documents; 0 = --batch-size alone
    valid_fraction: float = 0.05  # held out when neither --valid nor a dataset split gives validation data
    label_smoothing: float = 0.1  # cross-entropy label smoothing (Szegedy et al. 2016; 0.1 in the Transformer paper)
    teacher_forcing: float = 1.0  # RNN models: probability of feeding the gold previous token (start of schedule)
    tf_schedule: str = "constant"  # constant | linear | inverse_sigmoid decay of the ratio over training
    tf_end: float = 0.5  # the ratio at the end of a linear / inverse_sigmoid schedule
    beam: int = 5  # beam width for evaluate/predict (1 = greedy); validation during training is greedy
    length_penalty: float = 1.8  # GNMT length penalty alpha for beam search (0 = raw log-probability); 1.8 was best
    # on validation for two Multi30k Transformers and ~2 for SAMSum (GNMT's 0.6 was below greedy; RESULTS #18)
    max_len_a: float = 1.5  # decode at most a * source tokens + b target tokens
    max_len_b: int = 10  # ... (and never more than max_tgt_len)
    no_repeat_ngram: int = 0  # forbid any n-gram of this size twice in one output (0 = off; 3 suits summaries)
    bpe_dropout: float = 0.0  # BPE-dropout (Provilkov et al. 2020): training text re-segmented each epoch with each
    # merge skipped at this rate (0.1 in the paper; bpe tokenizers on both sides; seeded; inference unchanged)
    valid_bleu_max: int = 1000  # validation sentences decoded for BLEU at each evaluation (loss uses all)

    def __post_init__(self):
        for side in ("tokenizer", "src_tokenizer", "tgt_tokenizer"):
            v = getattr(self, side)
            if v != "auto" and v not in KINDS:
                raise ValueError(f"{side} must be auto or one of {', '.join(KINDS)}; found {v!r}")
        if min(self.beam, self.valid_bleu_max) < 1 or min(self.max_src_len, self.max_tgt_len, self.max_batch_tokens) < 0:
            raise ValueError("beam and valid_bleu_max must be ≥ 1, max_src_len and max_tgt_len ≥ 1 (or 0 = auto), "
                             "max_batch_tokens ≥ 0")
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
        if self.no_repeat_ngram < 0:
            raise ValueError(f"no_repeat_ngram must be ≥ 0 (0 = off); found {self.no_repeat_ngram}")
        if not 0 <= self.bpe_dropout < 1:
            raise ValueError(f"bpe_dropout must be in [0, 1) (0 = off; 0.1 is the paper's); found {self.bpe_dropout}")
        if self.copy_source not in ("auto", "on", "off"):
            raise ValueError(f"copy_source must be auto, on or off; found {self.copy_source!r}")


AUTO_LEN_FLOOR = 100  # an auto length limit is never below this (the limit before auto): short data loses nothing
AUTO_LEN_QUANTILE = 0.99  # ... and otherwise lets this share of the training pairs through


def auto_length(lengths: list[int], cap: int) -> int:
    """The auto limit for one side: the 99th percentile of ``lengths`` rounded up to a multiple of 8, at least
    :data:`AUTO_LEN_FLOOR`, at most ``cap`` (the model's positions). Long-document data (SAMSum's dialogues: half
    are over 100 tokens) keeps 99% of its pairs instead of losing every pair over a fixed 100."""
    if not lengths:
        return min(AUTO_LEN_FLOOR, cap)
    ordered = sorted(lengths)
    q = ordered[min(len(ordered) - 1, math.ceil(AUTO_LEN_QUANTILE * len(ordered)) - 1)]
    return max(1, min(cap, max(AUTO_LEN_FLOOR, -(-q // 8) * 8)))


def _resolve_lengths(data, model_cfg, src_ids: list, tgt_ids: list) -> "Seq2SeqData":
    """``data`` with max_src_len / max_tgt_len = 0 (auto) replaced by the limits :func:`auto_length` gives for
    the training pairs' token ids."""
    if data.max_src_len and data.max_tgt_len:
        return data
    positions = getattr(model_cfg, "max_len", None) or 512
    src = data.max_src_len or auto_length([len(x) for x in src_ids], positions)
    tgt = data.max_tgt_len or auto_length([len(x) for x in tgt_ids], positions - 2)
    log.info("length limits (auto: %d%% of the training pairs, at least %d): max_src_len=%d, max_tgt_len=%d",
             round(AUTO_LEN_QUANTILE * 100), AUTO_LEN_FLOOR, src, tgt)
    return dataclasses.replace(data, max_src_len=src, max_tgt_len=tgt)


def _fit_tokenizer(kind: str, texts: list[str], vocab_size: int) -> Tokenizer:
    tok = make_tokenizer(kind)
    return tok.fit(texts, vocab_size=vocab_size, min_freq=1 if kind != "bpe" else 2)


class Seq2SeqTask(TaskBase):
    name = "seq2seq"
    default_model = "transformer"  # the Transformer: the best BLEU on Multi30k (RESULTS #3)
    data_config = Seq2SeqData
    models = MODELS

    def default_train(self, model_name: str) -> TrainConfig:
        if not MODELS[model_name].has("teacher_forcing_schedule"):  # the Transformer (pre-LN): a short warmup suffices
            return TrainConfig(epochs=20, batch_size=128, lr=1e-3, warmup=0.05, patience=4, metric="bleu", mode="max")
        return TrainConfig(epochs=15, batch_size=128, lr=1e-3, warmup=0.02, patience=4, metric="bleu", mode="max")

    def _check(self, comp, spec) -> None:
        data = comp.data
        if not spec.has("teacher_forcing_schedule") and (data.teacher_forcing < 1 or data.tf_schedule != "constant"):
            raise UserError(f"data.teacher_forcing / data.tf_schedule apply to the RNN models; --model {comp.model_name} "
                            "always trains with teacher forcing")
        positions = getattr(comp.model, "max_len", None)
        if positions and max(data.max_src_len, data.max_tgt_len + 2) > positions:
            raise UserError(f"max_src_len={data.max_src_len} / max_tgt_len={data.max_tgt_len} exceed the model's "
                            f"max_len={positions} positions (raise model.max_len or lower the limits)")
        if getattr(comp.model, "copy", False) and not data.shared_vocab:
            raise UserError("model.copy copies source tokens into the output, so both sides need one vocabulary: add "
                            "--set data.shared_vocab=true")
        if getattr(comp.model, "share_embeddings", False) and not data.shared_vocab:
            raise UserError("model.share_embeddings needs one vocabulary for both sides: add --set data.shared_vocab=true")

    def prepare(self, comp, req, run) -> Prepared:
        spec = self.models[comp.model_name]
        data, tcfg, seed = comp.data, comp.train, comp.train.seed
        train_src = parse_source(req.data, "--data")
        train_p = read_pairs(train_src, data, "train", seed)
        if req.valid:
            valid_p = read_pairs(parse_source(req.valid, "--valid"), data, "valid", seed)
        elif train_src.kind in ("builtin", "dataset") and train_src.split is None:
            valid_p = read_pairs(train_src, data, "valid", seed)
        else:
            tr, va = random_split(len(train_p.src), data.valid_fraction, seed)
            valid_p = Pairs([train_p.src[i] for i in va], [train_p.tgt[i] for i in va], train_p.origin + " (held out)")
            train_p = Pairs([train_p.src[i] for i in tr], [train_p.tgt[i] for i in tr], train_p.origin, train_p.empty,
                            train_p.tokenizer_hint)
            log.info("no --valid given: held out %d of %d training pairs", len(va), len(tr) + len(va))
        if len(train_p.src) < 2:
            raise UserError(f"{train_p.origin}: {len(train_p.src)} usable training pair(s); seq2seq needs more data")
        copy_profile = None if run is not None else seq2seq_copy.resolve(comp, req, train_p.src, train_p.tgt)
        data = comp.data  # a resumed run keeps its saved settings
        self._check(comp, spec)
        test_text = req.test or (req.data if train_src.kind == "dataset" and train_src.split is None else None)

        both = data.tokenizer if data.tokenizer != "auto" else (train_p.tokenizer_hint or "bpe")
        kinds = {"src": data.src_tokenizer if data.src_tokenizer != "auto" else both,
                 "tgt": data.tgt_tokenizer if data.tgt_tokenizer != "auto" else both}
        if run is not None and run.file("tokenizer.src.json").is_file():  # resuming: the run's own tokenizers
            src_tok, tgt_tok = load_tokenizer(run.file("tokenizer.src.json")), load_tokenizer(run.file("tokenizer.tgt.json"))
        elif data.shared_vocab:
            src_tok = tgt_tok = _fit_tokenizer(kinds["src"], train_p.src + train_p.tgt, data.src_vocab_size)
        else:
            src_tok = _fit_tokenizer(kinds["src"], train_p.src, data.src_vocab_size)
            tgt_tok = _fit_tokenizer(kinds["tgt"], train_p.tgt, data.tgt_vocab_size)
        if data.bpe_dropout and not all(getattr(t, "kind", None) == "bpe" for t in (src_tok, tgt_tok)):
            raise UserError(f"data.bpe_dropout re-segments BPE tokens; this run's tokenizers are {kinds['src']} (source) "
                            f"and {kinds['tgt']} (target): use --tokenizer bpe or drop data.bpe_dropout")
        if src_tok.pad_id != tgt_tok.pad_id:
            raise UserError("the source and target tokenizers use different padding ids; use seqlab's own tokenizers")
        pad_id = tgt_tok.pad_id
        train_ids = src_tok.encode_batch(train_p.src), tgt_tok.encode_batch(train_p.tgt)
        data = comp.data = _resolve_lengths(data, comp.model, *train_ids)
        self._check(comp, spec)
        train_enc, tstats = encode_pairs(src_tok, tgt_tok, train_p, data, drop_long=True, encoded=train_ids)
        valid_enc, vstats = encode_pairs(src_tok, tgt_tok, valid_p, data, drop_long=False)
        if len(train_enc) == 0:
            raise UserError(f"{train_p.origin}: no training pair is within max_src_len/max_tgt_len; raise "
                            "--max-src-len/--max-tgt-len")
        meta = {"src_tokenizer": kinds["src"], "tgt_tokenizer": kinds["tgt"], "shared_vocab": data.shared_vocab,
                "src_vocab": src_tok.vocab_size, "tgt_vocab": tgt_tok.vocab_size, "n_train": len(train_enc),
                "n_valid": len(valid_enc), "train": tstats, "valid": vstats, "copy_profile": copy_profile}
        comp.model = dataclasses.replace(comp.model, src_vocab=src_tok.vocab_size, tgt_vocab=tgt_tok.vocab_size,
                                         pad_id=pad_id)
        model_cfg, sos, eos, bs = comp.model, tgt_tok.sos_id, tgt_tok.eos_id, tcfg.batch_size
        epoch_enc = (bpe_dropout_epochs(src_tok, tgt_tok, train_p, trainable(*train_ids, data), train_enc, data, seed)
                     if data.bpe_dropout else lambda epoch: train_enc)

        def train_batches(epoch):
            enc = epoch_enc(epoch)
            return [enc.batch(b, pad_id, sos, eos)
                    for b in bucket_batches(enc.lengths, bs, seed, epoch, max_tokens=data.max_batch_tokens)]

        scheduled = spec.has("teacher_forcing_schedule")
        progress = {"p": 0.0}  # told by the engine before each step

        def on_progress(p: float) -> None:
            progress["p"] = p

        def loss_fn(m, batch):
            tf = tf_ratio(data, progress["p"]) if scheduled else None
            return seq2seq_loss(m, batch, data.label_smoothing, pad_id, tf)

        valid_batches = [valid_enc.batch(b, pad_id, sos, eos)  # capped as the training batches: long documents
                         for b in bucket_batches(valid_enc.lengths, 128, shuffle=False, max_tokens=data.max_batch_tokens)]
        device = pick_device(tcfg.device)
        refs = valid_p.tgt[: data.valid_bleu_max]

        def eval_fn(m):
            metrics = teacher_forced_loss(m, valid_batches, pad_id, device)
            hyps = decode(m, valid_enc, tgt_tok, data, device, beam=1, limit=data.valid_bleu_max)
            metrics.update(bleu_chrf([tgt_tok.decode(h[0].tokens) for h in hyps], refs))
            if scheduled:
                metrics["teacher_forcing"] = round(tf_ratio(data, progress["p"]), 4)
            return metrics

        return Prepared(lambda: spec.build(model_cfg), loss_fn, eval_fn, EpochCache(train_batches), meta,
                        {"tokenizer.src.json": src_tok, "tokenizer.tgt.json": tgt_tok}, test_source=test_text,
                        on_progress=on_progress, mean_over="count",
                        summary_extra={"dropped_long": tstats["dropped_long"], "empty_skipped": tstats["empty_skipped"]})

    def load_run(self, run, device: str = "auto"):
        from .base import restore_composed
        from .loader import build_and_load, model_spec
        from .seq2seq_run import LoadedSeq2Seq

        cfg = run.read_json("config.json")
        meta = run.read_json("meta.json")
        spec = model_spec(self, run, cfg)
        comp = restore_composed(run, spec.config_cls, Seq2SeqData)
        src_tok, tgt_tok = load_tokenizer(run.file("tokenizer.src.json")), load_tokenizer(run.file("tokenizer.tgt.json"))
        module = build_and_load(run, spec, comp.model)
        return LoadedSeq2Seq(run, module, cfg, meta, comp, src_tok, tgt_tok, device,
                             attention=has_attention(spec, comp.model))


TASK = Seq2SeqTask()

"""Word embeddings (task ``embed``): the notes' step from one-hot vectors to Word2Vec.

``seqlab train embed --data TEXT --model cbow|skipgram --out RUN`` tokenizes the text (any tokenizer:
``word`` by default, ``morpheme`` for Korean, so Korean vectors are per morpheme), builds the vocabulary
(``model.min_count``), trains with negative sampling and subsampling (:mod:`seqlab.models.word2vec`) and
writes ``RUN/vectors.txt`` in word2vec text format, readable by gensim and by ``--set model.vectors=RUN``
of the classifiers. The engine flags apply as usual: ``--epochs``, ``--lr`` (the starting SGD rate,
0.025 by default), ``--batch-size`` (pairs per update), ``--seed``.

Evaluation (``seqlab evaluate RUN --data FILE``): an analogy file in the Google format (``: section``
lines, then ``a b c d``) gives 3CosAdd accuracy; a ``word1 word2 score`` file gives Spearman's rho;
``builtin:analogies`` uses its own planted questions. ``seqlab similar RUN WORD`` lists neighbours and
``seqlab similar RUN a:b::c`` answers an analogy (:mod:`seqlab.tasks.embed_run`).

Model registry sizes: ``build(cfg, vocab_size)``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ..data.corpus import read_corpus
from ..data.sources import parse_source
from ..data.tokenizers import KINDS, load_tokenizer, make_tokenizer
from ..errors import UserError
from ..models.word2vec import ARCHS, Vocab, Word2Vec, Word2VecConfig, Word2VecModule, build_vocab, save_word2vec
from ..train.engine import TrainConfig
from .protocol import ModelSpec, Prepared, TaskBase

log = logging.getLogger(__name__)


@dataclass
class EmbedModelConfig:
    arch: str = "cbow"  # cbow | skipgram (set by --model)
    dim: int = 100  # vector width D
    window: int = 5  # largest centre-context distance (each centre draws its window from 1..window)
    negative: int = 5  # noise words per true pair (negative sampling)
    ns_exponent: float = 0.75  # noise distribution count^ns_exponent
    sample: float = 1e-3  # subsampling threshold of frequent words (0 = off)
    min_count: int = 5  # rarer words get no vector
    max_vocab: int = 0  # keep only the most frequent words (0 = all)

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}; got {self.arch!r}")
        if min(self.dim, self.window, self.negative, self.min_count) < 1 or self.max_vocab < 0 or self.sample < 0:
            raise ValueError("dim, window, negative and min_count must be >= 1; max_vocab and sample >= 0")


def build_embed(cfg: EmbedModelConfig, vocab_size: int) -> Word2VecModule:
    return Word2VecModule(vocab_size, cfg.dim)


MODELS = {
    "cbow": ModelSpec(EmbedModelConfig, build_embed, presets={"arch": "cbow"},
                      description="continuous bag of words: the context's mean predicts the centre"),
    "skipgram": ModelSpec(EmbedModelConfig, build_embed, presets={"arch": "skipgram"},
                          description="skip-gram: the centre predicts each context word"),
}


@dataclass
class EmbedData:
    text_col: str | None = None  # text column of a table (auto: text, sentence, document, review, ...)
    tokenizer: str = "auto"  # auto (morpheme for Korean text, word otherwise) | word | char | morpheme | bpe | wordpiece
    lowercase: bool = True  # fold case before word tokenization
    vocab_size: int = 30000  # bpe/wordpiece only: the subword vocabulary to fit
    analogies: str = ""  # analogy questions scored at the end of training (Google format; builtin:analogies has its own)
    similarity: str = ""  # word-pair similarity file (word1 word2 score) scored at the end of training

    def __post_init__(self):
        if self.tokenizer != "auto" and self.tokenizer not in KINDS:
            raise ValueError(f"tokenizer must be auto or one of {', '.join(KINDS)}; found {self.tokenizer!r}")


def _is_korean(texts: list[str]) -> bool:
    sample = "".join(texts[:2000])
    hangul = sum(1 for ch in sample if "\uac00" <= ch <= "\ud7a3")
    letters = sum(1 for ch in sample if ch.isalpha())
    return letters > 0 and hangul / letters > 0.3


def _make_tokenizer(kind: str, lines: list[str], data: EmbedData):
    tok = make_tokenizer(kind, lowercase=data.lowercase) if kind == "word" else make_tokenizer(kind)
    if kind in ("bpe", "wordpiece"):
        tok.fit(lines, vocab_size=data.vocab_size)
    return tok


class EmbedTask(TaskBase):
    name = "embed"
    default_model = "skipgram"  # skip-gram: better similarity than CBOW at equal analogies (RESULTS #17)
    data_config = EmbedData
    models = MODELS

    def default_train(self, model_name: str) -> TrainConfig:
        # word2vec's own defaults: 5 epochs, SGD from 0.025 decaying linearly; the engine is not used
        return TrainConfig(epochs=5, batch_size=1024, lr=0.025, warmup=0.0, schedule="linear", min_lr_ratio=1e-4,
                           patience=0, metric="loss", mode="min")

    def prepare(self, comp, req, run) -> Prepared:
        data, tcfg = comp.data, comp.train
        src = parse_source(req.data, "--data")
        lines = read_corpus(src, data.text_col, tcfg.seed)
        kind = data.tokenizer if data.tokenizer != "auto" else ("morpheme" if _is_korean(lines) else "word")
        if run is not None and run.file("tokenizer.json").is_file():
            tok = load_tokenizer(run.file("tokenizer.json"))
        else:
            tok = _make_tokenizer(kind, lines, data)
        t0 = time.perf_counter()
        sentences = tok.tokenize_batch(lines)
        log.info("tokenized %d lines (%s) in %.1f s", len(lines), kind, time.perf_counter() - t0)
        m = comp.model
        vocab = build_vocab(sentences, m.min_count, m.max_vocab)
        if len(vocab.words) < 2:
            raise UserError(f"{src.text}: {len(vocab.words)} word(s) occur at least min_count={m.min_count} times; "
                            "give more text or lower --set model.min_count")
        n_tokens = sum(len(s) for s in sentences)
        meta = {"tokenizer": kind, "lines": len(lines), "tokens": n_tokens, "vocab": len(vocab.words),
                "coverage": sum(vocab.counts) / max(1, n_tokens)}
        w2v_cfg = Word2VecConfig(arch=m.arch, dim=m.dim, window=m.window, negative=m.negative, ns_exponent=m.ns_exponent,
                                 sample=m.sample, min_count=m.min_count, max_vocab=m.max_vocab, epochs=tcfg.epochs,
                                 lr=tcfg.lr, min_lr_ratio=tcfg.min_lr_ratio, batch_size=tcfg.batch_size, seed=tcfg.seed)
        test_source = data.analogies or data.similarity or (req.data if src.kind == "builtin" and src.name == "analogies" else None)

        def fit(module, run_dir):
            w2v = Word2Vec(w2v_cfg).bind(module)

            def on_epoch(epoch, stats):
                log.info("epoch %d/%d: loss %.4f, %d pairs so far", epoch + 1, tcfg.epochs, stats["loss"], stats["pairs"])
                run_dir.append_jsonl("metrics.jsonl", {"epoch": epoch + 1, "loss": stats["loss"]})

            stats = w2v.train(sentences, vocab=vocab, on_epoch=on_epoch)
            run_dir.save_weights("model.safetensors", module.state_dict())
            run_dir.write_json("vocab.json", {"words": vocab.words, "counts": vocab.counts})
            save_word2vec(run_dir.file("vectors.txt"), vocab.words, module.in_vectors.weight.data)
            return {"stop_reason": "epochs", "steps": stats["updates"], "pairs": stats["pairs"], "epochs_done": tcfg.epochs,
                    "wall_s": stats["seconds"], "tokens_per_s": stats["words_per_s"], "words_per_s": stats["words_per_s"],
                    "precision": "fp32", "best_loss": stats["loss"], "best_step": stats["updates"], "vocab": stats["vocab"]}

        return Prepared(lambda: build_embed(m, len(vocab.words)), None, None, None, meta, {"tokenizer.json": tok},
                        test_source=test_source, fit=fit,
                        summary_extra={"tokens": n_tokens, "coverage": round(meta["coverage"], 4)})

    def load_run(self, run, device: str = "auto"):
        from .base import restore_composed
        from .embed_run import LoadedEmbedding
        from .loader import build_and_load, model_spec

        cfg = run.read_json("config.json")
        spec = model_spec(self, run, cfg)
        comp = restore_composed(run, spec.config_cls, EmbedData)
        vocab = run.read_json("vocab.json")
        module = build_and_load(run, spec, comp.model, vocab_size=len(vocab["words"]))
        tok = load_tokenizer(run.file("tokenizer.json"))
        return LoadedEmbedding(run, module, cfg, run.read_json("meta.json"), Vocab(vocab["words"], vocab["counts"]), tok,
                               device)


TASK = EmbedTask()

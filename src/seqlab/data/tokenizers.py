"""Tokenizers: text -> ids and back, one interface for every kind.

=========  ===================================================================================
kind       what a token is
=========  ===================================================================================
char       one Unicode character (the notes' HELL -> ELLO)
word       a run of letters/digits, or one punctuation mark
bpe        a byte-pair-encoding subword, trained with Hugging Face ``tokenizers`` (lossless decode)
wordpiece  a WordPiece subword (BERT's), trained with Hugging Face ``tokenizers``
morpheme   a Korean morpheme with its part-of-speech tag from ``kiwipiepy`` (``먹/VV``); the
           notes' natural unit for Korean. Decoding re-joins morphemes with Kiwi's own joiner.
hf         a ``tokenizer.json`` imported from a Hugging Face checkpoint
=========  ===================================================================================

seqlab's own tokenizers reserve ids 0..5 for ``<pad> <unk> <sos> <eos> <mask> <cls>``; code reads
them from the tokenizer (``tok.pad_id``) because imported tokenizers use other ids.
A tokenizer is saved as one JSON file and reloaded with :func:`load_tokenizer`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from ..errors import UserError

SPECIALS = ["<pad>", "<unk>", "<sos>", "<eos>", "<mask>", "<cls>"]
KINDS = ("char", "word", "bpe", "wordpiece", "morpheme")


class Tokenizer:
    """Base class. Subclasses implement ``tokenize``, ``_ids``/``_tokens_to_text`` and ``fit``."""

    kind = "base"

    def __init__(self):
        self.itos: list[str] = list(SPECIALS)
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    # ---- special ids (overridden by imported tokenizers) ----
    @property
    def pad_id(self) -> int:
        return self.stoi["<pad>"]

    @property
    def unk_id(self) -> int:
        return self.stoi["<unk>"]

    @property
    def sos_id(self) -> int:
        return self.stoi["<sos>"]

    @property
    def eos_id(self) -> int:
        return self.stoi["<eos>"]

    @property
    def mask_id(self) -> int:
        return self.stoi["<mask>"]

    @property
    def cls_id(self) -> int:
        return self.stoi["<cls>"]

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def special_ids(self) -> set[int]:
        return {self.pad_id, self.unk_id, self.sos_id, self.eos_id, self.mask_id, self.cls_id}

    # ---- the interface ----
    def fit(self, texts: Iterable[str], vocab_size: int = 30000, min_freq: int = 1) -> "Tokenizer":
        counts = Counter()
        texts = list(texts)
        batches = _in_chunks(self.tokenize_batch, texts, f"fit tokenizer ({self.kind})") if len(texts) > BIG_INPUT \
            else self.tokenize_batch(texts)
        for toks in batches:
            counts.update(toks)
        self.itos = list(SPECIALS)
        for tok, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if c < min_freq or len(self.itos) >= vocab_size:
                break
            if tok not in SPECIALS:
                self.itos.append(tok)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        return self

    def tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in texts]

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        if len(texts) > BIG_INPUT:
            return _in_chunks(self._encode_batch, texts, f"tokenise ({self.kind})")
        return self._encode_batch(texts)

    def _encode_batch(self, texts: list[str]) -> list[list[int]]:
        unk = self.unk_id
        get = self.stoi.get
        return [[get(t, unk) for t in toks] for toks in self.tokenize_batch(texts)]

    def decode(self, ids: Iterable[int], skip_special: bool = True) -> str:
        special = self.special_ids if skip_special else set()
        toks = [self.itos[i] if 0 <= i < len(self.itos) else "<unk>" for i in ids if int(i) not in special]
        return self._join(toks)

    def id_to_token(self, i: int) -> str:
        return self.itos[i] if 0 <= i < len(self.itos) else "<unk>"

    def _join(self, toks: list[str]) -> str:
        return " ".join(toks)

    # ---- persistence ----
    def to_dict(self) -> dict:
        return {"kind": self.kind, "vocab": self.itos, **self._options()}

    def _options(self) -> dict:
        return {}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")


class CharTokenizer(Tokenizer):
    kind = "char"

    def tokenize(self, text: str) -> list[str]:
        return list(text)

    def _join(self, toks: list[str]) -> str:
        return "".join(toks)


_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_NO_SPACE_BEFORE = set(".,!?;:%)]}'\"")


class WordTokenizer(Tokenizer):
    """Words and punctuation marks; ``lowercase=True`` folds case."""

    kind = "word"

    def __init__(self, lowercase: bool = False):
        super().__init__()
        self.lowercase = lowercase

    def tokenize(self, text: str) -> list[str]:
        return _WORD.findall(text.lower() if self.lowercase else text)

    def _join(self, toks: list[str]) -> str:
        out = ""
        for t in toks:
            out += t if (not out or t in _NO_SPACE_BEFORE or out.endswith(("(", "[", "{"))) else " " + t
        return out

    def _options(self) -> dict:
        return {"lowercase": self.lowercase}


@lru_cache(maxsize=1)
def _kiwi():
    try:
        from kiwipiepy import Kiwi
    except ImportError:  # pragma: no cover - kiwipiepy is a declared dependency
        raise UserError("the morpheme tokenizer needs kiwipiepy: pip install kiwipiepy") from None
    return Kiwi()


class MorphemeTokenizer(Tokenizer):
    """Korean morphemes with part-of-speech tags (``form/TAG``) from Kiwi."""

    kind = "morpheme"

    def tokenize(self, text: str) -> list[str]:
        return self.tokenize_batch([text])[0]

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        kiwi = _kiwi()
        out = []
        for res in kiwi.tokenize(texts):
            out.append([f"{t.form}/{t.tag}" for t in res])
        return out

    def _join(self, toks: list[str]) -> str:
        pairs = []
        for t in toks:
            form, _, tag = t.rpartition("/")
            if not form:
                form, tag = t, "NNG"
            pairs.append((form, tag))
        if not pairs:
            return ""
        try:
            return _kiwi().join(pairs)
        except Exception:  # noqa: BLE001 - Kiwi rejects unknown tags; fall back to spacing forms
            return " ".join(f for f, _ in pairs)


class HFTokenizer(Tokenizer):
    """A Hugging Face ``tokenizers.Tokenizer``: trained here (bpe, wordpiece) or imported (hf)."""

    def __init__(self, kind: str, hf=None, specials: dict | None = None):
        super().__init__()
        self.kind = kind
        self.hf = hf
        self.specials = specials or {name.strip("<>"): name for name in SPECIALS}
        if hf is not None:
            self._index()

    def _index(self):
        vocab = self.hf.get_vocab()
        self.itos = [""] * (max(vocab.values()) + 1)
        for t, i in vocab.items():
            self.itos[i] = t
        self.stoi = vocab

    def _special(self, role: str) -> int:
        name = self.specials.get(role)
        if name is None or name not in self.stoi:
            return self.stoi.get(self.specials.get("unk", "<unk>"), 0) if role != "pad" else 0
        return self.stoi[name]

    pad_id = property(lambda self: self._special("pad"))
    unk_id = property(lambda self: self._special("unk"))
    sos_id = property(lambda self: self._special("sos"))
    eos_id = property(lambda self: self._special("eos"))
    mask_id = property(lambda self: self._special("mask"))
    cls_id = property(lambda self: self._special("cls"))

    @property
    def vocab_size(self) -> int:
        return self.hf.get_vocab_size()

    def fit(self, texts, vocab_size: int = 8000, min_freq: int = 2) -> "HFTokenizer":
        from tokenizers import Tokenizer as T, decoders, models, normalizers, pre_tokenizers, trainers

        if self.kind == "bpe":
            tok = T(models.BPE(unk_token="<unk>"))
            tok.normalizer = normalizers.NFKC()
            tok.pre_tokenizer = pre_tokenizers.Metaspace()
            tok.decoder = decoders.Metaspace()
            trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_freq, special_tokens=list(SPECIALS),
                                          show_progress=False)
        else:
            tok = T(models.WordPiece(unk_token="<unk>", max_input_chars_per_word=100))
            tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True)
            tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
            tok.decoder = decoders.WordPiece()
            trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_freq, special_tokens=list(SPECIALS),
                                                show_progress=False)
        tok.train_from_iterator(list(texts), trainer=trainer)
        if self.kind == "wordpiece":
            tok.model = _ordered_wordpiece(tok.get_vocab())
        self.hf = tok
        self._index()
        return self

    def tokenize(self, text: str) -> list[str]:
        return self.hf.encode(text, add_special_tokens=False).tokens

    def _encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids, skip_special: bool = True) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=skip_special)

    def id_to_token(self, i: int) -> str:
        return self.hf.id_to_token(int(i)) or "<unk>"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "hf": self.hf.to_str(), "specials": self.specials}


BIG_INPUT = 50_000  # texts; more are processed in chunks, as a timed phase with progress on stderr
_CHUNK = 10_000


def _in_chunks(fn, texts: list[str], name: str) -> list:
    """``fn(texts)`` computed chunk by chunk inside :func:`seqlab.phases.phase`, counting texts done."""
    from ..phases import phase

    out: list = []
    with phase(name, total=len(texts)) as p:
        for i in range(0, len(texts), _CHUNK):
            out.extend(fn(texts[i: i + _CHUNK]))
            p.advance(min(_CHUNK, len(texts) - i))
    return out


def _ordered_wordpiece(vocab: dict[str, int]):
    """The trained WordPiece vocabulary with ids in a fixed order: the specials first, then by (length, text).

    HF ``tokenizers`` builds a WordPiece vocabulary from a hash map, so the *ids* of the same tokens differ
    from one process to the next; a model trained with them would not be reproducible for a seed."""
    from tokenizers import models

    rest = sorted((t for t in vocab if t not in SPECIALS), key=lambda t: (len(t), t))
    ordered = {t: i for i, t in enumerate([*SPECIALS, *rest])}
    return models.WordPiece(vocab=ordered, unk_token="<unk>", max_input_chars_per_word=100)


_CLASSES = {"char": CharTokenizer, "word": WordTokenizer, "morpheme": MorphemeTokenizer}


def make_tokenizer(kind: str, **options) -> Tokenizer:
    """A new, untrained tokenizer of ``kind`` (one of char, word, bpe, wordpiece, morpheme)."""
    if kind in _CLASSES:
        return _CLASSES[kind](**options)
    if kind in ("bpe", "wordpiece"):
        return HFTokenizer(kind)
    raise UserError(f"--tokenizer {kind}: unknown tokenizer; choose one of {', '.join(KINDS)}")


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """Rebuild a tokenizer from :meth:`Tokenizer.to_dict`; a malformed dict raises ValueError saying what is wrong."""
    if not isinstance(d, dict):
        raise ValueError(f"expected a JSON object with a \"kind\"; found {type(d).__name__}")
    kind = d.get("kind")
    if "hf" in d:
        from tokenizers import Tokenizer as T

        if kind not in ("bpe", "wordpiece", "hf") or not isinstance(d["hf"], str):
            raise ValueError(f"kind {kind!r} with an \"hf\" entry: expected kind bpe, wordpiece or hf and the tokenizer as a string")
        try:
            hf = T.from_str(d["hf"])
        except Exception as e:  # noqa: BLE001 - the tokenizers library raises its own exception type
            raise ValueError(f"the embedded Hugging Face tokenizer does not parse ({str(e)[:100]})") from None
        specials = d.get("specials") or {}
        if not isinstance(specials, dict):
            raise ValueError("\"specials\" must be an object of role -> token")
        return HFTokenizer(kind, hf, specials)
    if kind not in _CLASSES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    vocab = d.get("vocab")
    if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
        raise ValueError("\"vocab\" must be a list of strings")
    missing = [t for t in SPECIALS if t not in vocab]
    if missing:
        raise ValueError(f"the vocabulary lacks the special token(s) {', '.join(missing)}")
    tok = _CLASSES[kind](**({"lowercase": bool(d["lowercase"])} if "lowercase" in d else {}))
    tok.itos = list(vocab)
    tok.stoi = {t: i for i, t in enumerate(tok.itos)}
    return tok


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer a run saved; a missing, garbage or incomplete file is a one-line UserError."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: tokenizer file not found; is this a complete seqlab run directory?")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{p}: not a seqlab tokenizer (not valid JSON: {e}); the run is damaged: "
                        "train it again or restore the file") from None
    try:
        return tokenizer_from_dict(d)
    except ValueError as e:
        raise UserError(f"{p}: not a usable seqlab tokenizer ({e}); the run is damaged: train it again or restore the file") from None


def from_hf_file(path: str | Path) -> HFTokenizer:
    """Import a Hugging Face ``tokenizer.json``; special-token roles are guessed from common names."""
    from tokenizers import Tokenizer as T

    hf = T.from_file(str(path))
    vocab = hf.get_vocab()
    roles = {
        "pad": ["[PAD]", "<pad>", "<|endoftext|>"],
        "unk": ["[UNK]", "<unk>", "<|endoftext|>"],
        "sos": ["[CLS]", "<s>", "<sos>", "<|endoftext|>"],
        "eos": ["[SEP]", "</s>", "<eos>", "<|endoftext|>"],
        "mask": ["[MASK]", "<mask>"],
        "cls": ["[CLS]", "<cls>", "<s>"],
    }
    specials = {r: next((n for n in names if n in vocab), None) for r, names in roles.items()}
    return HFTokenizer("hf", hf, {k: v for k, v in specials.items() if v})

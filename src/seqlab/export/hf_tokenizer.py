"""A seqlab tokenizer as Hugging Face fast-tokenizer files that ``AutoTokenizer.from_pretrained`` loads.

    tokenizer.json            a ``tokenizers.Tokenizer`` that encodes like seqlab's (same ids)
    tokenizer_config.json     PreTrainedTokenizerFast, the special tokens, model_max_length
    special_tokens_map.json   the special tokens

bpe, wordpiece and imported (hf) tokenizers already are a ``tokenizers.Tokenizer`` and are copied.
seqlab's char and word kinds become a WordLevel model over the same vocabulary with a pre-tokenizer
that cuts text the same way: every character (char), or runs of word characters and single
punctuation marks with whitespace dropped (word, ``\\w+|[^\\w\\s]``, lowercased first when the run's
tokenizer folds case). The morpheme kind (Kiwi's analysis) has no ``tokenizers`` equivalent.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError


def to_hf(tok):
    """A ``tokenizers.Tokenizer`` that gives ``tok.encode(text)``'s ids (no special tokens added)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    if getattr(tok, "hf", None) is not None:
        return Tokenizer.from_str(tok.hf.to_str())
    if tok.kind not in ("char", "word"):
        raise UserError(f"a {tok.kind} tokenizer has no Hugging Face tokenizers equivalent; export the model "
                        "with --format onnx, whose loader reads seqlab's tokenizer file")
    vocab = {t: i for i, t in enumerate(tok.itos)}
    hf = Tokenizer(models.WordLevel(vocab=vocab, unk_token=tok.id_to_token(tok.unk_id)))
    if tok.kind == "char":
        hf.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        hf.decoder = decoders.Fuse()
    else:
        if getattr(tok, "lowercase", False):
            hf.normalizer = normalizers.Lowercase()
        hf.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(r"\w+|[^\w\s]"), behavior="isolated")])
    return hf


def write_tokenizer(tok, out: Path, max_len: int, template: tuple[int, int | None] | None = None) -> None:
    """Write the three files. ``template`` (first_id, last_id): add those tokens around every text
    (BERT's ``[CLS] text [SEP]``) when ``add_special_tokens`` is on, as seqlab frames BERT inputs."""
    from tokenizers import processors

    hf = to_hf(tok)
    if template is not None:
        first, last = template
        a, b = tok.id_to_token(first), (tok.id_to_token(last) if last is not None else None)
        single = f"{a} $A" + (f" {b}" if b else "")
        pair = f"{a} $A" + (f" {b} $B:1 {b}:1" if b else " $B:1")
        specials = [(a, first)] + ([(b, last)] if b and b != a else [])
        hf.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=specials)
    (out / "tokenizer.json").write_text(hf.to_str(), encoding="utf-8")
    names = {"unk_token": tok.unk_id, "pad_token": tok.pad_id, "bos_token": tok.sos_id, "eos_token": tok.eos_id,
             "mask_token": tok.mask_id, "cls_token": tok.cls_id}
    specials = {k: tok.id_to_token(i) for k, i in names.items() if tok.id_to_token(i) not in ("", None)}
    if template is not None and template[1] is not None:
        specials["sep_token"] = tok.id_to_token(template[1])
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_len,
           "clean_up_tokenization_spaces": False, **specials}
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "special_tokens_map.json").write_text(json.dumps(specials, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")

import pytest

from seqlab.data.tokenizers import SPECIALS, load_tokenizer, make_tokenizer
from seqlab.errors import UserError

TEXTS = ["저는 강사 입니다", "정말 강추 합니다!", "The movie was great, truly.", "hello world"] * 20


@pytest.mark.parametrize("kind", ["char", "word", "bpe", "wordpiece", "morpheme"])
def test_save_load_round_trip(tmp_path, kind):
    tok = make_tokenizer(kind).fit(TEXTS, vocab_size=200)
    assert [tok.pad_id, tok.unk_id, tok.sos_id, tok.eos_id, tok.mask_id, tok.cls_id] == list(range(6))
    tok.save(tmp_path / "tok.json")
    back = load_tokenizer(tmp_path / "tok.json")
    for text in ["저는 강사 입니다", "정말 강추 합니다!", "hello world"]:
        ids = tok.encode(text)
        assert back.encode(text) == ids
        assert ids and all(i != tok.unk_id for i in ids)
        if kind != "word":
            assert back.decode(ids).replace(" ", "") == text.replace(" ", "")


def test_lossless_decode_bpe_and_morpheme():
    for kind in ("bpe", "morpheme", "char"):
        tok = make_tokenizer(kind).fit(TEXTS, vocab_size=300)
        assert tok.decode(tok.encode("정말 강추 합니다!")) == "정말 강추 합니다!"


def test_unknown_tokens_and_specials():
    tok = make_tokenizer("char").fit(["abc"])
    assert tok.itos[:6] == SPECIALS
    assert tok.encode("abz") == [tok.stoi["a"], tok.stoi["b"], tok.unk_id]
    with pytest.raises(UserError, match="unknown tokenizer"):
        make_tokenizer("sentencepiece")


def test_wordpiece_ids_are_the_same_on_every_fit():
    from seqlab.data.tokenizers import make_tokenizer

    texts = [f"배우들의 연기가 {w} 영화 {i}" for i, w in enumerate(["재미있었어요", "지루했다", "좋았다", "별로였다"] * 30)]
    first = make_tokenizer("wordpiece").fit(texts, vocab_size=300, min_freq=2)
    for _ in range(3):
        again = make_tokenizer("wordpiece").fit(texts, vocab_size=300, min_freq=2)
        assert again.itos == first.itos  # the HF trainer's own numbering changes from fit to fit
        assert again.encode("배우들의 연기가 좋았다") == first.encode("배우들의 연기가 좋았다")

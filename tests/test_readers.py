import gzip

import pytest

from seqlab.data.readers import pick_column, read_table
from seqlab.errors import UserError


def test_csv_tsv_jsonl_gz(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"hello, world",1\nbye,0\n', encoding="utf-8")
    t = read_table(tmp_path / "a.csv")
    assert t.columns == ["text", "label"] and t.rows[0] == ["hello, world", "1"]
    with gzip.open(tmp_path / "b.tsv.gz", "wt", encoding="utf-8") as f:
        f.write("sentence\tlabel\nit's \"fine\t1\nok\t0\n")
    t = read_table(tmp_path / "b.tsv.gz")
    assert t.rows[0] == ["it's \"fine", "1"] and len(t.rows) == 2
    (tmp_path / "c.jsonl").write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": 0}\n', encoding="utf-8")
    assert read_table(tmp_path / "c.jsonl").rows == [["a", "1"], ["b", "0"]]


def test_bare_quotes_keep_every_row(tmp_path):
    # a field that opens with a bare quote would swallow the following lines under CSV quoting
    lines = ["text,label", '"so bad it is good,1', "plain,0", "another,1"]
    (tmp_path / "q.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    t = read_table(tmp_path / "q.csv")
    assert len(t.rows) == 3 and t.rows[0][0] == '"so bad it is good'


def test_no_header(tmp_path):
    (tmp_path / "n.tsv").write_text("a great film\t1\nawful\t0\n", encoding="utf-8")
    t = read_table(tmp_path / "n.tsv")
    assert not t.has_header and t.columns == ["col0", "col1"] and len(t.rows) == 2


@pytest.mark.parametrize("content,match", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"text,label\n", "header .* but no data rows"),
    (b"text,label\nfine,1\nbroken\n", "line 3: too few fields"),
    (b"text,label\nfine,1\n\xff\xfebad,0\n", "not UTF-8 at byte offset 18"),
])
def test_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(UserError, match=match):
        read_table(p)


def test_missing_column_lists_found(tmp_path):
    (tmp_path / "a.csv").write_text("id,review,stars\n1,good,5\n", encoding="utf-8")
    t = read_table(tmp_path / "a.csv")
    with pytest.raises(UserError, match="found: id, review, stars"):
        pick_column(t, None, ("text", "sentence"), "text", "--text-col")
    with pytest.raises(UserError, match="no column named 'txt'.*found: id, review, stars"):
        pick_column(t, "txt", ("text",), "text", "--text-col")
    assert pick_column(t, "REVIEW", ("text",), "text", "--text-col") == "review"


# ---- header detection in any script, and files that must stay header-less

def _rows(pairs, n=40):
    return "\n".join(pairs[i % len(pairs)] for i in range(n)) + "\n"


@pytest.mark.parametrize("name,text,columns", [
    ("en.csv", "tweet,mood\n" + _rows(["I love this phone so much,happy", "worst service ever today,sad", "meh it is fine ok,neutral"]),
     ["tweet", "mood"]),
    ("ko.tsv", "문장\t감정\n" + _rows(["정말 재밌는 영화 였어요\t긍정", "너무 지루하고 별로 였어요\t부정"]), ["문장", "감정"]),
    ("num.csv", "comment,stars\n" + _rows(["great value for money,5", "broke after a week,1", "does the job,3"]), ["comment", "stars"]),
    ("pairs.tsv", "영어\t한국어\n" + _rows(["I am a student now\t저는 지금 학생 입니다", "the cat sat on the mat\t고양이가 매트 위에 앉았다"]),
     ["영어", "한국어"]),
])
def test_headers_with_unknown_names_are_found(tmp_path, name, text, columns):
    (tmp_path / name).write_text(text, encoding="utf-8")
    t = read_table(tmp_path / name)
    assert t.has_header and t.columns == columns and len(t.rows) == 40
    assert columns[0] not in [r[0] for r in t.rows]


@pytest.mark.parametrize("name,text", [
    ("en.csv", _rows(["I love this phone so much,happy", "worst service ever today,sad"])),
    ("ko.tsv", _rows(["정말 재밌는 영화 였어요\t긍정", "너무 지루하고 별로 였어요\t부정"])),
    ("num.csv", _rows(["great value for money,5", "broke after a week,1"])),
    ("short.csv", "good,pos\nbad,neg\nfine,pos\nawful,neg\n"),
    ("words.tsv", "cat\tchat\ndog\tchien\nbird\toiseau\n"),
    ("two.csv", "great film,pos\nawful,neg\n"),
])
def test_files_without_a_header_stay_header_less(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    t = read_table(tmp_path / name)
    assert not t.has_header and t.columns == ["col0", "col1"] and len(t.rows) == len(text.splitlines())


@pytest.mark.parametrize("data,why", [
    ("text,label\nhello,1\n".encode("utf-16"), "UTF-16"),
    ("text,label\nhello,1\n".encode("utf-16-le"), "UTF-16"),
    ("문장,감정\n정말 좋아요,긍정\n".encode("cp949"), "cp949"),
    ("text,label\ncafé crème,1\nnaïve,0\n".encode("cp1252"), "cp1252"),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "zip archive"),
    (b"text,label\n" + bytes(range(256)) * 4, "binary"),
])
def test_not_utf8_hint_follows_the_bytes(tmp_path, data, why):
    (tmp_path / "f.csv").write_bytes(data)
    with pytest.raises(UserError, match=why):
        read_table(tmp_path / "f.csv")


def test_empty_labels_are_refused_with_count_and_lines():
    from seqlab.data.labels import check_labels

    check_labels(["a", "b"], "x.csv")
    with pytest.raises(UserError, match=r"x.csv: 2 of 4 rows have an empty label \(lines 3, 5\)"):
        check_labels(["a", "", "b", "  "], "x.csv", line_of=[2, 3, 4, 5])


def test_single_example_classes_are_warned(caplog):
    import logging

    from seqlab.data.labels import warn_rare_classes

    with caplog.at_level(logging.WARNING, logger="seqlab"):
        assert warn_rare_classes(["pos", "neg", "pos", "neg", "mood"], "x.csv") == ["mood"]
        assert warn_rare_classes(["pos", "neg", "pos", "neg"], "y.csv") == []
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "'mood'" in msgs[0] and "single example" in msgs[0]

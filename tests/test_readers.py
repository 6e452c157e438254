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

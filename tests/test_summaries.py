"""SAMSum as a known dataset (mirror only), the dialogue reader, ROUGE against hand values and the
LEAD-3 / LONGEST-3 baselines."""

import json

import pytest

from conftest import SHARED_DATA
from seqlab.data import datasets
from seqlab.data.sources import parse_source
from seqlab.data.summaries import TURN_SEP, join_turns, read_dialogue_pairs, turns
from seqlab.errors import UserError
from seqlab.metrics.rouge import rouge
from seqlab.models.extractive import lead_k, longest_k

DIALOGUE = "Amy: hi there\r\nBob: hello\r\nAmy: are you coming to the party tonight at eight?\nBob: yes I am  coming\nAmy: ok"


def test_join_and_split_turns():
    j = join_turns(DIALOGUE)
    assert j.count(TURN_SEP) == 4 and "  " not in j
    assert turns(j) == turns(DIALOGUE) == ["Amy: hi there", "Bob: hello", "Amy: are you coming to the party tonight at eight?",
                                           "Bob: yes I am coming", "Amy: ok"]


def test_baselines():
    assert lead_k(DIALOGUE) == "Amy: hi there Bob: hello Amy: are you coming to the party tonight at eight?"
    # the three longest by words (10, 5, 3), in dialogue order
    assert longest_k(DIALOGUE) == "Amy: hi there Amy: are you coming to the party tonight at eight? Bob: yes I am coming"
    assert lead_k("A: one", 3) == "A: one"


def test_rouge_by_hand():
    r = rouge(["the cat sat on the mat"], ["the cat lay on the mat"])
    # unigrams: 5 of 6 match each way -> F1 5/6; bigrams: the cat, on the, the mat = 3 of 5
    assert r["rouge1"] == pytest.approx(100 * 5 / 6)
    assert r["rouge2"] == pytest.approx(100 * 3 / 5)
    assert r["rougeL"] == pytest.approx(100 * 5 / 6)
    assert r["n"] == 1 and r["rouge_l"] == r["rougeLsum"]
    # two sentences in swapped order: sentence-level LCS drops, summary-level does not
    swapped = rouge(["b c d. a x y."], ["a x y. b c d."])
    assert swapped["rougeLsum"] == pytest.approx(100.0) and swapped["rougeL"] < 100.0
    assert rouge(["stemming runs"], ["stemming run"])["rouge1"] == pytest.approx(100.0)


def test_reader_errors(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"id": "1", "dialogue": "A: x\nB: y", "summary": "s\n"}) + "\n" + json.dumps({"text": "z"}) + "\n")
    with pytest.raises(UserError, match="d.jsonl:2: expected fields 'dialogue' and 'summary'; found: text"):
        read_dialogue_pairs(p)
    p.write_text(json.dumps({"id": "1", "dialogue": "A: x\nB: y", "summary": "s\n"}) + "\n")
    assert read_dialogue_pairs(p) == (["A: x | B: y"], ["s"], ["1"])


def test_samsum_is_mirror_only(monkeypatch, tmp_path):
    monkeypatch.delenv("SEQLAB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path))
    assert parse_source("samsum").kind == "dataset"
    with pytest.raises(UserError, match="no public download.*SEQLAB_DATA_MIRROR"):
        datasets.fetch("samsum", "test")


@pytest.mark.skipif(not (SHARED_DATA / "samsum" / "test.jsonl").is_file(), reason="shared benchmark data not present")
def test_samsum_from_mirror(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_MIRROR", str(SHARED_DATA))
    src, tgt, ids = read_dialogue_pairs(datasets.fetch("samsum", "valid"))
    assert len(src) == 818 and all(TURN_SEP in s for s in src[:50]) and "\r" not in "".join(src)
    src, tgt, ids = read_dialogue_pairs(datasets.fetch("samsum", "test"))
    assert len(src) == 819 and "13731344" in ids and all("\n" not in t for t in tgt)
    lead = rouge([lead_k(s) for s in src[:100]], tgt[:100])
    assert 20 < lead["rouge1"] < 40  # LEAD-3 on SAMSum is about 31 ROUGE-1 (Gliwa et al.)


@pytest.mark.skipif(not (SHARED_DATA / "multi30k" / "val.fr.gz").is_file(), reason="shared benchmark data not present")
def test_multi30k_fr_en_from_mirror(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_MIRROR", str(SHARED_DATA))
    s = parse_source("multi30k:fr-en")
    assert s.config == "fr-en"
    fr, en = datasets.fetch("multi30k", "val.fr"), datasets.fetch("multi30k", "val.en")
    from seqlab.data.readers import read_lines
    assert len(read_lines(fr)) == len(read_lines(en)) == 1014


@pytest.mark.skipif(not (SHARED_DATA / "samsum" / "valid.jsonl").is_file(), reason="shared benchmark data not present")
def test_samsum_pairs_for_seq2seq(monkeypatch):
    from seqlab.data.pairs import read_pairs
    from seqlab.tasks.seq2seq import Seq2SeqData

    monkeypatch.setenv("SEQLAB_DATA_MIRROR", str(SHARED_DATA))
    p = read_pairs(parse_source("samsum"), Seq2SeqData(), "valid", 0)
    assert len(p.src) == 818 and TURN_SEP in p.src[0] and p.tgt[0]
    t = read_pairs(parse_source("samsum?split=train"), Seq2SeqData(), "train", 0)
    assert len(t.src) == 14731 and t.empty == 1  # the one empty dialogue (id 13828807) is skipped and counted


def test_seq2seq_evaluate_with_rouge(tmp_path, capsys):
    import torch

    from conftest import run_cli
    import seqlab

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code, _, err = run_cli(["-q", "train", "seq2seq", "--data", "builtin:reverse?n=200", "--model", "gru", "--set",
                                "model.hidden=16", "--set", "model.emb_dim=16", "--epochs", "1", "--out", tmp_path / "r"],
                               capsys)
        assert code == 0, err
        run = seqlab.load(tmp_path / "r")
        m = run.evaluate("builtin:reverse?n=20", beam=1, rouge=True)
        assert 0 <= m["rouge1"] <= 100 and set(m["baselines"]) == {"lead3", "longest3"}
        assert "rouge1" not in run.evaluate("builtin:reverse?n=20", beam=1)  # off by default outside samsum
    finally:
        torch.set_num_threads(threads)

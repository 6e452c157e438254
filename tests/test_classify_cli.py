"""The classify task through the real CLI: train -> evaluate --json -> predict, and every bad input."""

import json
from pathlib import Path

import pytest

from conftest import write_sentiment_csv

FAST = ["--epochs", "3", "--batch-size", "16", "--precision", "fp32", "--set", "model.hidden=32", "--set", "model.embed_dim=32"]
QUICK = FAST[:6]  # the engine flags alone, for models without hidden/embed_dim


def test_train_evaluate_predict(cli, tmp_path, sentiment_csv):
    out = tmp_path / "run"
    code, stdout, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--model", "gru", "--out", out, "--lr", "0.01", *FAST)
    assert code == 0, err
    assert "best valid accuracy" in stdout
    for f in ("config.json", "meta.json", "tokenizer.json", "model.safetensors", "state.safetensors", "metrics.jsonl", "summary.json", "curves.png"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] in ("epochs", "early_stop")
    test = write_sentiment_csv(tmp_path / "test.csv", n=60, seed=1)
    code, stdout, err = cli("evaluate", out, "--data", test, "--json")
    assert code == 0, err
    metrics = json.loads(stdout)
    assert metrics["n"] == 60 and metrics["accuracy"] > 0.9 and {"macro_f1", "loss", "confusion"} <= set(metrics)
    code, stdout, err = cli("predict", out, "the movie was superb", "awful boring plot", "--json")
    assert code == 0, err
    preds = json.loads(stdout)["predictions"]
    assert [p["label"] for p in preds] == ["pos", "neg"] and all(0.5 < p["prob"] <= 1 for p in preds)
    code, stdout, _ = cli("predict", out, "superb film")
    assert code == 0 and stdout.startswith("pos\t")


def test_korean_morpheme_and_multiclass(cli, tmp_path):
    p = write_sentiment_csv(tmp_path / "ko.csv", n=120, korean=True)
    rows = p.read_text(encoding="utf-8").splitlines()
    rows += [f"그냥 그래요 보통 {i},mid" for i in range(60)]
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "ko"
    code, _, err = cli("-q", "train", "classify", "--data", p, "--model", "textcnn", "--out", out, *QUICK)
    assert code == 0, err
    assert json.loads((out / "meta.json").read_text())["tokenizer"] == "morpheme"
    assert json.loads((out / "meta.json").read_text())["labels"] == ["mid", "neg", "pos"]
    code, stdout, _ = cli("predict", out, "정말 강추 합니다", "최고 감동 재밌어요", "그냥 그래요 보통", "--json")
    assert code == 0
    preds = json.loads(stdout)["predictions"]
    for pred in preds:  # a distribution over the three classes, and the label is its argmax
        assert set(pred["probs"]) == {"mid", "neg", "pos"} and abs(sum(pred["probs"].values()) - 1) < 1e-4
        assert pred["label"] == max(pred["probs"], key=pred["probs"].get)
    assert [p["label"] for p in preds[1:]] == ["pos", "mid"]  # words only ever seen with one class


def test_numeric_feature_sequences(cli, tmp_path):
    """The notes' video-frames example: one row per step, a sequence id, numeric features."""
    import random

    rng = random.Random(0)
    lines = ["sequence_id,step,f1,f2,label"]
    for s in range(80):
        y = s % 2
        for t in range(rng.randint(4, 9)):
            lines.append(f"s{s},{t},{rng.gauss(1.0 if y else -1.0, 0.5):.3f},{rng.gauss(0, 1):.3f},{'up' if y else 'down'}")
    (tmp_path / "frames.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "frames"
    code, _, err = cli("-q", "train", "classify", "--data", tmp_path / "frames.csv", "--model", "lstm", "--out", out, *FAST)
    assert code == 0, err
    code, stdout, err = cli("evaluate", out, "--data", tmp_path / "frames.csv", "--json")
    assert code == 0, err
    assert json.loads(stdout)["accuracy"] > 0.8


def _bad(cli, tmp_path, *args):
    code, stdout, err = cli("train", "classify", "--model", "lstm", "--out", tmp_path / "bad-run", *args)
    assert code == 2
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert stdout == "" and len(errors) == 1 and "Traceback" not in err
    return errors[0]


@pytest.mark.parametrize("content,match", [
    ("", "empty"),
    ("text,label\n", "no data rows"),
    ("body,stars\ngood,1\nbad,0\n", "found: body, stars"),
    ("text,label\ngood,1\nbad\n", "line 3: too few fields"),
    ("text,label\ngood,1\nbad,1\n", "single class"),
])
def test_bad_training_files(cli, tmp_path, content, match):
    p = tmp_path / "d.csv"
    p.write_text(content, encoding="utf-8")
    assert match in _bad(cli, tmp_path, "--data", p)


def test_non_utf8_and_missing_path(cli, tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("text,label\ncafé,1\n".encode("latin-1"))
    assert "not UTF-8 at byte offset 14" in _bad(cli, tmp_path, "--data", p)
    assert "no such file" in _bad(cli, tmp_path, "--data", tmp_path / "nope.csv")


def test_unknown_set_key_lists_valid(cli, tmp_path, sentiment_csv):
    err = _bad(cli, tmp_path, "--data", sentiment_csv, "--set", "model.hiddn=3")
    assert "model.hiddn" in err and "model.hidden" in err


def test_label_only_in_eval_data_and_not_a_run(cli, tmp_path, sentiment_csv):
    out = tmp_path / "run"
    assert cli("-q", "train", "classify", "--data", sentiment_csv, "--model", "textcnn", "--out", out, *QUICK)[0] == 0
    (tmp_path / "ev.csv").write_text("text,label\ngreat,pos\nmeh,neutral\n", encoding="utf-8")
    code, _, err = cli("evaluate", out, "--data", tmp_path / "ev.csv")
    assert code == 2 and "'neutral'" in err
    code, _, err = cli("evaluate", tmp_path, "--data", tmp_path / "ev.csv")
    assert code == 2 and "not a seqlab run" in err
    # and the existing run is never overwritten without --overwrite
    code, _, err = cli("train", "classify", "--data", sentiment_csv, "--model", "lstm", "--out", out)
    assert code == 2 and "--overwrite" in err


def test_empty_labels_are_refused_and_single_example_classes_warned(cli, tmp_path, sentiment_csv):
    rows = sentiment_csv.read_text(encoding="utf-8").splitlines()
    blank = tmp_path / "blank.csv"
    blank.write_text("\n".join(rows[:5] + [rows[5].rsplit(",", 1)[0] + ","] + rows[6:]) + "\n", encoding="utf-8")
    code, _, err = cli("-q", "train", "classify", "--data", blank, "--model", "gru", "--out", tmp_path / "b", *QUICK)
    assert code == 2 and "1 of 240 rows have an empty label (lines 6)" in err and not (tmp_path / "b").exists()
    rare = tmp_path / "rare.csv"
    rare.write_text("\n".join(rows + ["an odd one,mood"]) + "\n", encoding="utf-8")
    code, _, err = cli("train", "classify", "--data", rare, "--model", "gru", "--out", tmp_path / "r", *FAST[:4],
                       "--set", "data.valid_fraction=0.2", "--epochs", "1")
    assert "single example: 'mood'" in err


def test_plain_command_picks_the_default_model_and_a_new_run_folder(cli, tmp_path, sentiment_csv, monkeypatch):
    """`seqlab train classify --data FILE` and nothing else: the task's default model, a fresh runs/ folder."""
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("train", "classify", "--data", sentiment_csv, "--epochs", "1")
    assert code == 0, err
    assert "training gru" in err
    cfg = json.loads((tmp_path / "runs" / "classify-reviews" / "config.json").read_text())
    assert cfg["model_name"] == "gru"
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--epochs", "1")  # never the same folder
    assert code == 0, err
    assert (tmp_path / "runs" / "classify-reviews-2" / "config.json").is_file()
    code, _, err = cli("train", "classify", "--data", sentiment_csv, "--resume")
    assert code == 2 and "--resume needs --out" in err


def test_default_out_names():
    from seqlab.cli.train_cmd import default_out

    assert default_out("seq2seq", "multi30k:de-en") == Path("runs/seq2seq-multi30k")
    assert default_out("regress", "builtin:frames?n=300") == Path("runs/regress-frames")
    assert default_out("seq2seq", "a.de,a.en") == Path("runs/seq2seq-a")
    assert default_out("lm", "/data/my corpus.txt.gz") == Path("runs/lm-my-corpus")

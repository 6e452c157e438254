"""The regress task end to end: builtin:frames with every numeric-input model family, a text CSV with a score
column, predict/evaluate through the CLI, the scatter plot, errors, and classify's notice for score labels."""

import json
import random

import pytest

from conftest import run_cli


ONE_THREAD = True  # small models: one thread beats two contended ones (conftest.one_thread)


SMALL = ["--set", "model.embed_dim=16", "--seed", "0"]


@pytest.mark.parametrize("model,extra", [("gru", ["--set", "model.hidden=16"]),
                                         ("textcnn", ["--set", "model.n_maps=16", "--set", "model.widths=[3]"]),
                                         ("transformer", ["--set", "model.d_ff=32", "--set", "model.n_head=2"])])
def test_frames_regression(model, extra, tmp_path, capsys):
    out = tmp_path / model
    code, _, err = run_cli(["-q", "train", "regress", "--data", "builtin:frames?n=400", "--model", model, "--epochs", "8",
                            "--out", out, *SMALL, *extra], capsys)
    assert code == 0, err
    test = json.loads((out / "summary.json").read_text())["test"]
    assert test["r2"] > 0.3 and test["spearman"] > 0.6, test  # a constant prediction scores R² 0
    assert (out / "scatter.png").is_file()


def _score_csv(path, n, seed):
    rng = random.Random(seed)
    rows = ["text,score"]
    for _ in range(n):
        good, bad = rng.randint(0, 4), rng.randint(0, 4)
        words = ["good"] * good + ["bad"] * bad + [rng.choice(["movie", "plot", "actor", "scene"]) for _ in range(4)]
        rng.shuffle(words)
        rows.append(f"{' '.join(words)},{good - bad + rng.gauss(0, 0.1):.3f}")
    path.write_text("\n".join(rows) + "\n")


def test_text_scores_predict_and_evaluate(tmp_path, capsys):
    _score_csv(tmp_path / "train.csv", 600, 0)
    _score_csv(tmp_path / "test.csv", 100, 1)
    out = tmp_path / "run"
    code, _, err = run_cli(["-q", "train", "regress", "--data", tmp_path / "train.csv", "--model", "gru", "--epochs", "6",
                            "--set", "model.hidden=16", "--set", "train.lr=0.005", "--out", out, *SMALL], capsys)
    assert code == 0, err
    code, stdout, err = run_cli(["evaluate", out, "--data", tmp_path / "test.csv", "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["r2"] > 0.5
    code, stdout, err = run_cli(["predict", out, "good good good good movie", "bad bad bad bad plot", "--json"], capsys)
    assert code == 0, err
    v = [p["value"] for p in json.loads(stdout)["predictions"]]
    assert v[0] > 1.0 > -1.0 > v[1]


def test_errors_and_classify_notice(tmp_path, capsys):
    (tmp_path / "words.csv").write_text("text,score\n" + "".join(f"a b c,{w}\n" for w in ["high", "low"] * 10))
    code, _, err = run_cli(["train", "regress", "--data", tmp_path / "words.csv", "--model", "gru", "--out", tmp_path / "r"],
                           capsys)
    assert code == 2 and "needs a number" in err
    code, _, err = run_cli(["train", "regress", "--data", "builtin:longrange", "--model", "gru", "--out", tmp_path / "r"],
                           capsys)
    assert code == 2 and "not regress" in err
    _score_csv(tmp_path / "s.csv", 60, 0)
    code, _, err = run_cli(["train", "classify", "--data", tmp_path / "s.csv", "--label-col", "score", "--model", "gru",
                            "--epochs", "1", "--set", "model.hidden=8", "--set", "model.embed_dim=8", "--out", tmp_path / "c"],
                           capsys)
    assert code == 0, err
    assert "seqlab train regress" in err


def test_two_targets_from_one_table(tmp_path, capsys):
    rng = random.Random(0)
    rows = ["text,pos,neg"]
    for _ in range(500):
        good, bad = rng.randint(0, 4), rng.randint(0, 4)
        words = ["good"] * good + ["bad"] * bad + [rng.choice(["movie", "plot"]) for _ in range(3)]
        rng.shuffle(words)
        rows.append(f"{' '.join(words)},{good},{10 * bad}")
    (tmp_path / "two.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "two"
    code, _, err = run_cli(["-q", "train", "regress", "--data", tmp_path / "two.csv", "--label-col", "pos,neg", "--model",
                            "gru", "--epochs", "6", "--set", "model.hidden=16", "--set", "train.lr=0.005", "--out", out,
                            *SMALL], capsys)
    assert code == 0, err
    code, stdout, err = run_cli(["evaluate", out, "--data", tmp_path / "two.csv", "--label-col", "pos,neg", "--json"], capsys)
    assert code == 0, err
    m = json.loads(stdout)
    assert set(m["per_output"]) == {"pos", "neg"}, m
    assert min(m["per_output"][k]["r2"] for k in ("pos", "neg")) > 0.25, m  # a constant prediction scores 0
    code, stdout, _ = run_cli(["predict", out, "bad bad bad movie", "good good good movie", "--json"], capsys)
    bad, good = (p["values"] for p in json.loads(stdout)["predictions"])
    assert bad["neg"] > good["neg"] and good["pos"] > bad["pos"], (bad, good)

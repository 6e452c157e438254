"""Task mlm and BERT fine-tuning through the real CLI: train mlm -> train classify --init -> predict."""

import json
import shutil

import pytest

import seqlab
from conftest import write_sentiment_csv
from seqlab.models.bert_classify import FINETUNE_LR

TINY_BERT = ["--set", "model.n_layer=1", "--set", "model.d_model=32", "--set", "model.n_head=2",
             "--set", "model.d_ff=64", "--set", "data.vocab_size=120", "--set", "data.max_len=24"]


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory):
    from seqlab.cli.main import main

    d = tmp_path_factory.mktemp("mlm")
    data = write_sentiment_csv(d / "reviews.csv", n=200)
    out = d / "mlm"
    assert main(["-q", "train", "mlm", "--data", str(data), "--model", "bert", *TINY_BERT, "--epochs", "2",
                 "--precision", "fp32", "--out", str(out), "--json"]) == 0
    return out, data


def test_mlm_run_metrics_and_fill_mask(mlm_run):
    out, _ = mlm_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "epochs"
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"loss", "perplexity", "accuracy"} <= set(last)
    filled = seqlab.load(out).fill_mask("the movie was [MASK]", top_k=3)
    assert len(filled[0]["masks"]) == 1 and len(filled[0]["masks"][0]) == 3


def test_finetune_from_mlm_then_predict(mlm_run, cli, tmp_path):
    out, data = mlm_run
    clf = tmp_path / "clf"
    code, stdout, err = cli("-q", "train", "classify", "--data", data, "--model", "bert", "--init", out,
                            "--epochs", "2", "--precision", "fp32", "--out", clf, "--json")
    assert code == 0, err
    meta = json.loads((clf / "meta.json").read_text())
    assert meta["init"] == str(out)
    # the encoder started from the mlm weights and the tokenizer is the mlm run's
    assert (clf / "tokenizer.json").read_text() == (out / "tokenizer.json").read_text()
    code, stdout, err = cli("predict", clf, "a wonderful film", "--json")
    assert code == 0, err
    pred = json.loads(stdout)["predictions"][0]
    assert set(pred["probs"]) == {"pos", "neg"} and abs(sum(pred["probs"].values()) - 1) < 1e-4
    assert pred["label"] == max(pred["probs"], key=pred["probs"].get) and pred["prob"] == pred["probs"][pred["label"]]


def test_init_from_a_run_of_another_kind(mlm_run, cli, tmp_path):
    _, data = mlm_run
    lm = tmp_path / "lm"
    code, _, err = cli("-q", "train", "lm", "--data", "builtin:hello", "--model", "gpt", "--block-size", "8",
                       "--set", "model.n_layer=1", "--set", "model.n_embd=16", "--set", "model.n_head=2",
                       "--epochs", "1", "--out", lm)
    assert code == 0, err
    code, _, err = cli("train", "classify", "--data", data, "--model", "bert", "--init", lm, "--out", tmp_path / "c")
    assert code == 2 and "task 'lm'" in err and "expected an mlm run" in err


def test_init_needs_model_bert(mlm_run, cli, tmp_path):
    out, data = mlm_run
    code, _, err = cli("train", "classify", "--data", data, "--model", "lstm", "--init", out, "--out", tmp_path / "c")
    assert code == 2 and "--model bert" in err


def test_bert_from_scratch_in_classify(cli, tmp_path, sentiment_csv):
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--model", "bert", "--set", "model.n_layer=1",
                       "--set", "model.d_model=32", "--set", "model.n_head=2", "--set", "model.d_ff=64",
                       "--epochs", "1", "--out", tmp_path / "scratch", "--json")
    assert code == 0, err


def test_evaluate_an_mlm_run(mlm_run, cli):
    out, data = mlm_run
    code, stdout, err = cli("evaluate", out, "--data", data, "--json")
    assert code == 0, err
    assert {"loss", "perplexity", "accuracy"} <= set(json.loads(stdout))


def test_train_mlm_json_stdout_is_one_object(cli, tmp_path, sentiment_csv):
    code, stdout, err = cli("-q", "train", "mlm", "--data", sentiment_csv, "--model", "bert", *TINY_BERT,
                            "--epochs", "1", "--out", tmp_path / "m", "--json")
    assert code == 0, err
    assert json.loads(stdout)["stop_reason"] == "epochs"  # nothing else on stdout (no tokenizer progress bars)


def test_resume_an_mlm_run_keeps_config_and_tokenizer(cli, tmp_path, sentiment_csv, fake_clock):
    out = tmp_path / "m"
    code, _, err = cli("-q", "train", "mlm", "--data", sentiment_csv, "--model", "bert", *TINY_BERT,
                       "--epochs", "2", "--out", out, "--time-budget", "0.001", "--precision", "fp32")
    assert code == 0, err
    first = json.loads((out / "summary.json").read_text())
    assert first["stop_reason"] == "time_budget"
    tok = (out / "tokenizer.json").read_text()
    fake_clock.tick = 0.0  # time stands still: the resumed run ends by epochs, not by the budget
    code, _, err = cli("-q", "train", "mlm", "--data", sentiment_csv, "--out", out, "--resume", "--time-budget", "5")
    assert code == 0, err
    second = json.loads((out / "summary.json").read_text())
    assert second["epochs_done"] == 2 and second["steps"] > first["steps"]
    assert (out / "tokenizer.json").read_text() == tok
    assert json.loads((out / "config.json").read_text())["model"]["d_model"] == 32  # the saved config, not defaults


def test_pretrain_then_finetune_in_one_command(cli, tmp_path, sentiment_csv):
    out = tmp_path / "clf"
    args = ["-q", "train", "classify", "--data", sentiment_csv, "--model", "bert", *TINY_BERT[:8], "--set",
            "data.max_len=24", "--pretrain", "0.05", "--epochs", "1", "--precision", "fp32", "--out", out, "--json"]
    code, stdout, err = cli(*args)
    assert code == 0, err
    summary = json.loads(stdout)
    mlm = tmp_path / "clf-mlm"
    assert summary["pretrain"]["run"] == str(mlm) and summary["pretrain"]["reused"] is False
    assert json.loads((mlm / "config.json").read_text())["task"] == "mlm"
    assert json.loads((out / "meta.json").read_text())["init"] == str(mlm)
    # fine-tuned at BERT's rate, not the recurrent classifiers' 2e-3 (which collapsed SST-2 to one class)
    assert json.loads((out / "config.json").read_text())["train"]["lr"] == FINETUNE_LR == 1e-4
    assert (out / "tokenizer.json").read_text() == (mlm / "tokenizer.json").read_text()
    assert json.loads((out / "summary.json").read_text())["pretrain"]["run"] == str(mlm)
    shutil.rmtree(out)  # the fine-tuning run removed: a finished OUT-mlm is reused, not trained again
    code, stdout, err = cli(*args)
    assert code == 0 and json.loads(stdout)["pretrain"]["reused"] is True, err
    code, stdout, err = cli(*args, "--overwrite")  # --overwrite trains both again
    assert code == 0 and json.loads(stdout)["pretrain"]["reused"] is False, err


def test_pretrain_refuses_what_it_cannot_do(cli, tmp_path, sentiment_csv):
    code, _, err = cli("train", "classify", "--data", sentiment_csv, "--model", "gru", "--pretrain", "1", "--out",
                       tmp_path / "g")
    assert code == 2 and "--model bert" in err and not (tmp_path / "g-mlm").exists()
    code, _, err = cli("train", "classify", "--data", sentiment_csv, "--model", "bert", "--pretrain", "1", "--init",
                       tmp_path, "--out", tmp_path / "b")
    assert code == 2 and "--init" in err
    code, _, err = cli("train", "classify", "--data", sentiment_csv, "--model", "bert", "--pretrain", "0", "--out",
                       tmp_path / "b")
    assert code == 2 and "> 0" in err

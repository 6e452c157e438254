"""The CLI under interruption and scripting: Ctrl-C says how to continue, --json keeps stdout clean,
token-id prompts for runs without a tokenizer, the demo's quickest section end to end."""

import json

import pytest

TINY = ["--model", "gru", "--epochs", "2", "--batch-size", "32", "--precision", "fp32",
        "--set", "model.hidden=8", "--set", "model.embed_dim=8"]


def test_ctrl_c_during_train_keeps_the_checkpoint_and_says_how_to_continue(cli, tmp_path, sentiment_csv, monkeypatch):
    import seqlab.train.engine as engine

    real_init = engine.Trainer.__init__

    def interrupting_init(self, *a, **kw):
        real_init(self, *a, **kw)

        def on_step(step):
            if step == 10:  # mid-epoch 2: the end of epoch 1 was checkpointed
                raise KeyboardInterrupt

        self.on_step = on_step

    monkeypatch.setattr(engine.Trainer, "__init__", interrupting_init)
    out = tmp_path / "run"
    code, stdout, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, *TINY)
    assert code == 130 and stdout == ""
    assert "the last checkpoint in" in err and "is kept" in err and err.strip().endswith("--resume")
    assert "aborted" not in err and (out / "state.safetensors").is_file()


def test_ctrl_c_before_the_first_checkpoint_says_so(cli, tmp_path, sentiment_csv, monkeypatch):
    import seqlab.train.engine as engine

    def interrupted_fit(self, resume=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.Trainer, "fit", interrupted_fit)
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", tmp_path / "r", *TINY)
    assert code == 130 and "before the first checkpoint" in err


def test_train_json_prints_only_json_even_without_quiet(cli, tmp_path, sentiment_csv):
    code, stdout, err = cli("train", "classify", "--data", sentiment_csv, "--out", tmp_path / "run", *TINY, "--json")
    assert code == 0, err
    summary = json.loads(stdout)  # the whole of stdout is one JSON object
    assert summary["steps"] > 0 and "step " in err  # the per-evaluation lines went to stderr


@pytest.fixture
def untokenized_lm(tmp_path, cli):
    out = tmp_path / "lm"
    code, _, err = cli("-q", "train", "lm", "--data", "builtin:hello", "--model", "rnn", "--out", out, "--epochs", "1",
                       "--precision", "fp32", "--set", "model.hidden=8", "--set", "data.block_size=8")
    assert code == 0, err
    (out / "tokenizer.json").unlink()  # as an imported checkpoint without a tokenizer
    return out


def test_generate_with_prompt_ids(cli, untokenized_lm):
    code, _, err = cli("generate", untokenized_lm, "--prompt", "hell", "--max-new-tokens", "3")
    assert code == 2 and "--prompt-ids" in err  # the hint names a flag that exists
    code, stdout, err = cli("generate", untokenized_lm, "--prompt-ids", "1,2", "--prompt-ids", "3",
                            "--max-new-tokens", "4", "--greedy", "--precision", "fp32", "--json")
    assert code == 0, err
    gens = json.loads(stdout)["generations"]
    assert len(gens) == 2 and all(g["new_tokens"] == 4 and len(g["text"].split()) == 4 for g in gens)
    for bad, why in (("1,x", "comma-separated integers"), ("99999", "outside the vocabulary"), ("-1", "outside")):
        code, _, err = cli("generate", untokenized_lm, "--prompt-ids", bad)
        assert code == 2 and why in err and err.count("\n") == 1


def test_demo_hello_smoke(cli, tmp_path):
    code, stdout, err = cli("demo", "--only", "hello", "--out", tmp_path / "demo")
    assert code == 0, err
    assert "HELL -> ELLO" in stdout and (tmp_path / "demo" / "hello" / "model.safetensors").is_file()


def test_demo_into_an_unwritable_folder_is_one_line(cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = cli("demo", "--only", "hello", "--out", blocker / "demo")
    assert code == 2 and "cannot write there" in err and err.count("\n") == 1


def test_demo_refuses_a_folder_that_is_not_a_demo_folder(cli, tmp_path, monkeypatch):
    from seqlab.cli import demo_cmd

    quick = {"rows": [{"next_char_accuracy": 1.0, "hell ->": "o", "sample": "hello", "seconds": 0.0}]}
    monkeypatch.setattr(demo_cmd.demo_lib, "SECTIONS", {"hello": lambda out: quick})  # the folder check, not the training
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "longrange.png").write_bytes(b"my own picture")
    (mine / "thesis.tex").write_text("my thesis")
    code, _, err = cli("demo", "--only", "hello", "--out", mine)
    assert code == 2 and "not an earlier `seqlab demo` folder" in err
    assert (mine / "longrange.png").read_bytes() == b"my own picture"
    older = tmp_path / "older"  # a demo folder written before the marker existed is still the demo's
    (older / "hello").mkdir(parents=True)
    (older / "longrange.png").write_bytes(b"old plot")
    code, _, err = cli("demo", "--only", "hello", "--out", older)
    assert code == 0, err


def test_empty_stdin_and_beam_zero_are_refused(cli, tmp_path, sentiment_csv, monkeypatch):
    import io
    import sys

    out = tmp_path / "run"
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, *TINY[:-4], "--epochs", "1")
    assert code == 0, err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # `seqlab predict RUN < /dev/null`
    code, stdout, err = cli("predict", out)
    assert code == 2 and stdout == "" and "standard input held no lines" in err
    s2s = tmp_path / "s2s"
    code, _, err = cli("-q", "train", "seq2seq", "--data", "builtin:reverse?n=200&max_len=6", "--model", "gru", "--out", s2s,
                       "--epochs", "1", "--precision", "fp32", "--set", "model.hidden=8", "--set", "model.emb_dim=8")
    assert code == 0, err
    for flag in (["--beam", "0"], ["--n-best", "0"]):
        code, _, err = cli("translate", s2s, "1 2 3", *flag)
        assert code == 2 and "--beam must be ≥ 1" in err, flag


def test_export_overwrite_keeps_the_users_files_and_an_unwritable_out_is_one_line(cli, tmp_path, sentiment_csv):
    run, exp = tmp_path / "run", tmp_path / "exp"
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", run, *TINY[:-4], "--epochs", "1")
    assert code == 0, err
    code, _, err = cli("-q", "export", run, "--format", "onnx", "--out", exp)
    assert code == 0, err
    (exp / "notes.txt").write_text("mine")
    (exp / "mine").mkdir()
    code, _, err = cli("-q", "export", run, "--format", "onnx", "--out", exp, "--overwrite")
    assert code == 0, err
    assert (exp / "notes.txt").read_text() == "mine" and (exp / "mine").is_dir() and (exp / "model.onnx").is_file()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli("export", run, "--format", "onnx", "--out", blocker / "exp")
    assert code == 2 and "cannot write there" in err and err.count("\n") == 1


def test_minutes_take_a_unit_and_a_bad_one_is_one_line():
    import click

    from seqlab.cli.options import MINUTES

    assert [MINUTES.convert(v, None, None) for v in ("15", "15m", "90s", "1.5h", " 2MIN ", 3)] == [15.0, 15.0, 1.5, 90.0, 2.0, 3.0]
    for bad in ("10 minutes", "m", "abc", "5d"):
        with pytest.raises(click.BadParameter, match="expected minutes as a number"):
            MINUTES.convert(bad, None, None)


def test_time_budget_with_a_unit_trains_and_a_bad_value_exits_2(cli, tmp_path, sentiment_csv):
    code, _, err = cli("train", "classify", "--data", sentiment_csv, "--model", "textcnn", "--time-budget", "5d",
                       "--out", str(tmp_path / "bad"))
    assert code == 2 and "expected minutes" in err and "Traceback" not in err
    out = tmp_path / "ok"
    code, stdout, _ = cli("train", "classify", "--data", sentiment_csv, "--model", "textcnn", "--time-budget", "30s",
                          "--epochs", "1", "--out", str(out), "--json")
    assert code == 0
    assert json.loads((out / "config.json").read_text())["train"]["time_budget"] == pytest.approx(0.5)

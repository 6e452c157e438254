"""The task protocol's seams: every task's registry has one shape, every loaded run answers the same verbs,
flags reach the run (columns, --device), and misuse gets one clear line (exit 2) or a TypeError from Python."""

import json
import sys
from pathlib import Path

import pytest

import seqlab
from seqlab.errors import UserError
from seqlab.tasks import TASKS, get_task
from seqlab.tasks.protocol import CAPABILITIES, ModelSpec

sys.path.insert(0, str(Path(__file__).parent / "golden"))
import record  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The golden tiny runs of every task (seeded, fp32, one thread)."""
    root = tmp_path_factory.mktemp("runs")
    for task in record.CASES:
        record.run_case(task, root)
    return root


def test_every_registry_has_one_shape():
    for name in TASKS:
        task = get_task(name)
        assert task.models and all(isinstance(s, ModelSpec) for s in task.models.values())
        for spec in task.models.values():
            assert set(spec.capabilities) <= set(CAPABILITIES)
            spec.default_config()  # presets fit the config class
        task.default_train(next(iter(task.models)))
        task.data_config()


def test_predict_on_lm_and_mlm_runs_reads_files(runs, tmp_path, cli):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("hel\nhe\n", encoding="utf-8")
    code, out, err = cli("predict", runs / "lm", "--data", prompts, "--json", "--max-new-tokens", "5")
    assert code == 0, err
    preds = json.loads(out)["predictions"]
    assert [p["input"] for p in preds] == ["hel", "he"] and all(p["new_tokens"] == 5 for p in preds)
    masked = tmp_path / "masked.txt"
    masked.write_text("classa w1 [MASK] w3\n", encoding="utf-8")
    code, out, err = cli("predict", runs / "mlm", "--data", masked, "--json", "--top-k", "3")
    assert code == 0, err
    assert len(json.loads(out)["predictions"][0]["masks"][0]) == 3
    code, _, err = cli("predict", runs / "mlm", "no mask here")
    assert code == 2 and "expected [MASK]" in err


def test_option_that_does_not_apply_names_those_that_do(runs, cli):
    code, _, err = cli("predict", runs / "classify", "classa w1", "--beam", "3")
    assert code == 2 and "--beam" in err and "classify" in err
    code, _, err = cli("evaluate", runs / "lm", "--data", "builtin:hello?n=20", "--backtest", "3")
    assert code == 2 and "--backtest" in err
    code, _, err = cli("evaluate", runs / "forecast", "--data", "builtin:sine?n=400", "--text-col", "x")
    assert code == 2 and "--text-col" in err and "--time-col" in err


def test_column_flags_on_predict_and_evaluate_with_ids_and_out_file(runs, tmp_path, cli):
    data = tmp_path / "other.csv"
    data.write_text("rid,tweet,mood\nr1,classa w1 w2 w3 w4 w5 w6,classa\nr2,classb w3 w3 w3 w1 w2 w2,classb\n",
                    encoding="utf-8")
    code, out, err = cli("evaluate", runs / "classify", "--data", data, "--text-col", "tweet", "--label-col", "mood",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["n"] == 2
    dest = tmp_path / "preds.csv"
    code, _, err = cli("predict", runs / "classify", "--data", data, "--text-col", "tweet", "--id-col", "rid",
                       "--out", dest)
    assert code == 0, err
    rows = dest.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("id,input,label,prob") and rows[1].startswith("r1,") and rows[2].startswith("r2,")
    code, _, err = cli("predict", runs / "classify", "--data", data, "--text-col", "tweet", "--out", dest)
    assert code == 2 and "exists" in err  # never over a file it did not write
    assert rows == dest.read_text(encoding="utf-8").splitlines()


def test_device_reaches_load_and_a_cuda_run_loads_on_the_cpu(runs, tmp_path):
    import shutil

    run = tmp_path / "cuda-run"
    shutil.copytree(runs / "classify", run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["train"]["device"] = "cuda"
    (run / "config.json").write_text(json.dumps(cfg))
    loaded = seqlab.load(run, device="cpu")
    assert loaded.device.type == "cpu" and next(loaded.module.parameters()).device.type == "cpu"
    assert loaded.predict(["classa w1"])[0]["label"] in loaded.labels


def test_python_api_misuse_is_a_clear_error(runs):
    clf = seqlab.load(runs / "classify")
    with pytest.raises(TypeError, match="list of strings"):
        clf.predict([None])
    with pytest.raises(TypeError, match="list of strings"):
        clf.predict(123)
    with pytest.raises(UserError, match="empty"):
        clf.predict([""])
    with pytest.raises(UserError, match="empty"):
        seqlab.load(runs / "seq2seq").predict(["  "])


def test_empty_input_on_the_command_line(runs, cli):
    code, _, err = cli("translate", runs / "seq2seq", "")
    assert code == 2 and "empty" in err
    code, _, err = cli("predict", runs / "classify", "")
    assert code == 2 and "empty" in err


def test_weights_that_do_not_fit_the_config_are_one_line(runs, tmp_path, cli):
    import shutil

    run = tmp_path / "bad"
    shutil.copytree(runs / "classify", run)
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["hidden"] = 12
    (run / "config.json").write_text(json.dumps(cfg))
    code, _, err = cli("predict", run, "classa w1")
    assert code == 2 and "does not fit" in err and len(err.strip().splitlines()) == 1


def test_seq2seq_tokenizer_flag_sets_both_sides(tmp_path, cli):
    out = tmp_path / "s2s"
    code, _, err = cli("-q", "train", "seq2seq", "--data", "builtin:reverse?n=60&max_len=4", "--model", "gru",
                       "--tokenizer", "char", "--epochs", "1", "--set", "model.hidden=8", "--set", "model.emb_dim=8",
                       "--precision", "fp32", "--out", out)
    assert code == 0, err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["src_tokenizer"] == meta["tgt_tokenizer"] == "char"


def test_lm_tokenizer_auto(tmp_path, cli):
    ko = tmp_path / "ko.txt"
    ko.write_text("오늘은 날씨가 정말 좋습니다. 내일도 좋을 것 같아요.\n" * 40, encoding="utf-8")
    out = tmp_path / "lm"
    code, _, err = cli("-q", "train", "lm", "--data", ko, "--model", "gru", "--tokenizer", "auto", "--epochs", "1",
                       "--block-size", "8", "--set", "model.hidden=8", "--set", "model.d_emb=8",
                       "--set", "model.n_layer=1", "--precision", "fp32", "--out", out)
    assert code == 0, err
    assert json.loads((out / "meta.json").read_text())["tokenizer"] == "morpheme"


def test_init_is_refused_for_models_that_cannot_take_it(runs, tmp_path, cli):
    code, _, err = cli("-q", "train", "classify", "--data", "builtin:longrange?distance=4&n=40", "--model", "gru",
                       "--init", runs / "mlm", "--out", tmp_path / "x")
    assert code == 2 and "--init" in err and not (tmp_path / "x").exists()

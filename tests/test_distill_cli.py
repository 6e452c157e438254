"""--teacher RUN for classify: a student learns from a trained teacher's soft targets; label mismatches and
non-classify teachers are refused; the teacher runs once per training example."""

import json

import pytest
import torch

from conftest import run_cli

DATA = "builtin:longrange?distance=5&n=400"
TINY = ["--set", "model.embed_dim=16", "--seed", "0"]


ONE_THREAD = True  # small models: one thread beats two contended ones (conftest.one_thread)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    from seqlab.cli.main import main

    out = tmp_path_factory.mktemp("distil") / "teacher"
    assert main(["-q", "train", "classify", "--data", DATA, "--model", "gru", "--set", "model.hidden=16", "--epochs", "4",
                 "--out", str(out), *TINY]) == 0
    return out


def test_student_trains_from_teacher(teacher, tmp_path, capsys):
    out = tmp_path / "student"
    code, _, err = run_cli(["-q", "train", "classify", "--data", DATA, "--model", "textcnn", "--set", "model.n_maps=8",
                            "--teacher", teacher, "--set", "data.distill_alpha=0.7", "--set", "data.distill_temperature=3",
                            "--epochs", "3", "--out", out, *TINY], capsys)
    assert code == 0, err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["data"]["teacher"] == str(teacher) and cfg["data"]["distill_alpha"] == 0.7
    assert json.loads((out / "meta.json").read_text())["teacher"] == str(teacher)
    code, stdout, _ = run_cli(["predict", out, "classa w1 w2 w3 w4 w5", "--json"], capsys)
    assert code == 0 and json.loads(stdout)["predictions"][0]["label"] in ("classa", "classb")


def test_teacher_logits_cached_once_per_example(teacher):
    from seqlab.data.sources import parse_source
    from seqlab.data.labelled import Columns, read_examples
    from seqlab.tasks.classify import ClassifyData
    from seqlab.tasks.classify_distill import distill_loss_fn
    import seqlab

    ex = read_examples(parse_source(DATA), Columns(), "train", 0)
    labels = seqlab.load(teacher).labels
    loss_fn = distill_loss_fn(ClassifyData(teacher=str(teacher)), labels, ex.inputs)
    t = loss_fn.cache.get(list(range(10)) + [3, 3])
    direct = seqlab.load(teacher).logits(ex.inputs[:10])
    assert torch.allclose(t[:10], direct, atol=1e-5) and torch.equal(t[10], t[3])
    loss_fn.cache.fill()
    loss_fn.cache.fill()
    assert loss_fn.cache.calls == len(ex.inputs)


def test_refusals(teacher, tmp_path, capsys):
    code, _, err = run_cli(["train", "classify", "--data", "builtin:longrange?distance=5&n=300&classes=3", "--model", "gru",
                            "--teacher", teacher, "--out", tmp_path / "s3"], capsys)
    assert code == 2 and "only in the student's data: ['classc']" in err
    code, _, err = run_cli(["-q", "train", "regress", "--data", "builtin:frames?n=50", "--model", "gru", "--epochs", "1",
                            "--set", "model.hidden=8", "--out", tmp_path / "reg"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["train", "classify", "--data", DATA, "--model", "gru", "--teacher", tmp_path / "reg",
                            "--out", tmp_path / "s4"], capsys)
    assert code == 2 and "must be a classify run" in err
    code, _, err = run_cli(["train", "classify", "--data", DATA, "--model", "gru", "--teacher", teacher, "--set",
                            "data.distill_alpha=2", "--out", tmp_path / "s5"], capsys)
    assert code == 2 and "alpha" in err
    assert not (tmp_path / "s3").exists() and not (tmp_path / "s4").exists()

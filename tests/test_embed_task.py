"""The embed task end to end through the CLI: train on builtin:analogies, vectors.txt, similar, evaluate, predict,
a classifier reading the run's vectors, and errors."""

import json

import pytest
import torch

from conftest import run_cli


ONE_THREAD = True  # small models: one thread beats two contended ones (conftest.one_thread)


@pytest.fixture(scope="module")
def emb_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("emb") / "run"
    from seqlab.cli.main import main

    code = main(["-q", "train", "embed", "--data", "builtin:analogies?n=3000", "--model", "skipgram", "--set", "model.dim=24",
                 "--set", "model.min_count=1", "--set", "model.sample=0", "--epochs", "4", "--batch-size", "256",
                 "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_vectors_and_scores_analogies(emb_run):
    summary = json.loads((emb_run / "summary.json").read_text())
    assert summary["test"]["analogy_accuracy"] > 0.8 and summary["test"]["analogy_total"] == 56
    lines = (emb_run / "vectors.txt").read_text().splitlines()
    assert lines[0] == f"{len(lines) - 1} 24"


def test_similar_and_analogy(emb_run, capsys):
    code, out, err = run_cli(["similar", emb_run, "t3a", "king:queen::man", "-k", "3", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)["results"]
    assert all(n["word"].startswith("t3") for n in res[0]["neighbours"])
    assert res[1]["answers"][0]["word"] == "woman"
    code, out, _ = run_cli(["similar", emb_run / "vectors.txt", "t3a", "-k", "2"], capsys)
    assert code == 0 and out.startswith("t3a: t3")
    code, _, err = run_cli(["similar", emb_run, "zebra"], capsys)
    assert code == 2 and "not in the vocabulary" in err


def test_evaluate_files_and_predict(emb_run, tmp_path, capsys):
    q = tmp_path / "q.txt"
    q.write_text(": family\nking queen man woman\nboy girl prince princess\nking queen dragon dragoness\n")
    code, out, err = run_cli(["evaluate", emb_run, "--data", q, "--json"], capsys)
    assert code == 0, err
    m = json.loads(out)
    assert m["analogy_covered"] == 2 and m["analogy_total"] == 3 and m["sections"] == {"family": 1.0}
    import seqlab

    run = seqlab.load(emb_run)
    assert run.task == "embed"
    assert run.predict(["King"], k=2)[0]["neighbours"][0]["word"].startswith("t0")  # lower-cased by the tokenizer
    s = tmp_path / "s.txt"
    s.write_text("king queen 8\nking t0a 9\nking t5a 1\n")
    assert run.evaluate(str(s))["pairs_covered"] == 3


def test_classifier_reads_embed_run_vectors(emb_run):
    from seqlab.models.textcnn import load_word_vectors

    vocab = ["<pad>", "king", "woman", "notaword"]
    weights, found = load_word_vectors(emb_run, vocab, 24)
    assert found == 2 and weights.shape == (4, 24)


def test_korean_morphemes(tmp_path, capsys):
    import random

    rng = random.Random(0)
    movie, food = ["영화", "배우", "감독", "극장"], ["김치", "밥", "국수", "요리"]
    lines = []
    for _ in range(400):
        group = rng.choice([movie, food])
        lines.append(" ".join(rng.sample(group, 3)) + " 이야기를 좋아합니다")
    (tmp_path / "ko.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "ko"
    code, _, err = run_cli(["-q", "train", "embed", "--data", tmp_path / "ko.txt", "--model", "cbow", "--set", "model.dim=16",
                            "--set", "model.min_count=1", "--set", "model.sample=0", "--epochs", "5", "--out", out], capsys)
    assert code == 0, err
    assert json.loads((out / "meta.json").read_text())["tokenizer"] == "morpheme"
    code, stdout, err = run_cli(["similar", out, "영화", "-k", "3", "--json"], capsys)  # looked up as 영화/NNG
    assert code == 0, err
    assert json.loads(stdout)["results"][0]["query"] == "영화"
    import seqlab

    kv = seqlab.load(out).vectors
    same = min(kv.similarity("영화/NNG", f"{w}/NNG") for w in movie[1:])
    other = max(kv.similarity("영화/NNG", f"{w}/NNG") for w in food)
    assert same > other, (same, other)  # every movie word is nearer to 영화 than any food word


@pytest.mark.parametrize("model", ["gru", "transformer"])
def test_every_classifier_starts_from_embed_vectors(emb_run, tmp_path, capsys, model):
    """--set model.vectors=RUN (an embed run) with freeze_vectors: the table holds the run's vectors after training."""
    rows = ["text,label"] + [f"king t0a t0b,royal" if i % 2 else f"t5a t5b aunt,family" for i in range(40)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / model
    extra = ["--set", "model.n_head=2", "--set", "model.d_ff=16"] if model == "transformer" else ["--set", "model.hidden=8"]
    code, _, err = run_cli(["-q", "train", "classify", "--data", tmp_path / "d.csv", "--model", model, "--set",
                            f"model.vectors={emb_run}", "--set", "model.freeze_vectors=true", "--set", "model.embed_dim=24",
                            "--epochs", "2", "--out", out, *extra], capsys)
    assert code == 0, err
    meta = json.loads((out / "meta.json").read_text())
    assert meta["vectors_coverage"]["found"] >= 6
    import seqlab

    run = seqlab.load(out)
    kv = seqlab.load(emb_run).vectors
    table = run.module.embed.table.weight
    i = run.tokenizer.itos.index("king")
    assert torch.allclose(table[i], kv.vectors[kv.index["king"]], atol=1e-5)  # frozen: unchanged by training

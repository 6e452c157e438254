"""The seq2seq task through the real CLI: train -> evaluate --json -> predict/translate, and bad inputs."""

import json
from pathlib import Path

import pytest

from seqlab.cli.main import main

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TINY_RNN = ["--batch-size", "32", "--lr", "3e-3", "--precision", "fp32", "--set", "model.hidden=64",
            "--set", "model.emb_dim=32", "--set", "model.attn_dim=32", "--set", "model.dropout=0"]


ONE_THREAD = True  # small models: one thread beats two contended ones (conftest.one_thread)


@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory, one_thread):
    """A Bahdanau GRU trained on builtin:reverse for 5 epochs: the fast end-to-end run (< 60 s on an idle core)."""
    out = tmp_path_factory.mktemp("s2s") / "rev"
    code = main(["-q", "train", "seq2seq", "--data", "builtin:reverse", "--model", "bahdanau", "--out", str(out),
                 "--epochs", "5", *TINY_RNN, "--set", "data.beam=1"])
    assert code == 0
    return out, None


def test_reverse_reaches_95_percent_exact_match_quickly(reverse_run):
    """Quickly = within the 5 epochs of the fixture (counted in steps, not seconds: the machine may be busy)."""
    out, _ = reverse_run
    best = json.loads((out / "best_metrics.json").read_text())
    assert best["exact_match"] >= 0.95 and best["bleu"] > 90
    assert json.loads((out / "summary.json").read_text())["epochs_done"] <= 5
    for f in ("config.json", "meta.json", "tokenizer.src.json", "tokenizer.tgt.json", "model.safetensors",
              "metrics.jsonl", "summary.json", "curves.png"):
        assert (out / f).is_file(), f
    assert json.loads((out / "meta.json").read_text())["src_tokenizer"] == "word"  # the built-in's choice


def test_evaluate_json_predict_attention_translate(reverse_run, cli, tmp_path):
    out, _ = reverse_run
    code, stdout, err = cli("evaluate", out, "--data", "builtin:reverse?n=200&max_len=20", "--json")
    assert code == 0, err
    m = json.loads(stdout)
    assert {"bleu", "bleu_lowercase", "chrf", "exact_match", "loss", "perplexity", "by_length", "sentences_per_s"} <= set(m)
    assert m["n"] == 200 and m["perplexity"] >= 1
    buckets = {r["bucket"]: r for r in m["by_length"]}
    assert buckets["1-10"]["bleu"] > buckets["11-20"]["bleu"]  # longer than anything seen in training
    code, stdout, err = cli("evaluate", out, "--data", "builtin:reverse?n=50", "--beam", "2", "--plot", tmp_path / "len.png")
    assert code == 0, err
    assert "src tokens" in stdout and "1-10" in stdout and (tmp_path / "len.png").stat().st_size > 1000
    code, _, err = cli("evaluate", out, "--data", "builtin:reverse?n=50", "--backtest", "3")
    assert code == 2 and "--backtest" in err

    png = tmp_path / "attn.png"
    code, stdout, err = cli("predict", out, "1 2 3 4 5", "7 8 9", "--beam", "3", "--n-best", "2", "--attention", png, "--json")
    assert code == 0, err
    preds = json.loads(stdout)["predictions"]
    assert preds[0]["translation"] == "5 4 3 2 1" and preds[1]["translation"] == "9 8 7"
    assert len(preds[0]["n_best"]) == 2 and preds[0]["n_best"][0]["score"] >= preds[0]["n_best"][1]["score"]
    assert png.stat().st_size > 1000
    code, stdout, _ = cli("translate", out, "4 4 2")
    assert code == 0 and stdout.strip() == "2 4 4"
    code, stdout, err = cli("predict", out, "4 4 2", "--no-repeat-ngram", "1", "--json")  # no token twice
    words = json.loads(stdout)["predictions"][0]["translation"].split()
    assert code == 0 and len(words) == len(set(words)) and words[:2] == ["2", "4"], (err, words)
    code, _, err = cli("evaluate", out, "--data", "builtin:reverse?n=20", "--no-repeat-ngram", "-1")
    assert code == 2 and "--no-repeat-ngram" in err
    code, stdout, err = cli("evaluate", out, "--data", "builtin:reverse?n=20", "--length-penalty", "1.5", "--json")
    assert code == 0 and json.loads(stdout)["length_penalty"] == 1.5, err
    code, _, err = cli("predict", out, "1 2", "--length-penalty", "-1")
    assert code == 2 and "--length-penalty" in err
    code, _, err = cli("predict", out, "1 2", "--beam", "2", "--n-best", "3")
    assert code == 2 and "n-best" in err


def test_source_longer_than_the_model_maximum_is_truncated(reverse_run, cli):
    out, _ = reverse_run
    long = " ".join(["3"] * 500)  # max_src_len is 100 tokens
    code, stdout, err = cli("predict", out, long, "--beam", "1", "--json")
    assert code == 0, err
    p = json.loads(stdout)["predictions"][0]
    assert p["truncated"] is True and len(p["translation"].split()) <= 101


def test_transformer_and_teacher_forcing_schedule(cli, tmp_path):
    out = tmp_path / "tf"
    code, _, err = cli("-q", "train", "translate", "--data", "builtin:reverse?n=600", "--model", "transformer", "--out", out,
                       "--epochs", "2", "--batch-size", "32", "--precision", "fp32", "--set", "model.d_model=32",
                       "--set", "model.d_ff=64", "--set", "model.n_enc_layer=1", "--set", "model.n_dec_layer=1",
                       "--set", "model.n_head=2", "--set", "data.beam=2", "--set", "data.copy_source=off")
    assert code == 0, err
    code, stdout, err = cli("predict", out, "1 2 3", "--attention", tmp_path / "a.png", "--json")
    assert code == 0, err
    assert (tmp_path / "a.png").is_file() and "translation" in json.loads(stdout)["predictions"][0]
    import torch

    import seqlab

    run = seqlab.load(out)
    fp32 = run.predict(["1 2 3", "4 5"], beam=2)
    assert run.module.decode_output_dtype is None  # an fp32 run decodes in fp32 throughout
    run.precision = "bf16"  # as a bf16-trained run loads: small batches in fp32 but the output projection in bf16
    mixed = run.predict(["1 2 3", "4 5"], beam=2)
    assert run.module.decode_output_dtype == torch.bfloat16
    assert run.module._fast_step_weights[1]["out"][0].dtype == torch.bfloat16
    assert run.module._fast_step_weights[1]["layers"][0][1][0].dtype == torch.float32
    assert [p["score"] for p in mixed] == pytest.approx([p["score"] for p in fp32], abs=0.05)
    small = ["--epochs", "1", "--batch-size", "32", "--precision", "fp32", "--set", "model.d_model=32", "--set",
             "model.d_ff=64", "--set", "model.n_enc_layer=1", "--set", "model.n_dec_layer=1", "--set", "model.n_head=2"]
    code, _, err = cli("-q", "train", "translate", "--data", "builtin:reverse?n=100", "--model", "transformer", "--out",
                       tmp_path / "c0", "--set", "model.copy=true", "--set", "data.copy_source=off", *small)
    assert code == 2 and "data.shared_vocab=true" in err
    code, _, err = cli("-q", "train", "translate", "--data", "builtin:reverse?n=100", "--model", "gru", "--out",
                       tmp_path / "c1", "--set", "data.copy_source=on", *TINY_RNN)
    assert code == 2 and "copy head" in err and not (tmp_path / "c1").exists()
    # reversal copies every source word: auto turns copying on (all but what --set gives)
    code, _, err = cli("-q", "train", "translate", "--data", "builtin:reverse?n=300", "--model", "transformer", "--out",
                       tmp_path / "copy", "--set", "model.share_embeddings=false", *small)
    assert code == 0, err
    cfg = json.loads((tmp_path / "copy" / "config.json").read_text())
    assert cfg["data"]["copy_source"] == "on" and cfg["data"]["shared_vocab"] and cfg["model"]["copy"]
    assert cfg["model"]["share_embeddings"] is False and cfg["data"]["no_repeat_ngram"] == 0  # given; not shorter
    assert json.loads((tmp_path / "copy" / "meta.json").read_text())["copy_profile"]["overlap"] == 1.0
    code, stdout, err = cli("predict", tmp_path / "copy", "1 2 3", "--beam", "2", "--json")
    assert code == 0 and "translation" in json.loads(stdout)["predictions"][0], err
    code, _, err = cli("export", tmp_path / "copy", "--format", "onnx", "--out", tmp_path / "exported")
    assert code == 0, err
    manifest = json.loads((tmp_path / "exported" / "seqlab_export.json").read_text())
    assert {"enc", "src"} <= {x["name"] for x in manifest["graphs"]["decoder"]["inputs"]}  # what the copy head reads
    out = tmp_path / "gru"
    code, _, err = cli("-q", "train", "seq2seq", "--data", "builtin:reverse?n=600", "--model", "gru", "--out", out,
                       "--epochs", "2", *TINY_RNN, "--set", "data.teacher_forcing=1.0", "--set", "data.tf_schedule=linear",
                       "--set", "data.tf_end=0.2")
    assert code == 0, err
    ratios = [json.loads(line)["teacher_forcing"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert ratios[0] < 1.0 and ratios[-1] == pytest.approx(0.2, abs=0.02)
    code, _, err = cli("predict", out, "1 2 3", "--attention", tmp_path / "b.png")
    assert code == 2 and "no attention" in err


def test_table_files_aligned_files_and_counts(cli, tmp_path):
    rows = [f"{a} {b}\t{b} {a}" for a in range(10) for b in range(15)]
    (tmp_path / "pairs.tsv").write_text("de\ten\n" + "\n".join(rows[:60]) + "\n\t0 0\n" + "\n".join(rows[60:]) + "\n")
    out = tmp_path / "tsv"
    code, _, err = cli("-q", "train", "seq2seq", "--data", tmp_path / "pairs.tsv", "--model", "luong", "--out", out,
                       "--epochs", "1", *TINY_RNN, "--src-tokenizer", "word", "--tgt-tokenizer", "char", "--max-tgt-len", "3")
    assert code == 0, err
    assert "skipped 1 pair(s) with an empty source" in err and "dropped" in err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["empty_skipped"] == 1  # the line with an empty source
    meta = json.loads((out / "meta.json").read_text())
    assert meta["tgt_tokenizer"] == "char" and meta["train"]["pairs"] == 142  # header read as a header; 150 - 8 held out
    assert 0 < meta["train"]["dropped_long"] == summary["dropped_long"] < 142  # "10 3" is 4 characters
    code, _, err = cli("-q", "train", "seq2seq", "--data", tmp_path / "pairs.tsv", "--model", "luong", "--out", tmp_path / "t2",
                       "--max-tgt-len", "2", "--tgt-tokenizer", "char")
    assert code == 2 and "no training pair" in err
    # JSONL with named columns and two aligned text files
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps({"id": i, "source": f"{i % 7} {i % 5}", "target": f"{i % 5} {i % 7}"})
                                                for i in range(80)))
    code, _, err = cli("-q", "train", "seq2seq", "--data", tmp_path / "p.jsonl", "--model", "bahdanau", "--out", tmp_path / "j",
                       "--epochs", "1", *TINY_RNN)
    assert code == 0, err
    (tmp_path / "a.de").write_text("\n".join(f"{i} {i + 1}" for i in range(50)) + "\n")
    (tmp_path / "a.en").write_text("\n".join(f"{i + 1} {i}" for i in range(50)) + "\n")
    code, stdout, err = cli("evaluate", tmp_path / "j", "--data", f"{tmp_path / 'a.de'},{tmp_path / 'a.en'}", "--json")
    assert code == 0, err
    assert json.loads(stdout)["n"] == 50


def test_bad_inputs(cli, tmp_path):
    (tmp_path / "a.de").write_text("eins\nzwei\ndrei\n")
    (tmp_path / "a.en").write_text("one\ntwo\n")
    base = ["-q", "train", "seq2seq", "--model", "bahdanau", "--out", tmp_path / "x", "--epochs", "1"]
    code, _, err = cli(*base, "--data", f"{tmp_path / 'a.de'},{tmp_path / 'a.en'}")
    assert code == 2 and "has 3 lines" in err and "has 2" in err
    code, _, err = cli(*base, "--data", "multi30k:de-xx")
    assert code == 2 and "de-en" in err and "en-fr" in err
    (tmp_path / "three.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    code, _, err = cli(*base, "--data", tmp_path / "three.csv")
    assert code == 2 and "--src-col" in err and "a, b, c" in err
    code, _, err = cli(*base, "--data", tmp_path / "three.csv", "--src-col", "zz", "--tgt-col", "b")
    assert code == 2 and "zz" in err
    code, _, err = cli(*base, "--data", "builtin:longrange")
    assert code == 2 and "not seq2seq" in err
    code, _, err = cli("-q", "train", "seq2seq", "--model", "gpt", "--data", "builtin:reverse", "--out", tmp_path / "y")
    assert code == 2 and "transformer" in err and "bahdanau" in err
    code, _, err = cli("-q", "train", "seq2seq", "--model", "transformer", "--data", "builtin:reverse", "--out", tmp_path / "z",
                       "--set", "data.teacher_forcing=0.5")
    assert code == 2 and "teacher" in err
    code, _, err = cli("-q", "train", "seq2seq", "--model", "transformer", "--data", "builtin:reverse", "--out", tmp_path / "w",
                       "--set", "model.max_len=16", "--max-src-len", "40")
    assert code == 2 and "max_len" in err
    code, _, err = cli(*base, "--data", "builtin:reverse", "--set", "data.tf_schedule=cosine")
    assert code == 2 and "tf_schedule" in err


@pytest.mark.skipif(not (SHARED_DATA / "multi30k" / "val.de.gz").is_file(), reason="needs shared/data/multi30k")
def test_multi30k_reads_through_the_mirror(monkeypatch):
    from seqlab.data.sources import parse_source
    from seqlab.tasks.seq2seq import Seq2SeqData, read_pairs

    monkeypatch.setenv("SEQLAB_DATA_MIRROR", str(SHARED_DATA))
    pairs = read_pairs(parse_source("multi30k:de-en"), Seq2SeqData(), "valid", 0)
    assert len(pairs.src) == 1014 and pairs.src[0].startswith("Eine Gruppe") and pairs.tgt[0].startswith("A group")
    test = read_pairs(parse_source("multi30k:en-fr"), Seq2SeqData(), "test", 0)
    assert len(test.src) == 1000


def test_resume_continues_with_the_saved_tokenizers(cli, tmp_path, fake_clock):
    out = tmp_path / "res"
    args = ["-q", "train", "seq2seq", "--data", "builtin:reverse?n=3000", "--model", "gru", "--out", out, "--epochs", "3", *TINY_RNN]
    code, _, err = cli(*args, "--time-budget", "0.01")
    assert code == 0, err
    first = json.loads((out / "summary.json").read_text())
    assert first["stop_reason"] == "time_budget"
    tok = (out / "tokenizer.src.json").read_text()
    fake_clock.tick = 0.0
    code, _, err = cli("-q", "train", "seq2seq", "--out", out, "--data", "builtin:reverse?n=3000", "--resume", "--time-budget", "5")
    assert code == 0, err
    second = json.loads((out / "summary.json").read_text())
    assert second["epochs_done"] == 3 and second["steps"] > first["steps"]
    assert (out / "tokenizer.src.json").read_text() == tok


def test_auto_length_limits_keep_long_documents(cli, tmp_path):
    """The default limits (0 = auto) cover 99% of the training pairs, so long-document data (dialogues, articles)
    is not halved by a fixed 100-token cut; the resolved limits are the run's (config.json), and a given one wins."""
    from seqlab.tasks.seq2seq import AUTO_LEN_FLOOR, auto_length

    assert auto_length([5] * 100, 512) == AUTO_LEN_FLOOR  # short data: the floor, nothing dropped
    assert auto_length(list(range(1, 201)) + [5000], 512) == 200  # the 99th percentile (199 -> 200), one outlier over
    assert auto_length([900] * 10, 512) == 512  # never past the model's positions
    rows = [json.dumps({"src": " ".join(["w"] * (150 + i % 30)), "tgt": "s"}) for i in range(100)]
    (tmp_path / "long.jsonl").write_text("\n".join(rows) + "\n")
    args = ["-q", "train", "seq2seq", "--data", tmp_path / "long.jsonl", "--model", "bahdanau", "--epochs", "1",
            *TINY_RNN, "--src-tokenizer", "word", "--tgt-tokenizer", "word"]
    code, _, err = cli(*args, "--out", tmp_path / "auto")
    assert code == 0, err
    data = json.loads((tmp_path / "auto" / "config.json").read_text())["data"]
    assert data["max_src_len"] == 184 and data["max_tgt_len"] == AUTO_LEN_FLOOR  # 179 words -> a multiple of 8
    assert json.loads((tmp_path / "auto" / "summary.json").read_text())["dropped_long"] == 0
    code, _, err = cli(*args, "--out", tmp_path / "fixed", "--max-src-len", "100")
    assert code == 2 and "no training pair is within" in err  # every source is over a limit the user set

"""Task lm end to end through the real CLI: train -> generate, builtin:hello to 100%, bad inputs."""

import json

import pytest

import seqlab
from seqlab.cli.main import main

TINY_GPT = ["--model", "gpt", "--block-size", "16", "--set", "model.n_layer=1", "--set", "model.n_embd=32",
            "--set", "model.n_head=2", "--set", "model.dropout=0", "--set", "train.patience=0"]


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def hello_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm") / "hello"
    code = main(["-q", "train", "lm", "--data", "builtin:hello", *TINY_GPT, "--epochs", "30", "--batch-size", "16",
                 "--lr", "3e-3", "--seed", "0", "--precision", "fp32", "--out", str(out), "--json"])
    assert code == 0
    return out


def test_hello_reaches_full_next_char_accuracy(hello_run):
    summary = json.loads((hello_run / "summary.json").read_text())
    assert summary["accuracy"] == 1.0
    assert summary["bits_per_char"] < 0.2
    assert {"loss", "perplexity", "bits_per_char", "accuracy"} <= set(json.loads(
        (hello_run / "metrics.jsonl").read_text().splitlines()[-1]))


def test_generate_json_through_cli(hello_run, capsys):
    code, out, _ = _run(capsys, "generate", str(hello_run), "--prompt", "he", "--greedy", "--max-new-tokens", "9",
                        "--json")
    assert code == 0
    res = json.loads(out)
    g = res["generations"][0]
    assert g["text"] == "llo\nhello" and g["new_tokens"] == 9 and g["stop_reason"] == "max_new_tokens"
    assert res["tokens_per_s"] > 0


def test_generate_streams_prompt_and_text(hello_run, capsys):
    code, out, _ = _run(capsys, "generate", str(hello_run), "--prompt", "hel", "--greedy", "--max-new-tokens", "3")
    assert code == 0 and out == "hello\n\n"


def test_stop_text_num_samples_and_seed(hello_run):
    lm = seqlab.load(hello_run)
    res = lm.generate(["h", "o"], max_new_tokens=20, greedy=True, stop="\n")
    assert [r["text"] for r in res] == ["ello", ""] and all(r["stop_reason"] == "stop" for r in res)
    a = lm.generate("h", 15, temperature=1.5, num_samples=3, seed=4)
    b = lm.generate("h", 15, temperature=1.5, num_samples=3, seed=4)
    assert a == b and len(a) == 3


def test_out_of_vocabulary_prompt_is_reported(hello_run, capsys):
    code, out, err = _run(capsys, "generate", str(hello_run), "--prompt", "ZZ%", "--greedy")
    assert code == 2 and "nothing this model knows" in err and out == ""


@pytest.mark.parametrize("flags,message", [(["--top-p", "0"], "top_p"), (["--top-p", "1.2"], "top_p"),
                                           (["--temperature", "0"], "temperature"),
                                           (["--temperature", "-1"], "temperature")])
def test_bad_sampling_flags(hello_run, capsys, flags, message):
    code, _, err = _run(capsys, "generate", str(hello_run), "--prompt", "h", *flags)
    assert code == 2 and message in err


def test_empty_text_file(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = _run(capsys, "train", "lm", "--data", str(empty), *TINY_GPT, "--out", str(tmp_path / "r"))
    assert code == 2 and "empty" in err


@pytest.mark.parametrize("model", ["lstm", "gru"])
def test_recurrent_lm_on_jsonl(tmp_path, capsys, model):
    data = tmp_path / "t.jsonl"
    data.write_text("\n".join(json.dumps({"text": "abcabcabc abc"}) for _ in range(40)))
    out = tmp_path / model
    code, _, err = _run(capsys, "-q", "train", "lm", "--data", str(data), "--model", model, "--block-size", "12",
                        "--set", "model.hidden=32", "--set", "model.d_emb=16", "--set", "model.n_layer=1",
                        "--epochs", "2", "--batch-size", "4", "--out", str(out), "--json")
    assert code == 0, err
    res = seqlab.load(out).generate("ab", 5, greedy=True)
    assert res[0]["new_tokens"] == 5


def test_streaming_holds_back_a_partial_stop_text(hello_run):
    lm = seqlab.load(hello_run)
    from seqlab.models.sampling import GenerationConfig

    pieces = list(lm.generate_stream("h", GenerationConfig(max_new_tokens=20, greedy=True), stop="lo\nh",
                                     precision="fp32"))
    streamed = "".join(p["text"] for p in pieces if "text" in p)
    assert streamed == pieces[-1]["done"][0]["text"] == "el"  # "l" of "lo\nh" was held back, then cut


def test_evaluate_an_lm_run(hello_run, capsys):
    code, out, err = _run(capsys, "evaluate", str(hello_run), "--data", "builtin:hello?n=50", "--json")
    assert code == 0, err
    assert json.loads(out)["accuracy"] == 1.0

"""ONNX export: every exportable model's graph equals PyTorch within 1e-4 on random batches (batch 1 and
length 1 included), decoding through the graphs gives seqlab's tokens, ``seqlab.onnx`` runs without torch,
and the CLI's bad inputs exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import seqlab
import seqlab.onnx
from seqlab.export import export_run

pytest.importorskip("onnxruntime")

TOL = 1e-4
SHAPES = [(1, 1), (1, 5), (2, 1), (3, 4), (4, 9), (8, 3), (5, 12), (2, 17), (6, 6), (1, 20), (7, 2), (9, 8),
          (3, 1)]  # (B, T): 52 rows


def _load(path):
    return seqlab.onnx.load(path, threads=1)  # one ONNX Runtime thread: the tests share a small CPU


def _train(args: list[str]) -> None:
    from seqlab.cli.main import main

    assert main(["-q", "train", *map(str, args), "--epochs", "1", "--precision", "fp32"]) == 0


def _random_batches(vocab: int, min_len: int, seed: int = 0):
    """(ids, mask) pairs: random ids, random right-padding per row (>= 1 real token, >= min_len columns)."""
    g = np.random.default_rng(seed)
    for B, T in SHAPES:
        T = max(T, min_len)
        ids = g.integers(1, vocab, size=(B, T)).astype(np.int64)
        lengths = g.integers(1, T + 1, size=B)
        lengths[0] = T  # the batch is as long as its longest row
        mask = np.arange(T)[None, :] < lengths[:, None]
        yield ids, mask


# ---------------------------------------------------------------------------------------------- classify
CLASSIFY = {
    "rnn": ["--set", "model.layers=2", "--set", "model.pool=last"],
    "lstm": ["--set", "model.layers=2", "--set", "model.pool=attention"],
    "gru": ["--set", "model.bidirectional=false", "--set", "model.pool=mean"],
    "textcnn": ["--set", "model.n_maps=4", "--set", "model.embed_dim=8"],
    "transformer": ["--set", "model.embed_dim=16", "--set", "model.n_head=2", "--set", "model.d_ff=32",
                    "--set", "model.n_layer=1", "--set", "model.pool=cls"],
    "bert": ["--set", "model.n_layer=1", "--set", "model.d_model=16", "--set", "model.n_head=2",
             "--set", "model.d_ff=32", "--set", "data.max_len=40"],
}
SMALL_RNN = ["--set", "model.hidden=8", "--set", "model.embed_dim=8"]


@pytest.fixture(scope="module")
def classify_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("classify")
    runs = {}
    for name, extra in CLASSIFY.items():
        small = SMALL_RNN if name in ("rnn", "lstm", "gru") else []
        _train(["classify", "--data", "builtin:longrange?distance=3&n=80", "--model", name, *small, *extra,
                "--out", d / name])
        runs[name] = d / name
    return runs


@pytest.mark.parametrize("name", list(CLASSIFY))
def test_classify_graph_equals_pytorch(classify_runs, tmp_path, name):
    run = seqlab.load(classify_runs[name])
    manifest = export_run(classify_runs[name], "onnx", tmp_path / "x")
    onnx = _load(tmp_path / "x")
    assert manifest["labels"] == run.labels and (tmp_path / "x" / "tokenizer.json").is_file()
    rows = 0
    for ids, mask in _random_batches(run.tokenizer.vocab_size, manifest["classify"]["min_length"]):
        with torch.no_grad():
            ref = run.module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        got = onnx.logits(ids, mask)
        np.testing.assert_allclose(got, ref, atol=TOL, rtol=0)
        rows += len(ids)
    assert rows >= 50
    texts = ["classa a b c", "b", "zzz", "classb " + "x " * 30]
    want, got = run.predict(texts), onnx.predict(texts)
    assert [w["label"] for w in want] == [g["label"] for g in got]
    for w, g in zip(want, got):
        assert abs(w["prob"] - g["prob"]) < 1e-4


# ---------------------------------------------------------------------------------------------- lm
@pytest.fixture(scope="module")
def lm_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    _train(["lm", "--data", "builtin:hello", "--model", "gpt", "--set", "model.n_layer=2", "--set", "model.n_embd=16",
            "--set", "model.n_head=2", "--set", "model.block_size=24", "--out", d / "gpt"])
    _train(["lm", "--data", "builtin:hello", "--model", "lstm", "--set", "model.n_layer=2", "--set", "model.d_emb=8",
            "--set", "model.hidden=16", "--out", d / "lstm"])
    _train(["lm", "--data", "builtin:hello", "--model", "gru", "--set", "model.n_layer=1", "--set", "model.d_emb=8",
            "--set", "model.hidden=16", "--out", d / "gru"])
    return {"gpt": d / "gpt", "lstm": d / "lstm", "gru": d / "gru"}


def test_gpt_step_graph_equals_pytorch_with_and_without_cache(lm_runs, tmp_path):
    run = seqlab.load(lm_runs["gpt"])
    export_run(lm_runs["gpt"], "onnx", tmp_path / "x")
    onnx = _load(tmp_path / "x")
    cfg = run.module.config
    g = np.random.default_rng(1)
    rows = 0
    for B, T in SHAPES:
        T = min(T, cfg.block_size)
        ids = g.integers(0, cfg.vocab_size, size=(B, T)).astype(np.int64)
        n_pad = g.integers(0, T, size=B)
        n_pad[0] = 0
        mask = np.arange(T)[None, :] >= n_pad[:, None]  # left padding, as prompts
        with torch.no_grad():
            ref = run.module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()  # (B, T, V), no cache
        from seqlab.onnx.lm import _GPTCache

        cache = _GPTCache(onnx, cfg.block_size)
        split = max(int(n_pad.max()) + 1, T // 2)  # the prompt (all its padding) goes in the first call
        first = cache.feed(ids[:, :split], mask[:, :split] if not mask.all() else None)
        np.testing.assert_allclose(first, ref[:, split - 1], atol=TOL, rtol=0)
        for t in range(split, T):  # the rest one token at a time through the cache
            np.testing.assert_allclose(cache.feed(ids[:, t: t + 1]), ref[:, t], atol=TOL, rtol=0)
        rows += B
    assert rows >= 50


@pytest.mark.parametrize("name", ["gpt", "lstm", "gru"])
def test_greedy_generation_through_the_graph_gives_seqlabs_tokens(lm_runs, tmp_path, name):
    from seqlab.models.sampling import GenerationConfig, generate

    run = seqlab.load(lm_runs[name])
    export_run(lm_runs[name], "onnx", tmp_path / "x")
    onnx = _load(tmp_path / "x")
    prompts = [run.encode_prompt(p) for p in ["h", "hello hel", "lo", "o h"]]
    n = 40  # longer than the GPT's block_size of 24: the window slides
    want = generate(run.module, prompts, GenerationConfig(max_new_tokens=n, greedy=True), pad_id=run.tokenizer.pad_id)
    got = onnx.generate_ids(prompts, n, greedy=True)
    assert got == want
    texts = onnx.generate(["hel", ""], 10, greedy=True)
    assert [t["text"] for t in texts] == [t["text"] for t in run.generate(["hel", ""], 10, greedy=True, precision="fp32")]
    sampled = onnx.generate("hel", 8, temperature=0.8, top_k=3, top_p=0.9, seed=0, num_samples=2)
    assert len(sampled) == 2 and all(s["new_tokens"] <= 8 for s in sampled)


def test_rnn_lm_graph_equals_pytorch_and_carries_state(lm_runs, tmp_path):
    run = seqlab.load(lm_runs["lstm"])
    export_run(lm_runs["lstm"], "onnx", tmp_path / "x")
    onnx = _load(tmp_path / "x")
    g = np.random.default_rng(2)
    V = run.module.config.vocab_size
    rows = 0
    for B, T in SHAPES:
        ids = g.integers(0, V, size=(B, T)).astype(np.int64)
        with torch.no_grad():
            ref, (h, c) = run.module(torch.from_numpy(ids))
        state = onnx._rnn_state(B)
        split = max(1, T // 2)
        a, state = onnx._rnn_call(ids[:, :split], state)
        b, state = onnx._rnn_call(ids[:, split:], state) if split < T else (a[:, :0], state)
        np.testing.assert_allclose(np.concatenate([a, b], 1), ref.numpy(), atol=TOL, rtol=0)
        np.testing.assert_allclose(state["h0"], h.numpy(), atol=TOL, rtol=0)
        np.testing.assert_allclose(state["c0"], c.numpy(), atol=TOL, rtol=0)
        rows += B
    assert rows >= 50


# ---------------------------------------------------------------------------------------------- seq2seq
_TRANSFORMER = ["--set", "model.d_model=16", "--set", "model.n_head=2", "--set", "model.d_ff=32",
                "--set", "model.n_enc_layer=1", "--set", "model.n_dec_layer=2"]
SEQ2SEQ = {  # name: flags; "transformer-copy" is --model transformer with the copy head (auto on reversal data)
    "transformer": [*_TRANSFORMER, "--set", "data.copy_source=off"],
    "transformer-copy": _TRANSFORMER,
    "bahdanau": ["--set", "model.hidden=16", "--set", "model.emb_dim=8", "--set", "model.attn_dim=8"],
    "luong": ["--set", "model.hidden=16", "--set", "model.emb_dim=8", "--set", "model.layers=2"],
    "lstm": ["--set", "model.hidden=16", "--set", "model.emb_dim=8"],
    "gru": ["--set", "model.hidden=16", "--set", "model.emb_dim=8"],
    "rnn": ["--set", "model.hidden=16", "--set", "model.emb_dim=8"],
}


@pytest.fixture(scope="module")
def seq2seq_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("seq2seq")
    for name, extra in SEQ2SEQ.items():
        _train(["seq2seq", "--data", "builtin:reverse?n=100", "--model", name.split("-")[0], *extra, "--set", "data.valid_bleu_max=8",
                "--out", d / name])
    return {name: d / name for name in SEQ2SEQ}


@pytest.mark.parametrize("name", list(SEQ2SEQ))
def test_seq2seq_graphs_step_like_pytorch_and_search_gives_seqlabs_tokens(seq2seq_runs, tmp_path, name):
    from seqlab.models.decoding import beam_search, greedy

    run = seqlab.load(seq2seq_runs[name])
    assert (getattr(run.module, "copy", None) is not None) == (name == "transformer-copy")
    manifest = export_run(seq2seq_runs[name], "onnx", tmp_path / "x")
    onnx = _load(tmp_path / "x")
    assert set(manifest["tokenizers"]) == {"src", "tgt"}
    m, tgt = run.module, run.tgt_tok
    rows = 0
    for n, (src, mask) in enumerate(_random_batches(run.src_tok.vocab_size, 1, seed=3)):
        with torch.no_grad():  # two decoder steps, fed the same tokens, compared step by step
            state = m.init_state(m.encode(torch.from_numpy(src), torch.from_numpy(mask)))
        ostate = onnx.init_state(onnx.encode(src, mask))
        tokens = np.full(len(src), tgt.sos_id, np.int64)
        for _ in range(2):
            with torch.no_grad():
                ref, state, _ = m.step(state, torch.from_numpy(tokens))
            got, ostate = onnx.step(ostate, tokens)
            np.testing.assert_allclose(got, ref.numpy(), atol=TOL, rtol=0)
            tokens = ref.numpy().argmax(-1)
        rows += len(src)
        if n % 6:
            continue  # the searches on every sixth batch (batch 1 among them)
        with torch.no_grad():
            want_g = greedy(m, torch.from_numpy(src), torch.from_numpy(mask), tgt.sos_id, tgt.eos_id, max_len_cap=12)
            want_b = beam_search(m, torch.from_numpy(src), torch.from_numpy(mask), tgt.sos_id, tgt.eos_id, beam=3,
                                 n_best=2, max_len_cap=12, length_penalty=onnx.settings["length_penalty"])
        onnx.settings["max_tgt_len"] = 11  # the same cap
        assert [h.tokens for h in onnx.greedy(src, mask)] == [h.tokens for h in want_g]
        got_b = onnx.beam_search(src, mask, beam=3, n_best=2)
        assert [[h.tokens for h in hs] for hs in got_b] == [[h.tokens for h in hs] for hs in want_b]
        assert np.allclose([[h.score for h in hs] for hs in got_b], [[h.score for h in hs] for hs in want_b], atol=1e-4)
    assert rows >= 50
    onnx = _load(tmp_path / "x")
    texts = ["1 2 3 4", "5", "9 8 7 6 5 4 3 2 1 0 1 2"]
    for kw in ({"beam": 1}, {"beam": 4, "n_best": 2}):
        want, got = run.predict(texts, **kw), onnx.translate(texts, **kw)
        for w, g in zip(want, got):  # the same text; scores to rounding
            assert g["translation"] == w["translation"] and abs(g["score"] - w["score"]) <= 2e-4
            assert [h["translation"] for h in g.get("n_best", [])] == [h["translation"] for h in w.get("n_best", [])]


# ---------------------------------------------------------------------------------------------- forecast
FORECAST = ["linear", "nlinear", "dlinear", "sparsetsf", "patchtst", "transformer", "rnn", "lstm", "gru",
            "lstm_seq2seq", "gru_seq2seq"]
FORECAST_SMALL = {"patchtst": ["--set", "model.n_layer=1", "--set", "model.patch_len=8", "--set", "model.stride=8"],
                  "transformer": ["--set", "model.d_model=16", "--set", "model.n_layer=1", "--set", "model.d_ff=32"]}


@pytest.fixture(scope="module")
def forecast_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("forecast")
    for name in FORECAST:
        small = ["--set", "model.hidden=8", "--set", "model.n_layer=1"] if name in ("rnn", "lstm", "gru", "lstm_seq2seq",
                                                                                    "gru_seq2seq") else []
        _train(["forecast", "--data", "builtin:seasonal?n=300", "--target", "load", "--model", name, "--lookback", "24",
                "--horizon", "6", *small, *FORECAST_SMALL.get(name, []), "--out", d / name])
    return {name: d / name for name in FORECAST}


@pytest.mark.parametrize("name", FORECAST)
def test_forecast_graph_equals_pytorch(forecast_runs, tmp_path, name):
    run = seqlab.load(forecast_runs[name])
    manifest = export_run(forecast_runs[name], "onnx", tmp_path / "x")
    onnx = _load(tmp_path / "x")
    L, C = manifest["forecast"]["lookback"], len(manifest["forecast"]["columns"])
    g = np.random.default_rng(4)
    for B in (1, 2, 7, 40):
        x = g.standard_normal((B, L, C)).astype(np.float32)
        with torch.no_grad():
            ref = run.module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(onnx.predict_scaled(x), ref, atol=TOL, rtol=0)
    from seqlab.data.builtin_series import make_series

    df = make_series("seasonal", n=300)
    csv = tmp_path / "s.csv"
    df.to_csv(csv, index=False)
    want = run.forecast(str(csv))
    got = onnx.forecast({c: df[c].tolist() for c in onnx.columns})
    np.testing.assert_allclose(got["forecast"]["load"], want["forecast"]["load"], atol=1e-3, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- torch-free
def test_seqlab_onnx_runs_where_torch_cannot_be_imported(classify_runs, lm_runs, seq2seq_runs, forecast_runs, tmp_path):
    paths = {"clf": classify_runs["gru"], "lm": lm_runs["gpt"], "mt": seq2seq_runs["bahdanau"], "fc": forecast_runs["dlinear"]}
    for key, run in paths.items():
        export_run(run, "onnx", tmp_path / key)
    values = np.sin(np.arange(60, dtype=np.float64) / 4).tolist()
    calls = {"clf": "predict(['classa b c', 'd'])", "lm": "generate(['hel'], 12, greedy=True)",
             "mt": "translate(['1 2 3', '4 5'], beam=3)", "fc": f"forecast({{'load': {values}, 'temp': {values}}})"}
    runners = {k: _load(tmp_path / k) for k in calls}
    want = {"clf": runners["clf"].predict(["classa b c", "d"]), "lm": runners["lm"].generate(["hel"], 12, greedy=True),
            "mt": runners["mt"].translate(["1 2 3", "4 5"], beam=3),
            "fc": runners["fc"].forecast({"load": values, "temp": values})}
    code = "\n".join([
        "import sys, json",
        "sys.modules['torch'] = None  # any `import torch` now raises ImportError",
        "import seqlab.onnx",
        "out = {}",
        *[f"out[{k!r}] = seqlab.onnx.load({str(tmp_path / k)!r}, threads=1).{call}" for k, call in calls.items()],
        "assert not any(m == 'torch' or m.startswith('torch.') for m in sys.modules if sys.modules[m] is not None)",
        "print(json.dumps(out))"])
    src = str(Path(seqlab.__file__).resolve().parents[1])
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": src, "PATH": ""},
                         timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got == json.loads(json.dumps(want))


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_export_int8_overwrite_and_bad_inputs(classify_runs, cli, tmp_path):
    out = tmp_path / "e"
    code, stdout, err = cli("export", classify_runs["lstm"], "--format", "onnx", "--out", out, "--json")
    assert code == 0, err
    info = json.loads(stdout)
    assert {"model.onnx", "seqlab_export.json", "tokenizer.json", "labels.json"} <= set(info["files"])
    manifest = json.loads((out / "seqlab_export.json").read_text())
    assert [i["name"] for i in manifest["graphs"]["model"]["inputs"]] == ["ids", "mask"]
    assert manifest["task"] == "classify" and manifest["config"]["model_name"] == "lstm"
    code, _, err = cli("export", classify_runs["lstm"], "--format", "onnx", "--out", out)
    assert code == 2 and "--overwrite" in err
    code, _, err = cli("export", classify_runs["lstm"], "--format", "onnx", "--out", out, "--overwrite",
                       "--precision", "int8")
    assert code == 0, err
    fp32 = seqlab.load(classify_runs["lstm"]).predict(["classa a b", "classb c"])
    int8 = seqlab.onnx.load(out).predict(["classa a b", "classb c"])
    assert all(abs(a["prob"] - b["prob"]) < 0.05 for a, b in zip(fp32, int8))
    other = tmp_path / "not-an-export"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    code, _, err = cli("export", classify_runs["lstm"], "--format", "onnx", "--out", other, "--overwrite")
    assert code == 2 and "not a seqlab export" in err and (other / "notes.txt").is_file()
    code, _, err = cli("export", classify_runs["lstm"], "--format", "hf", "--out", tmp_path / "hf")
    assert code == 2 and "lstm" in err


def test_cli_export_of_a_model_without_an_export_path(cli, tmp_path):
    _train(["forecast", "--data", "builtin:random_walk?n=300", "--target", "close", "--model", "naive", "--lookback",
            "20", "--horizon", "5", "--out", tmp_path / "naive"])
    code, _, err = cli("export", tmp_path / "naive", "--format", "onnx", "--out", tmp_path / "x")
    assert code == 2 and "naive" in err and "baseline" in err
    assert not (tmp_path / "x").exists()

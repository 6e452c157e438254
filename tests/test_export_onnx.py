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
    onnx = seqlab.onnx.load(tmp_path / "x")
    assert manifest["labels"] == run.labels and (tmp_path / "x" / "tokenizer.json").is_file()
    rows = 0
    for ids, mask in _random_batches(run.tokenizer.vocab_size, manifest["classify"]["min_length"]):
        with torch.no_grad():
            ref = run.module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        got = onnx.logits(ids, mask)
        np.testing.assert_allclose(got, ref, atol=TOL, rtol=0)
        rows += len(ids)
    assert rows >= 50
    texts = ["classa a b c", "b", "", "classb " + "x " * 30]
    want, got = run.predict(texts), onnx.predict(texts)
    assert [w["label"] for w in want] == [g["label"] for g in got]
    for w, g in zip(want, got):
        assert abs(w["prob"] - g["prob"]) < 1e-4

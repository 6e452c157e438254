"""The run folder never executes a file and never deletes what seqlab did not write."""

import json
import os
import pickle
import random
import stat

import numpy as np
import pytest
import torch

from seqlab import statefile
from seqlab.errors import UserError
from seqlab.run import MARKER, RunDir

TINY = ["--model", "gru", "--epochs", "1", "--batch-size", "32", "--precision", "fp32",
        "--set", "model.hidden=8", "--set", "model.embed_dim=8"]


def _malicious_pickle(marker) -> bytes:
    # pickle protocol: call builtins.exec("open(marker,'w').write('pwned')") on load
    code = f"open({str(marker)!r}, 'w').write('pwned')"

    class Payload:
        def __reduce__(self):
            return (exec, (code,))

    return pickle.dumps({"step": 1, "x": Payload()})


def test_a_crafted_state_pt_never_runs(cli, tmp_path, sentiment_csv):
    out, marker = tmp_path / "run", tmp_path / "PWNED"
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, *TINY)
    assert code == 0, err
    (out / "state.safetensors").unlink()
    (out / "state.pt").write_bytes(_malicious_pickle(marker))
    probe = tmp_path / "PROBE"
    pickle.loads(_malicious_pickle(probe))  # the payload is live: unpickling it writes its marker
    assert probe.read_text() == "pwned" and not marker.exists()
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, "--resume")
    assert code == 2 and not marker.exists()
    assert err.count("\n") == 1 and "older seqlab" in err and "cannot be read safely" in err
    # the trained model itself still loads and predicts
    code, stdout, err = cli("predict", out, "superb film")
    assert code == 0, err


def test_state_round_trips_rng_and_optimizer_exactly(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.98))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    random.random()
    np.random.rand()
    state = {"step": 7, "best": float("-inf"), "precision_probe": {"fp32": 1.5}, "optimizer": opt.state_dict(),
             "torch_rng": torch.get_rng_state(), "py_rng": random.getstate(), "np_rng": np.random.get_state()}
    statefile.save(tmp_path / "s.safetensors", state)
    back = statefile.load(tmp_path / "s.safetensors")
    assert back["step"] == 7 and back["best"] == float("-inf") and back["precision_probe"] == {"fp32": 1.5}
    assert back["py_rng"] == random.getstate()
    assert torch.equal(back["torch_rng"], torch.get_rng_state())
    a, b = back["np_rng"], np.random.get_state()
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]
    opt2 = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.9, 0.98))
    opt2.load_state_dict(back["optimizer"])
    for k, v in opt.state_dict()["state"][0].items():
        assert torch.equal(v, opt2.state_dict()["state"][0][k])
    # a damaged state file is one clean error
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(UserError, match="resume state is damaged"):
        statefile.load(tmp_path / "bad.safetensors")


def test_state_stores_tied_weights_and_views_of_one_storage(tmp_path):
    emb = torch.nn.Embedding(5, 3)
    head = torch.nn.Linear(3, 5, bias=False)
    head.weight = emb.weight  # tied, as the GPT's and the seq2seq's embeddings are
    whole = torch.arange(12.0)
    state = {"model": {"emb.weight": emb.weight, "head.weight": head.weight}, "halves": [whole[:6], whole[6:]]}
    statefile.save(tmp_path / "s.safetensors", state)
    back = statefile.load(tmp_path / "s.safetensors")
    assert torch.equal(back["model"]["emb.weight"], emb.weight) and torch.equal(back["model"]["head.weight"], emb.weight)
    assert torch.equal(back["halves"][0], whole[:6]) and torch.equal(back["halves"][1], whole[6:])


def _user_folder(path):
    path.mkdir()
    files = {".bashrc": "alias ll='ls -l'", ".env": "SECRET=1", "package.json": "{}", "results.jsonl": "{}\n",
             "photo.png": "PNG", "weights.pt": "w", "summary.json": "{\"mine\": true}"}
    for name, text in files.items():
        (path / name).write_text(text)
    return files


def test_overwrite_refuses_a_folder_that_is_not_a_run(cli, tmp_path, sentiment_csv):
    out = tmp_path / "home"
    files = _user_folder(out)
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, "--overwrite", *TINY)
    assert code == 2 and "only replaces a seqlab run" in err and ".bashrc" in err and err.count("\n") == 1
    assert {f.name: f.read_text() for f in out.iterdir()} == files


def test_overwrite_replaces_only_the_files_seqlab_wrote(cli, tmp_path, sentiment_csv):
    out = tmp_path / "run"
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, *TINY)
    assert code == 0, err
    manifest = json.loads((out / MARKER).read_text())["files"]
    assert {"config.json", "model.safetensors", "state.safetensors", "tokenizer.json", "metrics.jsonl"} <= set(manifest)
    (out / "notes.txt").write_text("mine")
    (out / "extra.json").write_text("{}")
    n_lines = len((out / "metrics.jsonl").read_text().splitlines())
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, "--overwrite", *TINY)
    assert code == 0, err
    assert (out / "notes.txt").read_text() == "mine" and (out / "extra.json").read_text() == "{}"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == n_lines  # rewritten from scratch, not appended to


def test_overwrite_of_a_run_written_before_the_marker(cli, tmp_path, sentiment_csv):
    out = tmp_path / "old"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"task": "classify", "model_name": "gru"}))
    (out / "state.pt").write_bytes(b"not opened")
    (out / "my.csv").write_text("a,b\n")
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, "--overwrite", *TINY)
    assert code == 0, err
    assert not (out / "state.pt").exists() and (out / "my.csv").read_text() == "a,b\n" and (out / MARKER).is_file()


def test_unwritable_out_is_one_line(cli, tmp_path, sentiment_csv, monkeypatch):
    import pathlib

    def denied(self, *a, **kw):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "mkdir", denied)
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", tmp_path / "ro" / "run", *TINY)
    assert code == 2 and "cannot write there" in err and "Permission denied" in err and err.count("\n") == 1


def test_run_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = RunDir.create(tmp_path / "r")
        run.write_json("config.json", {"task": "classify"})
        run.save_weights("model.safetensors", {"w": torch.zeros(2)})
    finally:
        os.umask(old)
    for name in ("config.json", "model.safetensors", MARKER):
        assert stat.S_IMODE((tmp_path / "r" / name).stat().st_mode) == 0o644, name


def test_damaged_weights_are_one_line(cli, tmp_path, sentiment_csv):
    out = tmp_path / "run"
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, *TINY)
    assert code == 0, err
    data = (out / "model.safetensors").read_bytes()
    (out / "model.safetensors").write_bytes(data[: len(data) // 2])
    code, _, err = cli("predict", out, "superb film")
    assert code == 2 and "model.safetensors" in err and "damaged" in err and err.count("\n") == 1


@pytest.mark.parametrize("content,why", [
    (b"{not json", "not valid JSON"),
    (b'{"kind": "word"}', "vocab"),
    (b'{"kind": "alien", "vocab": []}', "unknown kind"),
    (b'{"kind": "word", "vocab": ["a", "b"]}', "special token"),
    (b'[1, 2]', "JSON object"),
    (b'\xff\xfe\x00garbage', "not valid JSON"),
])
def test_garbage_tokenizer_is_one_line(cli, tmp_path, sentiment_csv, content, why):
    out = tmp_path / "run"
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, *TINY)
    assert code == 0, err
    (out / "tokenizer.json").write_bytes(content)
    code, _, err = cli("predict", out, "superb film")
    assert code == 2 and "tokenizer.json" in err and why in err and err.count("\n") == 1, err


def test_a_failed_overwrite_puts_the_old_run_back(cli, tmp_path, sentiment_csv):
    out = tmp_path / "run"
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, *TINY)
    assert code == 0, err
    before = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    # fp16 on a CPU is refused only once training starts: after --overwrite has set the old run aside
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, "--overwrite", *TINY[:-6],
                       "--precision", "fp16", *TINY[-4:])
    assert code == 2 and "fp16" in err
    after = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    assert after == before and not (out / ".seqlab-replaced").exists()
    code, _, err = cli("predict", out, "superb film")
    assert code == 0, err
    # a successful overwrite drops the old run once the new one has saved its model
    code, _, err = cli("-q", "train", "classify", "--data", sentiment_csv, "--out", out, "--overwrite", *TINY)
    assert code == 0 and not (out / ".seqlab-replaced").exists()


class _Tied(torch.nn.Module):
    def __init__(self, rows=7):
        super().__init__()
        self.emb = torch.nn.Embedding(rows, 5)
        self.head = torch.nn.Linear(5, rows)
        self.head.weight = self.emb.weight  # tied, saved under both names
        self.register_buffer("scale", torch.tensor(2.0))  # a 0-d tensor


def test_weights_load_a_slice_at_a_time_into_the_module(tmp_path, monkeypatch):
    """The run's weights go into the model slice by slice (a few rows per read here) and equal what
    load_state_dict gives, tied weights and 0-d buffers included; the tie stays."""
    import seqlab.run as run_module

    src = _Tied()
    with torch.no_grad():
        src.scale.fill_(3.0)
    run = RunDir.create(tmp_path / "r")
    run.save_weights("model.safetensors", src.state_dict())
    monkeypatch.setattr(run_module, "LOAD_CHUNK_BYTES", 2 * 5 * 4)  # two rows of the embedding per read
    dst = _Tied()
    run.load_weights_into(dst)
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))
    assert dst.head.weight is dst.emb.weight and dst.scale.item() == 3.0


@pytest.mark.parametrize("other,why", [(lambda: _Tied(rows=8), "size mismatch for emb.weight"),
                                       (lambda: torch.nn.Linear(5, 7), "missing key(s): 'weight'")])
def test_weights_that_do_not_fit_the_model_are_one_line(tmp_path, other, why):
    run = RunDir.create(tmp_path / "r")
    run.save_weights("model.safetensors", _Tied().state_dict())
    with pytest.raises(UserError, match="does not fit the model config.json describes") as e:
        run.load_weights_into(other())
    assert why in str(e.value) and "\n" not in str(e.value)

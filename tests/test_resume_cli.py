"""Resume as a new user would: the original command line, killed with SIGKILL after its first checkpoint,
then the same line plus --resume continues the run to the same weights as an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

CMD = ["train", "classify", "--data", "builtin:longrange?distance=8&n=400", "--model", "gru", "--epochs", "6",
       "--seed", "3", "--batch-size", "8", "--precision", "fp32", "--set", "model.hidden=16", "--set", "model.embed_dim=8"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _seqlab(args, **kw):
    return subprocess.run([sys.executable, "-m", "seqlab", "-q", *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=300, **kw)


def _weights(run: Path) -> dict:
    return load_file(str(run / "model.safetensors"))


def test_same_command_plus_resume_continues_after_sigkill(tmp_path):
    whole = tmp_path / "whole"
    assert _seqlab([*CMD, "--out", whole]).returncode == 0
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "seqlab", "-q", *CMD, "--out", str(cut)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    # wait (bounded) for the first finished checkpoint: metrics.jsonl gets its line before the checkpoint is written,
    # so wait for the second line's existence or the last weights of epoch 1 being in place with a state file
    while time.monotonic() < deadline and proc.poll() is None:
        lines = (cut / "metrics.jsonl").read_text().splitlines() if (cut / "metrics.jsonl").is_file() else []
        if len(lines) >= 2:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be interrupted (a very fast machine)")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (cut / "summary.json").is_file() or json.loads((cut / "summary.json").read_text()).get("steps", 0) < 300
    res = _seqlab([*CMD, "--out", cut, "--resume"])
    assert res.returncode == 0, res.stderr
    a, b = _weights(whole), _weights(cut)
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)


def test_resume_refuses_a_changed_setting_and_names_both_values(tmp_path, cli):
    run = tmp_path / "r"
    small = [*CMD[:7], "2", *CMD[8:]]  # --epochs 2
    code, _, err = cli("-q", *small, "--out", run)
    assert code == 0, err
    code, _, err = cli("-q", *small, "--out", run, "--resume", "--seed", "4")
    assert code == 2 and "train.seed (saved 3, given 4)" in err
    code, _, err = cli("-q", *small, "--out", run, "--resume", "--set", "model.hidden=32")
    assert code == 2 and "model.hidden (saved 16, given 32)" in err
    code, _, err = cli("-q", *[a if a != "builtin:longrange?distance=8&n=400" else "builtin:longrange?distance=9&n=400"
                               for a in small], "--out", run, "--resume")
    assert code == 2 and "--data (saved" in err
    # the same line is accepted, and --epochs extends the run
    code, out, err = cli("-q", *small[:7], "3", *small[8:], "--out", run, "--resume", "--json")
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["epochs_done"] == 3

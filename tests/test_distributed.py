"""Distributed training on the CPU (gloo): torchrun's processes train the same model one process trains.

Every test launches real processes (torchrun, ``seqlab train --nproc``, two "nodes" on 127.0.0.1)
with tiny models and one thread each, bounded by a timeout so a hang fails instead of blocking CI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqlab.train.distributed import shard

pytestmark = pytest.mark.slow  # end-to-end runs of several seconds each (deselect with -m "not slow")

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180  # seconds: far above a healthy run (a few seconds), far below a CI job's limit

CLASSIFY = ["classify", "--model", "gru", "--epochs", "2", "--batch-size", "15", "--precision", "fp32", "--seed", "1",
            "--set", "model.hidden=16", "--set", "model.embed_dim=16", "--set", "model.dropout=0",
            "--set", "model.embed_dropout=0", "--set", "train.patience=0"]


def _env(**extra) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"), **extra)
    env.pop("WORLD_SIZE", None)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list, env=None, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env or _env(), capture_output=True, text=True,
                          timeout=timeout)


def seqlab(*args, nproc: int = 1, worker: str = "-m seqlab", env=None) -> subprocess.CompletedProcess:
    """``seqlab -q train ARGS`` on ``nproc`` processes (torchrun --standalone when more than one)."""
    target = worker.split()
    launcher = [sys.executable] if nproc == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                     f"--nproc_per_node={nproc}"]
    return _run([*launcher, *target, "-q", "train", *args], env)


def _ok(p: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    return p


def _weights(run: Path, name: str) -> dict:
    """A run's weight file, or with name "last" the last weights in its resume state."""
    from seqlab import statefile

    return statefile.load(run / "state.safetensors")["model"] if name == "last" else load_file(run / name)


def assert_same_weights(a: Path, b: Path, name="last", tol=1e-5, skip=()):
    wa, wb = _weights(a, name), _weights(b, name)
    assert wa.keys() == wb.keys()
    worst = max((wa[k] - wb[k]).abs().max().item() for k in wa if not any(s in k for s in skip))
    assert worst < tol, f"weights differ by {worst}"
    assert any((wa[k] != 0).any() for k in wa)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from conftest import write_sentiment_csv

    return write_sentiment_csv(tmp_path_factory.mktemp("ddp") / "reviews.csv", n=150)


@pytest.fixture(scope="module")
def one_process(data, tmp_path_factory) -> Path:
    """The reference: the classify run on one process."""
    out = tmp_path_factory.mktemp("one") / "run"
    _ok(seqlab(*CLASSIFY, "--data", data, "--out", out))
    return out


# ---------------------------------------------------------------- the sharding rule (no processes)
def test_shards_cover_the_batch_and_weights_restore_the_global_mean():
    B, W = 7, 3  # not divisible: 2, 2, 3 rows
    batch = {"x": torch.arange(B * 4.0).view(B, 4), "y": torch.arange(B), "reset": torch.tensor(True)}
    parts = [shard(batch, r, W) for r in range(W)]
    assert [len(p["y"]) for p, _ in parts] == [2, 2, 3]
    assert torch.equal(torch.cat([p["x"] for p, _ in parts]), batch["x"])  # in order, each row once
    assert all(p["reset"] is batch["reset"] for p, _ in parts)  # a 0-d flag goes whole to every rank
    per_row = batch["x"].sum(1)  # a per-row loss: the mean of each shard, weighted as DDP averages them
    ddp_mean = sum(w * per_row[p["y"]].mean() for p, w in parts) / W
    assert torch.allclose(ddp_mean, per_row.mean())


def test_a_rank_without_rows_gets_a_zero_weight_stand_in_and_one_process_is_untouched():
    batch = {"x": torch.ones(1, 3)}
    (p0, w0), (p1, w1) = shard(batch, 0, 2), shard(batch, 1, 2)
    assert (len(p0["x"]), w0) == (1, 0.0) and (len(p1["x"]), w1) == (1, 2.0)
    assert shard(batch, 0, 1) == (batch, 1.0)


def test_the_gpu_loss_meter_sums_without_reading_and_catches_divergence_within_its_window():
    from seqlab.errors import UserError
    from seqlab.train.engine import _LossMeter

    eager, lazy = _LossMeter(torch.device("cpu"), 1e-3), _LossMeter(torch.device("cpu"), 1e-3, every=4)
    lazy.lazy = True  # the CUDA bookkeeping, run on CPU tensors
    lazy.reset(0)
    losses = [torch.tensor(x) for x in (0.5, 0.25, 2.0, 1.0, 0.125)]
    for step, loss in enumerate(losses, 1):
        eager.add(loss, step)
        lazy.add(loss, step)
    assert eager.total(5) == lazy.total(5) == 3.875 and eager.n == lazy.n == 5
    lazy.reset(5)
    lazy.add(torch.tensor(1.0), 6)
    lazy.add(torch.tensor(float("nan")), 7)  # not read yet: the GPU keeps running
    with pytest.raises(UserError, match="between steps 6 and 8"):
        lazy.add(torch.tensor(1.0), 8)
    with pytest.raises(UserError, match="at step 1;"):
        _LossMeter(torch.device("cpu"), 1e-3).add(torch.tensor(float("inf")), 1)


def test_nproc_is_taken_out_of_the_command_line_torchrun_repeats():
    from seqlab.cli.launch import without_nproc

    argv = ["-q", "train", "lm", "--nproc", "2", "--data", "x", "--nproc=3", "--out", "r"]
    assert without_nproc(argv) == ["-q", "train", "lm", "--data", "x", "--out", "r"]


# ---------------------------------------------------------------- equivalence with one process
def test_nproc_2_equals_one_process_classify(data, one_process, tmp_path):
    """Global batch 15 on 2 processes (7 + 8 rows) = batch 15 on one: same weights, one writer."""
    out = tmp_path / "two"
    p = _ok(seqlab(*CLASSIFY, "--data", data, "--out", out, "--nproc", "2"))
    assert_same_weights(one_process, out)
    assert_same_weights(one_process, out, "model.safetensors")
    one, two = _metrics(one_process), _metrics(out)
    assert [m["step"] for m in two] == [m["step"] for m in one]  # one metrics line per evaluation: rank 0 alone wrote
    assert [m["accuracy"] for m in two] == [m["accuracy"] for m in one]
    assert all(abs(a["train_loss"] - b["train_loss"]) < 1e-5 for a, b in zip(one, two))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["backend"] == "gloo" and len(summary["devices"]) == 2
    assert json.loads((one_process / "summary.json").read_text())["world_size"] == 1
    assert p.stdout.count("done: stopped by") == 1  # only rank 0 printed the summary


def test_adversarial_training_on_2_processes_equals_one(data, tmp_path):
    """data.adversarial: each text's perturbation is normalised per text, so a rank's share of the batch (its own
    mean loss, then weighted) perturbs every text as the whole batch does on one process."""
    adv = [*CLASSIFY, "--data", data, "--set", "data.adversarial=0.1", "--epochs", "1"]
    one, two = tmp_path / "one", tmp_path / "two"
    _ok(seqlab(*adv, "--out", one))
    _ok(seqlab(*adv, "--out", two, "--nproc", "2"))
    assert_same_weights(one, two)
    assert all(abs(a["train_loss"] - b["train_loss"]) < 1e-5 for a, b in zip(_metrics(one), _metrics(two)))


@pytest.mark.parametrize("model", ["gpt", "gru"])
def test_torchrun_2_equals_one_process_lm(model, tmp_path):
    """lm: GPT blocks, and the stateful GRU whose lanes carry state across batches (the 0-d reset flag)."""
    args = ["lm", "--data", "builtin:hello", "--model", model, "--block-size", "8", "--epochs", "2", "--batch-size", "5",
            "--precision", "fp32", "--set", "train.patience=0"]
    args += (["--set", "model.n_layer=1", "--set", "model.n_embd=16", "--set", "model.n_head=2", "--set", "model.dropout=0"]
             if model == "gpt" else ["--set", "model.hidden=16", "--set", "model.d_emb=8", "--set", "model.dropout=0"])
    _ok(seqlab(*args, "--out", tmp_path / "one"))
    _ok(seqlab(*args, "--out", tmp_path / "two", nproc=2))
    assert_same_weights(tmp_path / "one", tmp_path / "two")
    assert json.loads((tmp_path / "two" / "summary.json").read_text())["world_size"] == 2


def test_token_mean_losses_weighted_by_count_equal_one_process_seq2seq(tmp_path):
    """seq2seq's loss is a mean over target tokens, which the two shards hold in unequal numbers."""
    args = ["seq2seq", "--data", "builtin:reverse?n=160", "--model", "transformer", "--epochs", "1", "--batch-size", "15",
            "--precision", "fp32", "--set", "model.d_model=16", "--set", "model.n_head=2", "--set", "model.d_ff=32",
            "--set", "model.n_enc_layer=1", "--set", "model.n_dec_layer=1", "--set", "model.dropout=0",
            "--set", "data.valid_bleu_max=8"]
    worker, env = f"{ROOT / 'tests' / 'ddp_worker.py'}", _env(SEQLAB_TEST_MEAN_OVER="count")
    _ok(seqlab(*args, "--out", tmp_path / "one", worker=worker, env=env))
    _ok(seqlab(*args, "--out", tmp_path / "two", nproc=2, worker=worker, env=env))
    # attention's key bias has a gradient that is 0 in exact arithmetic (softmax ignores a shift every key
    # shares): AdamW turns its rounding noise into lr-sized steps, different for any other summation order
    assert_same_weights(tmp_path / "one", tmp_path / "two", skip=("W_k.bias",))
    one, two = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert abs(one[-1]["train_loss"] - two[-1]["train_loss"]) < 1e-5 and abs(one[-1]["loss"] - two[-1]["loss"]) < 1e-5


# ---------------------------------------------------------------- resume, failure, several nodes
def test_resumed_distributed_run_equals_uninterrupted_on_another_world_size(data, one_process, tmp_path):
    out = tmp_path / "cut"
    worker = f"{ROOT / 'tests' / 'ddp_worker.py'}"
    crashed = seqlab(*CLASSIFY, "--data", data, "--out", out, nproc=2, worker=worker,
                     env=_env(SEQLAB_TEST_CRASH_AT="12"))  # mid-epoch 2: the checkpoint is the end of epoch 1
    assert crashed.returncode != 0 and "simulated failure" in crashed.stderr
    assert [m["step"] for m in _metrics(out)] == [9]
    _ok(seqlab("classify", "--data", data, "--out", out, "--resume"))  # on one process now
    assert_same_weights(one_process, out)
    assert [m["step"] for m in _metrics(out)] == [m["step"] for m in _metrics(one_process)]


def test_time_budget_is_rank_0s_clock_so_every_rank_stops_at_the_same_step(data, tmp_path):
    """Rank 1's clock runs 20 times faster: deciding alone it would stop long before rank 0 and leave it
    waiting in the all-reduce (the job would fail or time out); rank 0's reading decides for both."""
    args = list(CLASSIFY)
    args[args.index("--epochs") + 1] = "1000"
    out = tmp_path / "budget"
    _ok(seqlab(*args, "--data", data, "--out", out, "--time-budget", "0.03", "--set", "train.eval_every=4", nproc=2,
               worker=f"{ROOT / 'tests' / 'ddp_worker.py'}", env=_env(SEQLAB_TEST_FAST_CLOCK_RANK="1")))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_reason"] == "time_budget" and summary["world_size"] == 2
    assert summary["steps"] == _metrics(out)[-1]["step"] < 9000


def test_a_failing_rank_ends_the_job_with_its_error(data, tmp_path):
    worker = f"{ROOT / 'tests' / 'ddp_worker.py'}"
    p = seqlab(*CLASSIFY, "--data", data, "--out", tmp_path / "r", nproc=2, worker=worker,
               env=_env(SEQLAB_TEST_CRASH_AT="3", SEQLAB_TEST_CRASH_RANKS="1"))
    assert p.returncode != 0  # rank 0, waiting in the all-reduce, was stopped by torchrun: no hang
    assert "simulated failure of rank 1 at step 3" in p.stderr
    assert "ChildFailedError" in p.stderr and "rank" in p.stderr


def test_two_nodes_on_loopback_with_c10d_rendezvous(data, one_process, tmp_path):
    port, out = _free_port(), tmp_path / "nodes"
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1", f"--node_rank={r}",
         "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=seqlab-test",
         "-m", "seqlab", "-q", "train", *CLASSIFY, "--data", str(data), "--out", str(out)],
        cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    try:
        results = [n.communicate(timeout=TIMEOUT) for n in nodes]
    finally:
        for n in nodes:
            n.kill()
    for n, (_, err) in zip(nodes, results):
        assert n.returncode == 0, err[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["backend"] == "gloo"
    assert_same_weights(one_process, out)


# ---------------------------------------------------------------- the GPU path (skipped without CUDA)
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32"])
def test_cuda_training_in_each_precision(data, tmp_path, precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    args = [precision if a == "fp32" else a for a in CLASSIFY]
    p = _ok(seqlab(*args, "--data", data, "--out", tmp_path / "g", "--device", "cuda", "--json"))
    summary = json.loads(p.stdout)
    assert summary["device"].startswith("cuda") and summary["precision"] == precision
    assert all(m["train_loss"] == m["train_loss"] for m in _metrics(tmp_path / "g"))  # finite, not NaN

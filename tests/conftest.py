"""Shared fixtures: small data files the tests make themselves, and an in-process CLI runner."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run ``seqlab ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from seqlab.cli.main import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


class FakeClock:
    """Stands in for ``time`` inside the training engine: every reading advances by ``tick`` seconds,
    so a time budget runs out after a known number of readings, however fast the machine is."""

    def __init__(self, tick: float = 1.0):
        self.now, self.tick = 0.0, tick

    def perf_counter(self) -> float:
        self.now += self.tick
        return self.now


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    """The engine's clock, one second per reading; set ``.tick = 0`` to stop time."""
    import seqlab.train.engine as engine

    clock = FakeClock()
    monkeypatch.setattr(engine, "time", clock)
    return clock


@pytest.fixture(autouse=True, scope="module")
def one_thread(request):
    """Modules that set ``ONE_THREAD = True`` run on one torch thread, their module-scoped trained runs included:
    small models on 2 threads of a busy 2-core machine ran up to 18x slower than on one (measured)."""
    if not getattr(request.module, "ONE_THREAD", False):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def cli(capsys):
    return lambda *args: run_cli(list(args), capsys)


def write_sentiment_csv(path: Path, n: int = 240, seed: int = 0, korean: bool = False) -> Path:
    """A small, learnable sentiment CSV: positive words vs negative words plus filler."""
    rng = random.Random(seed)
    if korean:
        pos, neg = ["최고", "재밌어요", "강추", "감동"], ["최악", "지루해요", "별로", "실망"]
        filler = ["영화", "배우", "연기", "정말", "너무", "이", "그"]
    else:
        pos, neg = ["great", "wonderful", "superb", "loved"], ["awful", "boring", "terrible", "hated"]
        filler = ["the", "movie", "plot", "actors", "was", "really", "a", "film"]
    lines = ["text,label"]
    for i in range(n):
        y = i % 2
        words = [rng.choice(filler) for _ in range(rng.randint(3, 8))]
        words.insert(rng.randint(0, len(words)), rng.choice(pos if y else neg))
        lines.append(f"{' '.join(words)},{'pos' if y else 'neg'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    return write_sentiment_csv(tmp_path / "reviews.csv")


def read_json_stdout(out: str) -> dict:
    return json.loads(out)


def tiny_gpt(**kw):
    """A seeded 2-layer, 32-dim GPT in eval mode (keyword arguments override GPTConfig fields)."""
    from seqlab.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    cfg = dict(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).eval()


def greedy_no_cache(model, prompt, n):
    """Reference decoder: re-run the whole (cropped) sequence for every new token."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            x = torch.tensor([ids[-model.config.block_size:]])
            ids.append(int(model(x)[0, -1].argmax()))
    return ids[len(prompt):]

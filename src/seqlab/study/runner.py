"""What every study shares: its declaration, the context it runs in, its result, and the run loop.

A study is one claim of the lecture notes, stated in Korean (the notes' words) and English, with the
threshold that decides it written down *before* anything runs. ``run(ctx)`` trains real models through
seqlab's engine (``ctx.train``) or measures seqlab's model classes directly, and returns a
:class:`StudyResult` whose verdict is computed from its own numbers:

    holds            the measurement meets the stated threshold
    does not hold    it does not (an honest "no" is a result)
    inconclusive     the measurement could not decide (e.g. no model learned the task at all)

``run_study`` seeds everything, gives the study its own folder ``OUT/NAME/``, times it and returns one
JSON-ready record; ``report.write_report`` turns records into ``index.html`` + ``results.json``.
"""

from __future__ import annotations

import csv
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

log = logging.getLogger(__name__)

VERDICTS = ("holds", "does not hold", "inconclusive")


@dataclass
class StudyResult:
    verdict: str  # one of VERDICTS
    summary: str  # one sentence with the deciding numbers
    columns: list[str]  # the numbers table's header
    rows: list[list]  # the numbers table (values: str, int, float)
    figures: list[str]  # PNG file names inside the study's folder
    explanation: str  # one paragraph: why it comes out this way
    numbers: dict = field(default_factory=dict)  # the measurements the verdict used, by name

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}; got {self.verdict!r}")
        for r in self.rows:
            if len(r) != len(self.columns):
                raise ValueError(f"row {r} has {len(r)} values for {len(self.columns)} columns")


@dataclass
class Study:
    name: str  # the CLI name (kebab-case), e.g. "last-word"
    claim_ko: str  # the notes' words
    claim_en: str  # the same claim in English, as measured
    threshold: str  # the rule that decides the verdict, stated before running
    quick_s: int  # runtime estimate of --quick on 2 idle CPU cores, seconds
    full_s: int  # runtime estimate of the full mode, seconds
    run: Callable[["Context"], StudyResult]


@dataclass
class Context:
    """Where and how a study runs: its folder, the mode, the seed, and helpers to train and save."""

    out: Path  # this study's folder (OUT/NAME)
    quick: bool
    seed: int = 0
    scale: float = 1.0  # test-only size knob (SEQLAB_STUDY_SCALE): multiplies data sizes and steps

    def n(self, quick: int, full: int, minimum: int = 1) -> int:
        """A size for this mode: ``quick`` or ``full``, times the scale, at least ``minimum``."""
        return max(minimum, int(round((quick if self.quick else full) * self.scale)))

    def pick(self, quick, full):
        return quick if self.quick else full

    def path(self, name: str) -> Path:
        p = self.out / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def train(self, task: str, model: str, data: str, name: str, sets: dict | None = None, init: Path | None = None,
              **train) -> dict:
        """Train one run through seqlab's task code (the same path as ``seqlab train``) into runs/NAME.

        ``sets`` is ``{"model": {...}, "data": {...}, "train": {...}}`` as ``--set`` would give;
        ``init`` is a run whose weights start this one (``--init``: fine-tuning from an MLM run); keyword
        arguments are the dedicated flags (epochs, batch_size, lr, seed, precision, time_budget, ...).
        Returns the run's summary; the run is at ``self.run_dir(name)``.
        """
        from ..tasks import get_task
        from ..tasks.base import TrainRequest

        flags = {"seed": self.seed, "precision": "fp32", "device": "cpu", **train}
        sets = {k: dict(v) for k, v in (sets or {}).items() if v}
        req = TrainRequest(task=task, model=model, data=data, out=self.run_dir(name), sets=sets, train_flags=flags,
                           init=str(init) if init else None, overwrite=True)
        return get_task(task).train(req)

    def run_dir(self, name: str) -> Path:
        return self.out / "runs" / name

    def write_csv(self, name: str, header: list[str], rows: list[list]) -> Path:
        """Generated data as a CSV file under data/ (what ``--data`` reads)."""
        p = self.path(f"data/{name}")
        with p.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, delimiter="\t" if name.endswith(".tsv") else ",")
            w.writerow(header)
            w.writerows(rows)
        return p


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def command_for(name: str, quick: bool, seed: int, out: str) -> str:
    return f"seqlab study {name}{' --quick' if quick else ''} --seed {seed} --out {out}"


def run_study(study: Study, out: Path, quick: bool, seed: int = 0, out_label: str | None = None) -> dict:
    """Run one study into ``out/NAME`` and return its record (what results.json holds for it).

    A study that raises is recorded as inconclusive with the error, so ``study all`` goes on."""
    scale = float(os.environ.get("SEQLAB_STUDY_SCALE", "1") or 1)
    folder = out / study.name
    folder.mkdir(parents=True, exist_ok=True)
    ctx = Context(folder, quick, seed, scale)
    seed_everything(seed)
    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    try:
        res = study.run(ctx)
        error = None
    except Exception as e:  # noqa: BLE001 - one failing study must not sink the report
        log.exception("study %s failed", study.name)
        res = StudyResult("inconclusive", f"the study failed: {type(e).__name__}: {e}", [], [], [],
                          "The study raised an error before it could measure; see the message.")
        error = f"{type(e).__name__}: {e}"
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    missing = [f for f in res.figures if not (folder / f).is_file()]
    if missing:
        raise RuntimeError(f"study {study.name} names figures it did not write: {missing}")
    record = {
        "name": study.name, "claim_ko": study.claim_ko, "claim_en": study.claim_en, "threshold": study.threshold,
        "verdict": res.verdict, "summary": res.summary, "columns": res.columns, "rows": res.rows,
        "figures": [f"{study.name}/{f}" for f in res.figures], "explanation": res.explanation,
        "numbers": res.numbers, "command": command_for(study.name, quick, seed, out_label or str(out)),
        "mode": "quick" if quick else "full", "seed": seed, "seconds": round(seconds, 1),
        "estimate_s": study.quick_s if quick else study.full_s, "scale": scale,
    }
    if error:
        record["error"] = error
    log.info("study %s: %s (%.0f s)", study.name, res.verdict, seconds)
    return record

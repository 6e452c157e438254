"""The one training driver: the skeleton every task shares, written once.

    compose (or resume) the config      -> Composed
    check the device and precision      (before any file is touched)
    task.prepare(comp, req, run)        -> Prepared: data read, split, tokenizers fitted, sizes known
    seed, build the model               (a model that cannot be built fails here, before any file)
    create (or replace) the run folder  only now: a bad input never costs an existing run
    write tokenizers, meta.json, config.json
    train with the engine               (or Prepared.fit for baselines)
    evaluate the best checkpoint on the test data, write summary.json
"""

from __future__ import annotations

import logging

import torch

from ..device import autocast, pick_device, resolve_precision
from ..errors import UserError
from ..phases import phase, phase_times
from ..run import RunDir
from ..train import distributed
from ..train.engine import Trainer
from .base import TrainRequest, compose_or_resume

log = logging.getLogger(__name__)


def _check_device(comp) -> torch.device:
    device = pick_device(comp.train.device)
    if comp.train.precision != "auto":
        resolve_precision(comp.train.precision, device)
        autocast(device, comp.train.precision)  # fp16 on a CPU is refused here, not after the old run is gone
    return device


def train(task, req: TrainRequest) -> dict:
    """Train ``req`` for ``task`` (a Task, see :mod:`seqlab.tasks.protocol`); returns the run's summary."""
    comp, run = compose_or_resume(req, task)
    if req.init and not (task.models[comp.model_name].has("pretrained_init")):
        raise UserError(f"--init does not apply to task {task.name} --model {comp.model_name}; it starts a model that "
                        "can load a pre-trained encoder (classify --model bert, from an mlm run)")
    device = _check_device(comp)
    phase_times(reset=True)
    with phase("read and tokenise the data"):
        prep = task.prepare(comp, req, run)
    torch.manual_seed(comp.train.seed)
    with phase("build the model"):
        model = prep.build()
    if run is None:
        run = RunDir.create(req.out, overwrite=req.overwrite)
    for name, tok in prep.tokenizers.items():
        if not (req.resume and run.file(name).is_file()):
            tok.save(run.file(name))
    run.write_json("meta.json", prep.meta)
    sources = {"data": str(req.data), "valid": req.valid and str(req.valid), "test": req.test and str(req.test),
               "init": req.init and str(req.init)}
    run.write_json("config.json", comp.to_json(task.name, {"sources": sources}))

    if prep.fit is not None:
        summary = prep.fit(model, run)
    else:  # the engine times its own phases (precision probe, steps, evaluations) in summary.json
        trainer = Trainer(model, comp.train, run, prep.loss_fn, prep.eval_fn, prep.train_batches, device,
                          verbose=req.verbose, on_progress=prep.on_progress, mean_over=prep.mean_over)
        summary = trainer.fit(resume=req.resume)
    if not distributed.is_main():  # rank 0 evaluates the test data and writes the summary
        return summary
    summary.update(prep.summary_extra)
    summary.update(req.summary_extra)
    if prep.summary_from_best and run.file("best_metrics.json").is_file():
        best = run.read_json("best_metrics.json")
        summary.update({k: best[k] for k in prep.summary_from_best if k in best})
    if prep.test_source:
        with phase("evaluate on the test data"):
            summary["test"] = task.load_run(run, comp.train.device).evaluate(prep.test_source, write=True,
                                                                              **prep.test_options)
    summary["phases_s"] = phase_times()
    run.write_json("summary.json", summary)
    return summary

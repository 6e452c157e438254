"""The training request and config composition every task shares.

Config precedence, lowest first: the model's registry defaults (its config class and presets), a
``--config`` file, ``--set section.key=value``, then the dedicated flags (``--epochs``, ``--text-col``, ...).

``--resume`` reads the run's own config.json back and applies the same request to it: a value equal
to the saved one is accepted (so the original command line plus ``--resume`` continues the run); a
value that differs is refused with both values named, except ``--epochs``, ``--time-budget`` and
``train.max_steps``, which extend (or shorten) the run, and ``--device``, which may change.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import _coerce, _field_types, apply_overrides, from_dict, to_dict
from ..errors import UserError
from ..run import RunDir
from ..train.engine import TrainConfig
from .loaded import LoadedRun  # noqa: F401  (re-exported: seqlab.tasks.base.LoadedRun)

log = logging.getLogger(__name__)

# settings a resumed run may change: they say how long to train, or where, not what
RESUME_MAY_CHANGE = {"epochs", "time_budget", "max_steps", "device"}


@dataclass
class TrainRequest:
    """Everything ``seqlab train`` was asked, before any file is read."""

    task: str
    model: str
    data: str
    out: Path
    valid: str | None = None
    test: str | None = None
    config_file: dict = field(default_factory=dict)  # sections model/data/train from --config
    sets: dict = field(default_factory=dict)  # {"model": {...}, "data": {...}, "train": {...}} from --set
    train_flags: dict = field(default_factory=dict)  # epochs, batch_size, lr, ... (None = not given)
    data_flags: dict = field(default_factory=dict)  # text_col, tokenizer, ... (None = not given)
    init: str | None = None  # a run directory whose weights start this one (fine-tuning)
    resume: bool = False
    overwrite: bool = False
    verbose: bool = False
    summary_extra: dict = field(default_factory=dict)  # recorded in summary.json as given (e.g. --pretrain's run)

    def given(self, section: str, key: str) -> bool:
        """Whether the user set ``section.key`` (by flag, --set or --config) rather than leaving the default."""
        flags = {"train": self.train_flags, "data": self.data_flags}.get(section, {})
        return (flags.get(key) is not None or key in (self.sets.get(section) or {})
                or key in (self.config_file.get(section) or {}))


@dataclass
class Composed:
    model_name: str
    model: Any  # the model's config dataclass
    data: Any  # the task's data config dataclass
    train: TrainConfig

    def to_json(self, task: str, extra: dict | None = None) -> dict:
        return {"task": task, "model_name": self.model_name, "model": to_dict(self.model), "data": to_dict(self.data),
                "train": to_dict(self.train), "seqlab_version": __version__, **(extra or {})}


def _section_overrides(req: TrainRequest, section: str, flags: dict) -> dict:
    merged = {}
    merged.update(req.config_file.get(section) or {})
    merged.update(req.sets.get(section) or {})
    merged.update({k: v for k, v in flags.items() if v is not None})
    return merged


def _flag_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _check_sections(req: TrainRequest, data_cls) -> dict:
    unknown = set(req.config_file) - {"model", "data", "train", "task", "model_name", "seqlab_version", "sources"}
    if unknown:
        raise UserError(f"--config: unknown section(s) {', '.join(sorted(unknown))}; expected model, data, train")
    data_flags = {k: v for k, v in req.data_flags.items() if v is not None}
    fields = {f.name for f in dataclasses.fields(data_cls)}
    for k in data_flags:
        if k not in fields:
            raise UserError(f"{_flag_name(k)} does not apply to task {req.task}; its data options are: "
                            + ", ".join(_flag_name(f) for f in sorted(fields)))
    return data_flags


def choose_model(name: str, task) -> Any:
    """The task's ModelSpec for ``name``; an unknown name lists the valid ones."""
    if name not in task.models:
        raise UserError(f"--model {name}: not a model for task {task.name}; choose one of {', '.join(task.models)}")
    return task.models[name]


def compose(req: TrainRequest, task) -> Composed:
    """The task's defaults for the requested model with the request's config file, --set and flags applied."""
    spec = choose_model(req.model, task)
    data_flags = _check_sections(req, task.data_config)
    model = apply_overrides(spec.default_config(), _section_overrides(req, "model", {}), "model")
    data = apply_overrides(task.data_config(), _section_overrides(req, "data", data_flags), "data")
    train = apply_overrides(task.default_train(req.model), _section_overrides(req, "train", req.train_flags), "train")
    return Composed(req.model, model, data, train)


def restore_composed(run: RunDir, model_cls, data_cls) -> Composed:
    cfg = run.read_json("config.json")
    return Composed(cfg["model_name"], from_dict(model_cls, cfg["model"], "model."), from_dict(data_cls, cfg["data"], "data."),
                    from_dict(TrainConfig, cfg["train"], "train."))


def resume_composed(req: TrainRequest, task) -> tuple[Composed, RunDir]:
    """The saved config of the run in ``--out`` with the request applied; a differing setting is refused."""
    run = RunDir.create(req.out, resume=True)
    saved = run.read_json("config.json")
    if saved.get("task") != task.name:
        raise UserError(f"--resume: {req.out} holds a {saved.get('task')!r} run, not a {task.name} run; "
                        f"use `seqlab train {saved.get('task')} ... --resume` or another --out")
    name = saved.get("model_name", "")
    if req.model and req.model != name:
        raise UserError(f"--resume: the run in {req.out} trains --model {name}; found --model {req.model} "
                        "(drop --model, or start a new run with another --out)")
    spec = choose_model(name, task)
    comp = restore_composed(run, spec.config_cls, task.data_config)
    data_flags = _check_sections(req, task.data_config)
    differ = []
    for section, flags in (("model", {}), ("data", data_flags), ("train", req.train_flags)):
        current = getattr(comp, section)
        types = _field_types(type(current))
        changes = {}
        for k, v in _section_overrides(req, section, flags).items():
            if k not in types:
                apply_overrides(current, {k: v}, section)  # raises the unknown-key error with the valid keys
            new, old = _coerce(v, types[k], f"{section}.{k}"), getattr(current, k)
            if new == old or (isinstance(old, tuple) and tuple(new) == old):
                continue
            if section == "train" and k in RESUME_MAY_CHANGE:
                log.info("--resume: %s.%s %r -> %r", section, k, old, new)
                changes[k] = new
            else:
                differ.append(f"{section}.{k} (saved {old!r}, given {new!r})")
        if changes:
            setattr(comp, section, apply_overrides(current, changes, section))
    sources = saved.get("sources") or {}
    for key, given in (("data", req.data), ("valid", req.valid), ("test", req.test)):
        if given is not None and sources.get(key) is not None and str(given) != sources[key]:
            differ.append(f"--{key} (saved {sources[key]!r}, given {str(given)!r})")
    if differ:
        raise UserError(f"--resume continues the run in {req.out} with its saved settings; these differ: "
                        + "; ".join(differ) + ". Drop them (--epochs and --time-budget may change), "
                        "or start a new run with another --out")
    return comp, run


def compose_or_resume(req: TrainRequest, task) -> tuple[Composed, RunDir | None]:
    """The run's config: composed from the request, or on ``--resume`` read back from the run.

    Returns the config and, on resume, the opened run directory (else None: the driver creates it once
    the data has been read and the model built, so a bad input never touches an existing folder)."""
    if req.resume:
        return resume_composed(req, task)
    return compose(req, task), None

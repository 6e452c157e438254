"""What every task shares: the training request from the CLI, config composition, the loaded run.

Config precedence, lowest first: the task's defaults for the model, a ``--config`` file,
``--set section.key=value``, then the dedicated flags (``--epochs``, ``--text-col``, ...).
On ``--resume`` the run's own config.json is used and new values are refused.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .. import __version__
from ..config import apply_overrides, from_dict, to_dict
from ..device import pick_device
from ..errors import UserError
from ..run import RunDir
from ..train.engine import TrainConfig

log = logging.getLogger(__name__)


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


def compose(req: TrainRequest, model_cfg, data_cfg, train_cfg: TrainConfig) -> Composed:
    """Apply the request's config file, --set and flags to the task's defaults."""
    unknown = set(req.config_file) - {"model", "data", "train", "task", "model_name", "seqlab_version"}
    if unknown:
        raise UserError(f"--config: unknown section(s) {', '.join(sorted(unknown))}; expected model, data, train")
    data_flags = {k: v for k, v in req.data_flags.items() if v is not None}
    fields = {f.name for f in dataclasses.fields(data_cfg)}
    for k in data_flags:
        if k not in fields:
            raise UserError(f"{_flag_name(k)} does not apply to task {req.task}; its data options are: "
                            + ", ".join(_flag_name(f) for f in sorted(fields)))
    model = apply_overrides(model_cfg, _section_overrides(req, "model", {}), "model")
    data = apply_overrides(data_cfg, _section_overrides(req, "data", data_flags), "data")
    train = apply_overrides(train_cfg, _section_overrides(req, "train", req.train_flags), "train")
    return Composed(req.model, model, data, train)


def restore_composed(run: RunDir, model_cls, data_cls) -> Composed:
    cfg = run.read_json("config.json")
    return Composed(cfg["model_name"], from_dict(model_cls, cfg["model"], "model."), from_dict(data_cls, cfg["data"], "data."),
                    from_dict(TrainConfig, cfg["train"], "train."))


def refuse_changes_on_resume(req: TrainRequest) -> None:
    given = [k for k, v in {**req.train_flags, **req.data_flags}.items() if v is not None and k not in ("time_budget", "device")]
    if req.sets or given:
        raise UserError("--resume continues a run with its saved config; drop "
                        + ", ".join([_flag_name(k) for k in given] + (["--set"] if req.sets else []))
                        + " (or start a new run with --out)")


def compose_or_resume(req: TrainRequest, registry: dict, data_cls, default_train: Callable[[str], TrainConfig],
                      presets: dict | None = None) -> tuple[Composed, RunDir | None]:
    """The run's config: composed from the request, or on ``--resume`` read back from the run.

    Returns the config and, on resume, the opened run directory (else None: the task creates it
    once the data has been read, so a bad input never leaves an empty run folder behind).
    ``default_train(model_name)`` gives the task's engine defaults for that model; ``presets[model_name]``,
    where given, the model config's fields that differ from its dataclass defaults for that name.
    """
    if not req.resume:
        cfg_cls, _ = choose_model(req.model, registry, req.task)
        model_cfg = cfg_cls(**(presets or {}).get(req.model, {}))
        return compose(req, model_cfg, data_cls(), default_train(req.model)), None
    refuse_changes_on_resume(req)
    run = RunDir.create(req.out, resume=True)
    cfg_cls = choose_model(run.read_json("config.json")["model_name"], registry, req.task)[0]
    comp = restore_composed(run, cfg_cls, data_cls)
    if req.train_flags.get("time_budget") is not None:  # the one setting a resumed run may change
        comp.train.time_budget = req.train_flags["time_budget"]
    return comp, run


def choose_model(name: str, registry: dict, task: str):
    if name not in registry:
        raise UserError(f"--model {name}: not a model for task {task}; choose one of {', '.join(registry)}")
    return registry[name]


class LoadedRun:
    """A trained run loaded for inference: ``.module`` is the torch.nn.Module, ``.config`` the run's config."""

    task = "base"

    def __init__(self, run: RunDir, module: torch.nn.Module, config: dict, device: str = "auto"):
        self.run = run
        self.config = config
        self.device = pick_device(device)
        self.module = module.to(self.device).eval()

    @property
    def path(self) -> Path:
        return self.run.path

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.module.parameters())
        return f"<seqlab {self.task} run {self.run.path} model={self.config.get('model_name')} params={n:,}>"

"""What a task is: the small protocol every task file implements, and the shapes it hands over.

A task (``tasks/classify.py``, ``tasks/lm.py``, ...) is a module with one object ``TASK`` that has

- ``name``: the task's name (``classify``);
- ``data_config``: its data-options dataclass (the ``data.*`` section of a run's config);
- ``models``: its model registry, ``{name: ModelSpec}``;
- ``default_train(model_name) -> TrainConfig``: the engine defaults for that model;
- ``prepare(comp, req, run) -> Prepared``: read and split the data, fit (or, on resume, reload) the
  tokenizers, and return everything the driver needs to build and train the model. It must not write
  into the run directory (the driver creates it only once everything has been checked);
- ``load_run(run, device) -> LoadedRun``: a trained run for inference (see :mod:`seqlab.tasks.loaded`).

The driver (:func:`seqlab.tasks.driver.train`) owns the skeleton every task shares: compose or resume
the config, prepare, build the model, create the run directory, write config/meta/tokenizers, train
with the engine, evaluate on test data, write the summary. Adding a task is one task file plus one
line in ``seqlab.tasks.TASKS``; adding a model is one model file plus one ``ModelSpec`` line in the
task's registry (see docs/adding-a-task.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from torch import nn

# What a model can do, so that tasks and verbs ask the registry instead of testing names or classes.
CAPABILITIES = {
    "attention": "its decoder attends over the source, and can return the weights (heatmaps)",
    "kv_cache": "decodes one token at a time with a key/value cache (GPT-style generation)",
    "stateful": "a recurrent language model that carries its hidden state across blocks (truncated BPTT)",
    "numeric_inputs": "reads float feature sequences (B, T, input_dim) as well as token ids",
    "pretrained_init": "can start from the encoder of an mlm run (--init RUN)",
    "teacher_forcing_schedule": "a recurrent decoder that can be fed its own predictions in training",
    "no_training": "nothing to learn (a baseline): saved and evaluated as it is",
    "vocab_vectors": "can start its embedding table from word vectors (model.vectors)",
}


@dataclass(frozen=True)
class ModelSpec:
    """One entry of a task's model registry.

    ``build(cfg, **sizes) -> nn.Module``: the task passes the sizes it learned from the data (each task's
    docstring lists them, e.g. classify: vocab_size, n_classes, pad_id). ``presets``: config values this
    registry name fixes on top of ``config_cls``'s defaults (``{"cell": "gru"}``).
    """

    config_cls: type
    build: Callable[..., nn.Module]
    presets: dict = field(default_factory=dict)
    capabilities: frozenset = frozenset()
    description: str = ""
    lr: float | None = None  # learning rate when --lr is not given; None: the task's default

    def __post_init__(self):
        unknown = set(self.capabilities) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown capabilities {sorted(unknown)}; known: {sorted(CAPABILITIES)}")

    def default_config(self) -> Any:
        return self.config_cls(**self.presets)

    def has(self, capability: str) -> bool:
        if capability not in CAPABILITIES:
            raise KeyError(capability)
        return capability in self.capabilities


@dataclass
class Prepared:
    """What ``Task.prepare`` hands the driver: everything needed to build, train and test the model.

    ``build()`` makes the model (the driver seeds torch first, so weights depend on the seed alone);
    ``loss_fn(model, batch) -> (loss, n)``, ``eval_fn(model) -> metrics`` and ``train_batches(epoch)``
    are the engine's three functions (see :mod:`seqlab.train.engine`). ``tokenizers`` are saved by the
    driver under the given file names. ``fit``, when given, replaces the engine (baselines with nothing
    to learn): ``fit(model, run) -> summary``.
    """

    build: Callable[[], nn.Module]
    loss_fn: Callable | None
    eval_fn: Callable | None
    train_batches: Callable[[int], list] | None
    meta: dict
    tokenizers: dict = field(default_factory=dict)  # file name -> Tokenizer
    test_source: str | None = None  # evaluated with the best checkpoint at the end (write=True)
    test_options: dict = field(default_factory=dict)  # extra keyword arguments of that evaluate()
    on_progress: Callable[[float], None] | None = None  # told the training progress in [0, 1] before each step
    summary_extra: dict = field(default_factory=dict)  # copied into summary.json
    summary_from_best: tuple = ()  # keys of best_metrics.json copied into summary.json
    fit: Callable | None = None
    mean_over: str = "rows"  # what loss_fn's mean is over: rows (examples) or count (the n it returns: token means),
                             # so that several processes weight their shards to the whole batch's mean


class Task(Protocol):
    name: str
    data_config: type
    models: dict[str, ModelSpec]
    default_model: str  # what `seqlab train TASK --data X` trains when --model is not given

    def default_train(self, model_name: str): ...

    def prepare(self, comp, req, run) -> Prepared: ...

    def load_run(self, run, device: str = "auto"): ...


class TaskBase:
    """What every task object gets for free: ``train(req)`` through the shared driver."""

    def train(self, req) -> dict:
        from .driver import train

        return train(self, req)

    def default_lr(self, model_name: str, lr: float) -> float:
        """The registry's learning rate for ``model_name`` where its ModelSpec sets one, else ``lr``."""
        spec = self.models.get(model_name)
        return spec.lr if spec is not None and spec.lr is not None else lr

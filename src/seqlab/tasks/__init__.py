"""The tasks seqlab trains, by name. Explicit: one module per task, no directory scanning.

Each module holds one ``TASK`` object implementing :class:`seqlab.tasks.protocol.Task`; adding a task is
one module and one line here (docs/adding-a-task.md).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from ..errors import UserError

# task name -> module; aliases map to the same module
TASKS = {
    "classify": "seqlab.tasks.classify",
    "seq2seq": "seqlab.tasks.seq2seq",
    "translate": "seqlab.tasks.seq2seq",
    "lm": "seqlab.tasks.lm",
    "mlm": "seqlab.tasks.mlm",
    "forecast": "seqlab.tasks.forecast",
    "caption": "seqlab.tasks.caption",
    "embed": "seqlab.tasks.embed",
    "regress": "seqlab.tasks.regress",
}


def available() -> list[str]:
    return [name for name, mod in TASKS.items() if importlib.util.find_spec(mod) is not None]


def get_task(name: str):
    """The task object (``module.TASK``) for a task name."""
    if name not in TASKS or importlib.util.find_spec(TASKS[name]) is None:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(available())}")
    return importlib.import_module(TASKS[name]).TASK


def load(run_dir: str | Path, device: str = "auto"):
    """Load a trained run: dispatch on ``config.json["task"]`` to that task's ``load_run(run, device)``."""
    from ..run import RunDir

    run = RunDir.open(run_dir)
    task = run.read_json("config.json").get("task")
    if task not in TASKS:
        raise UserError(f"{run_dir}: config.json names task {task!r}, which this seqlab does not know "
                        f"({', '.join(available())}); was the run written by a newer seqlab?")
    return get_task(task).load_run(run, device)

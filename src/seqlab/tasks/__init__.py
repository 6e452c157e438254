"""The tasks seqlab trains, by name. Explicit: one module per task, no directory scanning."""

from __future__ import annotations

import importlib
import importlib.util

from ..errors import UserError

# task name -> module; aliases map to the same module
TASKS = {
    "classify": "seqlab.tasks.classify",
    "seq2seq": "seqlab.tasks.seq2seq",
    "translate": "seqlab.tasks.seq2seq",
    "lm": "seqlab.tasks.lm",
    "mlm": "seqlab.tasks.mlm",
    "forecast": "seqlab.tasks.forecast",
}


def available() -> list[str]:
    return [name for name, mod in TASKS.items() if importlib.util.find_spec(mod) is not None]


def get_task(name: str):
    """The task object (``module.TASK``) for a task name."""
    if name not in TASKS or importlib.util.find_spec(TASKS[name]) is None:
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(available())}")
    return importlib.import_module(TASKS[name]).TASK

"""A trained run loaded for inference: the one object the CLI, the Python API, the server and the exporter
talk to, whatever the task.

Every task's loaded run subclasses :class:`LoadedRun` and fills in:

- ``read_inputs(src, id_col=None, **columns) -> (inputs, ids)``: inputs to predict from a file, built-in
  or dataset (``columns`` are the column options in ``column_options``, e.g. ``text_col``);
- ``predict(inputs, **options) -> list[dict]`` with the options listed in ``predict_options``;
- ``evaluate(src, write=False, **options) -> dict`` with ``evaluate_options`` (and ``columns``);
- ``format_prediction(input, prediction) -> str`` and ``format_metrics(metrics) -> list[str]``: how the
  CLI prints them (``--json`` prints the dicts as they are).

The CLI validates flags against ``predict_options`` / ``evaluate_options`` / ``column_options`` and says
which apply, so no verb switches on task names.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ..device import pick_device
from ..errors import UserError

log = logging.getLogger(__name__)

COLUMN_FLAGS = {  # column option -> its flag; which apply depends on the run's task
    "text_col": "--text-col", "label_col": "--label-col", "seq_col": "--seq-col", "src_col": "--src-col",
    "tgt_col": "--tgt-col", "time_col": "--time-col",
}


class LoadedRun:
    """A trained run: ``.module`` is the torch.nn.Module (eval mode), ``.config`` the run's config.json."""

    task = "base"
    predict_options: dict[str, str] = {}  # option -> what it does
    evaluate_options: dict[str, str] = {}
    column_options: tuple[str, ...] = ()

    def __init__(self, run, module: torch.nn.Module, config: dict, device: str = "auto"):
        self.run = run
        self.config = config
        self.device = pick_device(device)
        self.module = module.to(self.device).eval()

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def model_name(self) -> str:
        return self.config.get("model_name", "")

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.module.parameters())
        return f"<seqlab {self.task} run {self.run.path} model={self.model_name} params={n:,}>"

    # ---- what every verb asks
    def check_options(self, verb: str, options: dict) -> dict:
        """Drop unset options; refuse any that ``verb`` does not take for this run, naming those it does."""
        given = {k: v for k, v in options.items() if v is not None}
        allowed = {"predict": self.predict_options, "evaluate": self.evaluate_options}[verb]
        wrong = sorted(set(given) - set(allowed) - set(self.column_options))
        if wrong:
            flags = ", ".join(COLUMN_FLAGS.get(k, "--" + k.replace("_", "-")) for k in wrong)
            fits = [("--" + k.replace("_", "-")) for k in allowed] + [COLUMN_FLAGS[k] for k in self.column_options]
            raise UserError(f"{flags}: not an option of `seqlab {verb}` for a {self.task} run ({self.path}); "
                            f"options that apply: {', '.join(fits) or 'none'}")
        return given

    def read_inputs(self, src: str, id_col: str | None = None, **columns) -> tuple[list, list | None]:
        raise UserError(f"a {self.task} run does not read inputs from --data; give them as arguments")

    def predict(self, inputs, **options) -> list[dict]:
        raise UserError(f"a {self.task} run has no predict")

    def evaluate(self, src: str, write: bool = False, **options) -> dict:
        raise UserError(f"a {self.task} run has no evaluate")

    def format_prediction(self, inp, pred: dict) -> str:
        return json.dumps(pred, ensure_ascii=False)

    def format_metrics(self, metrics: dict) -> list[str]:
        lines = []
        for k, v in metrics.items():
            if isinstance(v, float):
                lines.append(f"{k:>12}  {v:.4f}")
            elif isinstance(v, int) and not isinstance(v, bool):
                lines.append(f"{k:>12}  {v}")
        return lines


def check_texts(texts, what: str = "text") -> list[str]:
    """``texts`` as a list of non-empty strings; anything else is a clear error (a TypeError for wrong types
    from Python, a UserError for empty text)."""
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"expected a list of strings ({what}s); found {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"expected a list of strings ({what}s); item {i} is {type(t).__name__}: {t!r}")
        if not t.strip():
            raise UserError(f"input {i + 1} is empty; expected a non-empty {what} (an empty input has nothing to "
                            "predict from)")
    return list(texts)

"""``seqlab caption RUN IMAGE ...``: ``seqlab predict`` for caption runs, under the verb people look for."""

from __future__ import annotations

import click

from ..errors import UserError
from ..tasks import load
from .options import pop_columns
from .predict_cmd import predict, run_predict


def _caption(run_dir, texts, data, id_col, out, as_json, device, **kwargs):
    task = load(run_dir, device=device).task
    if task != "caption":
        raise UserError(f"{run_dir}: a {task} run does not caption images; use `seqlab predict` (caption needs a caption run)")
    columns = pop_columns(kwargs)
    return run_predict(run_dir, texts, data, as_json, device, out, id_col, kwargs, columns)


caption = click.Command(
    "caption", params=predict.params, callback=_caption,
    help="""Caption each IMAGE (PNG/JPEG; .npy for feature runs) with the caption run in RUN.

    \b
    Examples:
      seqlab caption runs/scenes shapes.png --beam 3
      seqlab caption runs/scenes shapes.png --attention att.png --json
      seqlab caption runs/scenes --data "builtin:scenes?split=heldout&n=20"
    """)

COMMANDS = [caption]

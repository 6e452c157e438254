"""``seqlab translate RUN TEXT ...``: ``seqlab predict`` for seq2seq runs, under the verb people look for."""

from __future__ import annotations

import click

from ..errors import UserError
from ..tasks import load
from .options import pop_columns
from .predict_cmd import predict, run_predict


def _translate(run_dir, texts, data, id_col, out, as_json, device, **kwargs):
    task = load(run_dir, device=device).task
    if task != "seq2seq":
        raise UserError(f"{run_dir}: a {task} run does not translate; use `seqlab predict` (translate needs a seq2seq run)")
    columns = pop_columns(kwargs)
    return run_predict(run_dir, texts, data, as_json, device, out, id_col, kwargs, columns)


translate = click.Command(
    "translate", params=predict.params, callback=_translate,
    help="""Translate each TEXT (or each line of --data / stdin) with the seq2seq run in RUN.

    \b
    Examples:
      seqlab translate runs/m30k "Ein Mann fährt Fahrrad." --beam 5
      seqlab translate runs/ko-en "저는 강사 입니다" --attention attn.png --json
    """)

COMMANDS = [translate]

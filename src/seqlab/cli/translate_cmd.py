"""``seqlab translate RUN TEXT ...``: ``seqlab predict`` for seq2seq runs, under the verb people look for."""

from __future__ import annotations

import click

from ..errors import UserError
from ..run import load
from .predict_cmd import predict


def _translate(run_dir, texts, data, as_json, device, beam=None, n_best=None, attention=None):
    task = load(run_dir).task
    if task != "seq2seq":
        raise UserError(f"{run_dir}: a {task} run does not translate; use `seqlab predict` (translate needs a seq2seq run)")
    return predict.callback(run_dir, texts, data, as_json, device, beam=beam, n_best=n_best, attention=attention)


translate = click.Command(
    "translate", params=predict.params, callback=_translate,
    help="""Translate each TEXT (or each line of --data / stdin) with the seq2seq run in RUN.

    \b
    Examples:
      seqlab translate runs/m30k "Ein Mann fährt Fahrrad." --beam 5
      seqlab translate runs/ko-en "저는 강사 입니다" --attention attn.png --json
    """)

COMMANDS = [translate]

"""``seqlab similar RUN WORD ...``: nearest neighbours and analogies from an embed run (or a word2vec text file)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UserError


@click.command("similar")
@click.argument("run_dir", metavar="RUN")
@click.argument("queries", nargs=-1, required=True, metavar="WORD|a:b::c ...")
@click.option("-k", "--k", "k", type=int, default=10, show_default=True, help="Neighbours (or answers) per query.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {\"results\": [...]} on stdout.")
def similar(run_dir, queries, k, as_json):
    """The K nearest words (cosine) of each WORD, or the answers of an analogy a:b::c (a is to b as c is to ?,
    by 3CosAdd). RUN is a `seqlab train embed` run or a word2vec text file.

    \b
    Examples:
      seqlab similar runs/w2v king queen
      seqlab similar runs/w2v king:queen::man -k 3
      seqlab similar vectors.txt 영화 --json
    """
    if k < 1:
        raise UserError(f"-k must be >= 1; found {k}")
    from ..tasks.embed_run import answer_query, format_answer

    path = Path(run_dir)
    if path.is_file():
        from ..embeddings import WordVectors

        vectors, word = WordVectors.load(path), (lambda w: w)
    else:
        from ..tasks import load

        run = load(run_dir)
        if run.task != "embed":
            raise UserError(f"{run_dir}: a {run.task} run has no word vectors; give an embed run or a word2vec text file")
        vectors, word = run.vectors, run.word
    results = [answer_query(vectors, q, k, word) for q in queries]
    if as_json:
        click.echo(json.dumps({"results": results}, ensure_ascii=False))
    else:
        for r in results:
            click.echo(format_answer(r))


COMMANDS = [similar]

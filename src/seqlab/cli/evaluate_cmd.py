"""``seqlab evaluate RUN --data SRC``: metrics of a trained run on labelled data (any task)."""

from __future__ import annotations

import json

import click

from ..tasks import load
from .options import column_options, device_option, pop_columns


@click.command("evaluate")
@click.argument("run_dir", metavar="RUN")
@click.option("--data", required=True, help="Labelled data: a file, builtin:NAME, or a dataset name (its test split).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object with the metrics on stdout.")
@device_option
@click.option("--backtest", type=int, default=None, metavar="N", help="forecast: errors at N origins through the test part.")
@click.option("--plot", default=None, metavar="FILE.png",
              help="forecast: history, forecast and actuals of the last test window; seq2seq: BLEU by source length.")
@click.option("--beam", type=int, default=None, help="seq2seq: beam width (1 = greedy; default: the run's data.beam).")
@click.option("--no-repeat-ngram", type=int, default=None, metavar="N",
              help="seq2seq: forbid any N-gram twice in an output (0 = off; default: the run's data.no_repeat_ngram).")
@click.option("--length-penalty", type=float, default=None, metavar="ALPHA",
              help="seq2seq: GNMT length penalty of beam search (0 = off; default: the run's data.length_penalty).")
@column_options
def evaluate(run_dir, data, as_json, device, **kwargs):
    """Evaluate the run in RUN on --data.

    \b
    Examples:
      seqlab evaluate runs/sst2-lstm --data sst2 --json
      seqlab evaluate runs/reviews --data test.csv --text-col body --label-col stars
      seqlab evaluate runs/etth1 --data etth1 --backtest 10 --plot test.png
    """
    columns = pop_columns(kwargs)
    loaded = load(run_dir, device=device)
    options = loaded.check_options("evaluate", {**kwargs, **columns})
    metrics = loaded.evaluate(data, **options)
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False))
        return
    for line in loaded.format_metrics(metrics):
        click.echo(line)


COMMANDS = [evaluate]

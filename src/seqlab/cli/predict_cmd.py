"""``seqlab predict RUN [TEXT ...]``: run a trained model on new inputs (any task; the run says how)."""

from __future__ import annotations

import json
import sys

import click

from ..errors import UserError
from ..tasks import load
from .options import column_options, device_option, pop_columns
from .writers import write_records


def read_inputs(loaded, texts, data, id_col, columns) -> tuple[list, list | None]:
    """Inputs from --data (with its ids), TEXT arguments, or standard input lines."""
    if data:
        return loaded.read_inputs(data, id_col=id_col, **columns)
    if columns or id_col:
        raise UserError("--text-col/--id-col and the other column flags read --data files; give --data FILE")
    if texts == ("-",) or (not texts and not sys.stdin.isatty()):
        lines = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not lines:  # an empty pipe or file: say so rather than print zero predictions
            raise UserError("nothing to predict: standard input held no lines; give TEXT arguments, --data FILE, "
                            "or lines on standard input")
        return lines, None
    if not texts:
        raise UserError("nothing to predict: give TEXT arguments, --data FILE, or lines on standard input")
    return list(texts), None


def run_predict(loaded, texts, data, as_json, out, id_col, options, columns) -> None:
    """Predict with an already loaded run and print or write the results."""
    options = loaded.check_options("predict", options)
    loaded.check_options("predict", columns)
    inputs, ids = read_inputs(loaded, texts, data, id_col, columns)
    preds = loaded.predict(inputs, **options)
    records = [{**({"id": ids[k]} if ids else {}), "input": i if isinstance(i, str) else None, **p}
               for k, (i, p) in enumerate(zip(inputs, preds))]
    if out:
        write_records(records, out)
        click.echo(f"{len(records)} predictions written to {out}", err=True)
    if as_json:
        click.echo(json.dumps({"predictions": records}, ensure_ascii=False))
    elif not out:
        for k, (i, p) in enumerate(zip(inputs, preds)):
            click.echo((f"{ids[k]}\t" if ids else "") + loaded.format_prediction(i, p))


@click.command("predict")
@click.argument("run_dir", metavar="RUN")
@click.argument("texts", nargs=-1)
@click.option("--data", default=None, help="Read inputs from a file (or builtin:NAME) instead of arguments.")
@click.option("--id-col", default=None, help="With --data: a column carried through to each prediction as its id "
                                             "(numeric sequences: the sequence id by default).")
@click.option("--out", "out", default=None, metavar="FILE.csv|.jsonl", help="Write the predictions to a new file.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object {\"predictions\": [...]} on stdout.")
@device_option
@click.option("--beam", type=int, default=None, help="seq2seq: beam width (1 = greedy; default: the run's data.beam).")
@click.option("--no-repeat-ngram", type=int, default=None, metavar="N",
              help="seq2seq: forbid any N-gram twice in an output (0 = off; default: the run's data.no_repeat_ngram).")
@click.option("--length-penalty", type=float, default=None, metavar="ALPHA",
              help="seq2seq: GNMT length penalty of beam search (0 = off; default: the run's data.length_penalty).")
@click.option("--n-best", type=int, default=None, help="seq2seq: also list the N best hypotheses.")
@click.option("--attention", default=None, metavar="FILE.png", help="seq2seq: draw the first input's attention heatmap.")
@click.option("--top-k", type=int, default=None, help="mlm: candidates per [MASK] (default 5).")
@click.option("--max-new-tokens", type=int, default=None, help="lm: tokens to continue each text with (default 50).")
@column_options
def predict(run_dir, texts, data, id_col, out, as_json, device, **kwargs):
    """Predict with the run in RUN for each TEXT (or each row of --data, or each stdin line).

    \b
    Examples:
      seqlab predict runs/nsmc "정말 강추 합니다" "시간 낭비였다"
      seqlab predict runs/sst2-lstm --data new_reviews.csv --text-col body --id-col review_id --out preds.csv
      seqlab predict runs/de-en "Ein Hund rennt." --beam 5 --n-best 3
    """
    columns = pop_columns(kwargs)
    run_predict(load(run_dir, device=device), texts, data, as_json, out, id_col, kwargs, columns)


def task_verb(name: str, task: str, does: str, help_: str) -> click.Command:
    """``seqlab predict`` under the verb people look for (translate, caption): the same options, for runs of
    ``task`` only; the run is loaded once."""

    def callback(run_dir, texts, data, id_col, out, as_json, device, **kwargs):
        loaded = load(run_dir, device=device)
        if loaded.task != task:
            raise UserError(f"{run_dir}: a {loaded.task} run does not {does}; use `seqlab predict` ({name} needs a "
                            f"{task} run)")
        columns = pop_columns(kwargs)
        run_predict(loaded, texts, data, as_json, out, id_col, kwargs, columns)

    return click.Command(name, params=predict.params, callback=callback, help=help_)


COMMANDS = [predict]

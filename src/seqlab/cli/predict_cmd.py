"""``seqlab predict RUN [TEXT ...]``: run a trained model on new inputs."""

from __future__ import annotations

import json
import sys

import click

from ..errors import UserError
from ..run import load


def _inputs(loaded, texts, data) -> list:
    if data:
        return loaded.read_inputs(data) if hasattr(loaded, "read_inputs") else _texts_from(loaded, data)
    if texts == ("-",) or (not texts and not sys.stdin.isatty()):
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise UserError("nothing to predict: give TEXT arguments, --data FILE, or lines on standard input")
    return list(texts)


def _texts_from(loaded, data):
    from ..data.sources import parse_source
    from ..tasks.classify import read_examples

    ex = read_examples(parse_source(data), loaded.comp.data, "test", 0, need_labels=False)
    return ex.inputs


def format_classify(inp, pred) -> str:
    shown = inp if isinstance(inp, str) else f"<sequence of {len(inp)} steps>"
    return f"{pred['label']}\t{pred['prob']:.4f}\t{shown}"


def format_seq2seq(inp, pred) -> str:
    lines = [pred["translation"]]
    for h in pred.get("n_best", [])[1:]:
        lines.append(f"  {h['score']:.4f}\t{h['translation']}")
    return "\n".join(lines)


FORMATTERS = {"classify": format_classify, "seq2seq": format_seq2seq}


@click.command("predict")
@click.argument("run_dir", metavar="RUN")
@click.argument("texts", nargs=-1)
@click.option("--data", default=None, help="Read inputs from a file (or builtin:NAME) instead of arguments.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object {\"predictions\": [...]} on stdout.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--beam", type=int, default=None, help="seq2seq: beam width (1 = greedy; default: the run's data.beam).")
@click.option("--n-best", type=int, default=None, help="seq2seq: also list the N best hypotheses.")
@click.option("--attention", default=None, metavar="FILE.png", help="seq2seq: draw the first input's attention heatmap.")
def predict(run_dir, texts, data, as_json, device, beam=None, n_best=None, attention=None):
    """Predict with the run in RUN for each TEXT (or each row of --data, or each stdin line).

    \b
    Examples:
      seqlab predict runs/nsmc "정말 강추 합니다" "시간 낭비였다"
      seqlab predict runs/sst2-lstm --data new_reviews.csv --json
    """
    loaded = load(run_dir)
    inputs = _inputs(loaded, texts, data)
    options = {k: v for k, v in {"beam": beam, "n_best": n_best, "attention": attention}.items() if v is not None}
    if options and loaded.task != "seq2seq":
        raise UserError(f"--beam/--n-best/--attention apply to seq2seq runs; {run_dir} is a {loaded.task} run")
    preds = loaded.predict(inputs, **options)
    if as_json:
        click.echo(json.dumps({"predictions": [{"input": i if isinstance(i, str) else None, **p} for i, p in zip(inputs, preds)]}, ensure_ascii=False))
        return
    fmt = FORMATTERS.get(loaded.task, lambda i, p: json.dumps(p, ensure_ascii=False))
    for i, p in zip(inputs, preds):
        click.echo(fmt(i, p))


COMMANDS = [predict]

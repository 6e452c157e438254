"""``seqlab evaluate RUN --data SRC``: metrics of a trained run on labelled data."""

from __future__ import annotations

import json

import click

from ..errors import UserError
from ..run import load


@click.command("evaluate")
@click.argument("run_dir", metavar="RUN")
@click.option("--data", required=True, help="Labelled data: a file, builtin:NAME, or a dataset name (its test split).")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object with the metrics on stdout.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--backtest", type=int, default=None, metavar="N", help="forecast: errors at N origins through the test part.")
@click.option("--plot", default=None, metavar="FILE.png",
              help="forecast: history, forecast and actuals of the last test window; seq2seq: BLEU by source length.")
@click.option("--beam", type=int, default=None, help="seq2seq: beam width (1 = greedy; default: the run's data.beam).")
def evaluate(run_dir, data, as_json, device, backtest=None, plot=None, beam=None):
    """Evaluate the run in RUN on --data.

    \b
    Examples:
      seqlab evaluate runs/sst2-lstm --data sst2 --json
      seqlab evaluate runs/reviews --data test.csv
    """
    loaded = load(run_dir)
    extra = {k: v for k, v in {"backtest": backtest, "plot": plot, "beam": beam}.items() if v is not None}
    allowed = {"forecast": {"backtest", "plot"}, "seq2seq": {"plot", "beam"}}.get(loaded.task, set())
    if set(extra) - allowed:
        flags = ", ".join(f"--{k}" for k in sorted(set(extra) - allowed))
        raise UserError(f"{flags}: not an option for a {loaded.task} run ({run_dir}); --backtest is for forecast, "
                        f"--beam for seq2seq, --plot for both")
    metrics = loaded.evaluate(data, **extra)
    if as_json:
        click.echo(json.dumps(metrics, ensure_ascii=False))
        return
    for k, v in metrics.items():
        if isinstance(v, float):
            click.echo(f"{k:>12}  {v:.4f}")
        elif isinstance(v, int) and not isinstance(v, bool):
            click.echo(f"{k:>12}  {v}")
    if "per_class" in metrics:
        click.echo(f"{'class':>12}  precision  recall     f1  support")
        for name, r in metrics["per_class"].items():
            click.echo(f"{name:>12}  {r['precision']:9.4f} {r['recall']:7.4f} {r['f1']:6.4f} {r['support']:8d}")
    if "baselines" in metrics:
        from .forecast_cmd import print_comparison

        print_comparison(metrics)
    if "by_length" in metrics:
        click.echo(f"{'src tokens':>12}  {'n':>5}  {'BLEU':>6}  exact")
        for r in metrics["by_length"]:
            click.echo(f"{r['bucket']:>12}  {r['n']:5d}  {r['bleu']:6.2f}  {r['exact_match']:.4f}")


COMMANDS = [evaluate]

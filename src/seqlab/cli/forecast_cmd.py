"""``seqlab forecast RUN --data latest.csv``: forecast beyond the end of the data."""

from __future__ import annotations

import json

import click

from ..errors import UserError
from ..run import load


@click.command("forecast")
@click.argument("run_dir", metavar="RUN")
@click.option("--data", required=True, help="The series up to now: a CSV, builtin:NAME or etth1 (needs the run's columns).")
@click.option("--horizon", type=int, default=None, help="Steps to forecast (default: the run's horizon; longer rolls forward).")
@click.option("--plot", default=None, metavar="FILE.png", help="Draw the recent history and the forecast.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
def forecast(run_dir, data, horizon, plot, as_json, device):
    """Forecast the next steps after the last row of --data with the run in RUN.

    \b
    Examples:
      seqlab forecast runs/stock --data latest.csv --horizon 5 --plot next.png
      seqlab forecast runs/etth1-dlinear --data etth1 --json
    """
    loaded = load(run_dir)
    if loaded.task != "forecast":
        raise UserError(f"expected a forecast run; {run_dir} is a {loaded.task} run (use seqlab predict)")
    res = loaded.forecast(data, horizon=horizon, plot=plot)
    if as_json:
        click.echo(json.dumps(res, ensure_ascii=False))
        return
    for note in res["notes"]:
        click.echo(f"note: {note}", err=True)
    cols = list(res["forecast"])
    click.echo(f"{res['model']} forecast from {res['origin']} (step {res['freq']})")
    click.echo("time".ljust(20) + "".join(c[:14].rjust(15) for c in cols))
    for i, t in enumerate(res["times"]):
        click.echo(t.ljust(20) + "".join(f"{res['forecast'][c][i]:15.4f}" for c in cols))
    if plot:
        click.echo(f"plot written to {res['plot']}")


COMMANDS = [forecast]


def print_comparison(metrics: dict) -> None:
    """The model beside the baselines, then the backtest origins (``seqlab evaluate`` of a forecast run)."""
    keys = ("mse_scaled", "mae_scaled", "mse", "mae", "mape", "smape", "mase")
    rows = {metrics["model"]: metrics, **metrics["baselines"]}
    click.echo(f"{'':>16}" + "".join(k.rjust(11) for k in keys))
    for name, r in rows.items():
        click.echo(f"{name:>16}" + "".join(f"{r.get(k, float('nan')):11.4f}" for k in keys))
    for row in metrics.get("backtest", []):
        click.echo(f"origin {row['origin']}: " + ", ".join(f"{n} mse {r['mse']:.4f}" for n, r in row.items() if n != "origin"))

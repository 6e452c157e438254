"""``seqlab forecast RUN --data latest.csv``: forecast beyond the end of the data."""

from __future__ import annotations

import json

import click

from ..errors import UserError
from ..tasks import load
from .options import device_option


@click.command("forecast")
@click.argument("run_dir", metavar="RUN")
@click.option("--data", required=True, help="The series up to now: a CSV, builtin:NAME or etth1 (needs the run's columns).")
@click.option("--horizon", type=int, default=None, help="Steps to forecast (default: the run's horizon; longer rolls forward).")
@click.option("--time-col", default=None, help="The date/time column (default: the one the run was trained with).")
@click.option("--plot", default=None, metavar="FILE.png", help="Draw the recent history and the forecast.")
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout.")
@device_option
def forecast(run_dir, data, horizon, time_col, plot, as_json, device):
    """Forecast the next steps after the last row of --data with the run in RUN.

    \b
    Examples:
      seqlab forecast runs/stock --data latest.csv --horizon 5 --plot next.png
      seqlab forecast runs/etth1-dlinear --data etth1 --json
    """
    loaded = load(run_dir, device=device)
    if loaded.task != "forecast":
        raise UserError(f"expected a forecast run; {run_dir} is a {loaded.task} run (use seqlab predict)")
    if horizon is not None and horizon < 1:
        raise UserError(f"--horizon: expected a number of steps ≥ 1; found {horizon}")
    res = loaded.forecast(data, horizon=horizon, plot=plot, time_col=time_col)
    if as_json:
        click.echo(json.dumps(res, ensure_ascii=False))
        return
    for note in res["notes"]:
        click.echo(f"note: {note}", err=True)
    from ..tasks.forecast_run import forecast_lines

    for line in forecast_lines(res):
        click.echo(line)
    if plot:
        click.echo(f"plot written to {res['plot']}")


COMMANDS = [forecast]

"""``seqlab demo``: the notes' lessons with real numbers, in a few minutes, no network."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from .. import demo as demo_lib
from ..phases import phase


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("seqlab-demo"), show_default=True, help="Folder for the runs and plots.")
@click.option("--only", type=click.Choice(sorted(demo_lib.SECTIONS)), multiple=True, help="Run only these sections.")
@click.pass_context
def demo(ctx, out, only):
    """Train small models on built-in data and show what the lecture notes claim, measured.

    \b
    Example:
      seqlab demo                    # all sections, under 3 minutes on 2 CPU cores
      seqlab demo --only longrange   # just the RNN-memory lesson
    """
    from rich.console import Console
    from rich.table import Table

    _claim(out)
    console = Console()
    logging.getLogger("seqlab").setLevel(logging.WARNING)
    for name, section in demo_lib.SECTIONS.items():
        if only and name not in only:
            continue
        console.rule(f"[bold]{name}")
        with phase(f"demo {name}", show=not ctx.obj.get("quiet")):  # a spinner on stderr while the section trains
            res = section(out)
        rows = res["rows"]
        if name == "longrange":
            models = list(dict.fromkeys(r["model"] for r in rows))
            dists = list(dict.fromkeys(r["distance"] for r in rows))
            table = Table(title="validation accuracy by distance from the label token to the end (chance = 0.50)")
            table.add_column("model")
            for d in dists:
                table.add_column(f"d={d}", justify="right")
            table.add_column("train s", justify="right")
            for m in models:
                accs = [next(r["accuracy"] for r in rows if r["model"] == m and r["distance"] == d) for d in dists]
                secs = sum(r["seconds"] for r in rows if r["model"] == m)
                table.add_row(m, *[f"{a:.2f}" for a in accs], f"{secs:.0f}")
            console.print(table)
            console.print("The plain RNN answers from h_T = tanh(x_T W_x + h_{T-1} W_h + b): the first token's trace fades with "
                          "every step, so its accuracy falls toward chance as the distance grows. LSTM and GRU carry it in "
                          f"gated state when their keep-gate starts open (forget/update-gate bias {demo_lib.GATE_BIAS:g} here; "
                          "with PyTorch's default init the GRU also stays at chance at distance 40, and an LSTM with "
                          "forget bias 1 at 80: the gradient never reaches the first token). TextCNN and the Transformer "
                          "see every position directly.")
        elif name == "attention":
            table = Table(title="builtin:reverse (up to 12 symbols), the same GRU encoder-decoder with and without attention")
            for col in ("model", "attention", "exact match", "BLEU", "train s"):
                table.add_column(col, justify="left" if col in ("model", "attention") else "right")
            for r in rows:
                table.add_row(r["model"], r["attention"], f"{r['exact_match']:.2f}", f"{r['bleu']:.1f}", f"{r['seconds']:.0f}")
            console.print(table)
            console.print("Without attention the decoder sees the source only through one context vector, the encoder's "
                          "last state; with attention (query = decoder state, keys = values = encoder states) it looks "
                          "back at every source position, and the heatmap shows it reading the source right to left.")
        elif name == "hello":
            r = rows[0]
            console.print(f"HELL -> ELLO: a plain RNN language model reaches next-character accuracy "
                          f"{r['next_char_accuracy']:.2f}; after 'hell' it predicts {r['hell ->']!r}; greedy generation "
                          f"from 'h': {r['sample']!r} ({r['seconds']:.0f} s)")
        elif name == "forecast":
            table = Table(title="next 24 hours of builtin:seasonal, test part (original units; MASE < 1 beats seasonal naive in-sample)")
            for col in ("model", "test MAE", "test MSE", "MASE", "train s"):
                table.add_column(col, justify="left" if col == "model" else "right")
            for r in rows:
                table.add_row(r["model"], f"{r['test_mae']:.3f}", f"{r['test_mse']:.3f}", f"{r['mase']:.2f}", f"{r['seconds']:.0f}")
            console.print(table)
            console.print("naive repeats the last value (tomorrow = today); seasonal_naive repeats the same hour of the previous day. "
                          "A model earns its keep only by beating both.")
        else:
            for r in rows:
                console.print(r)
        if res.get("plot"):
            console.print(f"plot written to [bold]{res['plot']}[/bold]")


DEMO_MARKER = ".seqlab-demo"


def _claim(out: Path) -> None:
    """Use ``out`` for the demo only if it is new, empty or an earlier demo's folder (the demo replaces its plots)."""
    from ..errors import UserError

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is a file; choose a folder name")
    demo_names = {*demo_lib.SECTIONS, "longrange.png", "attention.png", "forecast.png", DEMO_MARKER}
    earlier = (out / DEMO_MARKER).is_file() or (out.is_dir() and {f.name for f in out.iterdir()} <= demo_names)  # before the marker
    if out.is_dir() and any(out.iterdir()) and not earlier:
        shown = ", ".join(sorted(f.name for f in out.iterdir())[:6])
        raise UserError(f"--out {out}: the folder is not empty and not an earlier `seqlab demo` folder (found: {shown}); "
                        "the demo writes runs and plots there: choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / DEMO_MARKER).write_text("seqlab demo output: runs and plots; `seqlab demo --out` may replace them\n", encoding="utf-8")
    except OSError as e:
        raise UserError(f"--out {out}: cannot write there ({e.strerror or type(e).__name__}); choose a folder you can write to") from None


COMMANDS = [demo]

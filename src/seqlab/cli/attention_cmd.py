"""``seqlab attention RUN "text"``: where each token attends, per layer and head."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("attention")
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.argument("text")
@click.option("--layer", type=int, default=None, help="Only this layer (0-based; default: all).")
@click.option("--head", type=int, default=None, help="Only this head (0-based; default: all).")
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Write a heatmap grid to FILE.png.")
@click.option("--json", "as_json", is_flag=True, help="Print tokens and weights as JSON.")
def attention(run_dir, text, layer, head, plot, as_json):
    """Show where each token attends in a Transformer run (classify transformer/bert, mlm, lm gpt).

    \b
    Examples:
      seqlab attention runs/coref "the animal didn't cross the street because it was too tired"
      seqlab attention runs/nsmc-bert "정말 재밌는 영화" --layer 0 --plot attn.png
    """
    from ..attention_maps import attention_maps, plot_maps
    from ..errors import UserError
    from .. import load

    maps = attention_maps(load(run_dir), text)
    L, H = maps.weights.shape[:2]
    for name, v, n in (("--layer", layer, L), ("--head", head, H)):
        if v is not None and not 0 <= v < n:
            raise UserError(f"{name} must be in 0..{n - 1} for this model; got {v}")
    if plot:
        plot_maps(maps, plot, layer, head, title=f"attention: {text[:60]}")
    layers = [layer] if layer is not None else range(L)
    heads = [head] if head is not None else range(H)
    if as_json:
        d = maps.to_json()
        d["weights"] = {f"{li}.{hi}": d["weights"][li][hi] for li in layers for hi in heads}
        if plot:
            d["plot"] = str(plot)
        click.echo(json.dumps(d, ensure_ascii=False))
        return
    for li in layers:
        for hi in heads:
            click.echo(f"layer {li} head {hi}:")
            w = maps.weights[li, hi]
            for q, tok in enumerate(maps.tokens):
                top = w[q].topk(min(3, len(maps.tokens)))
                looks = ", ".join(f"{maps.tokens[k]} {float(p):.2f}" for p, k in zip(top.values, top.indices))
                click.echo(f"  {tok:>12} → {looks}")
    if plot:
        click.echo(f"plot written to {plot}")


COMMANDS = [attention]

"""``seqlab generate RUN``: continue a prompt with a trained (or imported) language model."""

from __future__ import annotations

import json

import click

from ..errors import UserError
from ..models.sampling import GenerationConfig
from ..tasks import load


@click.command("generate")
@click.argument("run_dir", metavar="RUN")
@click.option("--prompt", "prompts", multiple=True, default=None, help="Text to continue (repeatable: a batch). Default: empty.")
@click.option("--max-new-tokens", type=int, default=200, show_default=True, help="Tokens to generate per sample.")
@click.option("--greedy", is_flag=True, help="Always take the most likely token (no sampling).")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="> 0; below 1 sharper, above 1 more random.")
@click.option("--top-k", type=int, default=0, show_default=True, help="Sample among the k most likely tokens (0 = all).")
@click.option("--top-p", type=float, default=1.0, show_default=True, help="Nucleus sampling: in (0, 1].")
@click.option("--repetition-penalty", type=float, default=1.0, show_default=True, help="> 1 discourages repeats.")
@click.option("--stop", "stops", multiple=True, help="Stop a sample when this text appears (repeatable); it is cut off.")
@click.option("--num-samples", type=int, default=1, show_default=True, help="Independent samples per prompt.")
@click.option("--seed", type=int, default=None, help="Sampling seed: the same seed gives the same text.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "int8"]), default="auto", show_default=True,
              help="Decoding precision: auto measures fp32 vs bf16 and keeps the faster; int8 = weight-only int8 weights.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {\"generations\": [...]} instead of streaming.")
def generate(run_dir, prompts, max_new_tokens, greedy, temperature, top_k, top_p, repetition_penalty, stops,
             num_samples, seed, precision, as_json):
    """Generate text from the language model in RUN, streaming it to the terminal.

    \b
    Examples:
      seqlab generate runs/shakespeare --prompt "ROMEO:" --max-new-tokens 300 --top-k 20 --seed 1
      seqlab generate runs/shakespeare --prompt "To be" --greedy --stop "\\n\\n" --json
    """
    try:
        cfg = GenerationConfig(max_new_tokens=max_new_tokens, greedy=greedy, temperature=temperature, top_k=top_k,
                               top_p=top_p, repetition_penalty=repetition_penalty, num_samples=num_samples, seed=seed)
    except ValueError as e:
        raise UserError(f"{e}") from None
    loaded = load(run_dir)
    if not hasattr(loaded, "generate_stream"):
        raise UserError(f"{run_dir}: a {loaded.task} run cannot generate text; expected a run of task lm")
    prompts = list(prompts) or [""]
    stream = len(prompts) * num_samples == 1 and not as_json
    pieces = loaded.generate_stream(prompts, cfg, list(stops), precision=precision)  # checks the prompts first
    if stream:
        click.echo(prompts[0], nl=False)
    for piece in pieces:
        if "done" in piece:
            result = piece
        elif stream:
            click.echo(piece["text"], nl=False)
    if as_json:
        click.echo(json.dumps({"generations": result["done"], "seconds": round(result["seconds"], 4),
                               "tokens_per_s": round(result["tokens_per_s"], 1), "precision": result["precision"]}, ensure_ascii=False))
    elif stream:
        click.echo()
    else:
        for g in result["done"]:
            click.echo(f"--- prompt {prompts.index(g['prompt']) + 1 if g['prompt'] in prompts else '?'}, sample {g['sample'] + 1}")
            click.echo((g["prompt"] or "") + g["text"])


COMMANDS = [generate]

"""``seqlab generate RUN``: continue a prompt with a trained (or imported) language model."""

from __future__ import annotations

import json

import click
import torch

from ..errors import UserError
from ..models.sampling import GenerationConfig
from ..tasks import load


@click.command("generate")
@click.argument("run_dir", metavar="RUN")
@click.option("--prompt", "prompts", multiple=True, default=None, help="Text to continue (repeatable: a batch). Default: empty.")
@click.option("--prompt-ids", "prompt_ids", multiple=True, metavar="ID,ID,...",
              help="A prompt as comma-separated token ids (repeatable), for runs without a tokenizer.json.")
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
def generate(run_dir, prompts, prompt_ids, max_new_tokens, greedy, temperature, top_k, top_p, repetition_penalty, stops,
             num_samples, seed, precision, as_json):
    """Generate text from the language model in RUN, streaming it to the terminal.

    \b
    Examples:
      seqlab generate runs/shakespeare --prompt "ROMEO:" --max-new-tokens 300 --top-k 20 --seed 1
      seqlab generate runs/shakespeare --prompt "To be" --greedy --stop "\\n\\n" --json
      seqlab generate runs/imported-gpt2 --prompt-ids 464,2068,7586 --max-new-tokens 20 --json
    """
    try:
        cfg = GenerationConfig(max_new_tokens=max_new_tokens, greedy=greedy, temperature=temperature, top_k=top_k,
                               top_p=top_p, repetition_penalty=repetition_penalty, num_samples=num_samples, seed=seed)
    except ValueError as e:
        raise UserError(f"{e}") from None
    loaded = load(run_dir)
    if not hasattr(loaded, "generate_stream"):
        raise UserError(f"{run_dir}: a {loaded.task} run cannot generate text; expected a run of task lm")
    if prompts and prompt_ids:
        raise click.UsageError("--prompt and --prompt-ids exclude each other; give text prompts or token-id prompts")
    ids = [_parse_ids(p, _vocab_size(loaded)) for p in prompt_ids] if prompt_ids else None
    prompts = list(prompt_ids) if ids else (list(prompts) or [""])
    stream = len(prompts) * num_samples == 1 and not as_json
    pieces = loaded.generate_stream(prompts, cfg, list(stops), prompt_ids=ids, precision=precision)  # checks the prompts first
    if stream and not ids:
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
        for i, g in enumerate(result["done"]):  # prompt-major, num_samples rows per prompt
            click.echo(f"--- prompt {i // num_samples + 1}, sample {g['sample'] + 1}")
            click.echo((g["prompt"] or "") + g["text"])


def _vocab_size(loaded) -> int | None:
    tok = getattr(loaded, "tokenizer", None)
    if tok is not None:
        return tok.vocab_size
    emb = next((m for m in loaded.module.modules() if isinstance(m, torch.nn.Embedding)), None)
    return emb.num_embeddings if emb is not None else None


def _parse_ids(text: str, vocab: int | None) -> list[int]:
    """``"1, 2,3"`` -> [1, 2, 3], each checked against the model's vocabulary."""
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t != ""]
    except ValueError:
        raise UserError(f"--prompt-ids {text!r}: expected comma-separated integers like 464,2068,7586") from None
    if not ids:
        raise UserError("--prompt-ids: expected at least one token id")
    bad = [i for i in ids if i < 0 or (vocab is not None and i >= vocab)]
    if bad:
        raise UserError(f"--prompt-ids {text!r}: id(s) {', '.join(map(str, bad[:5]))} outside the vocabulary "
                        f"(0..{vocab - 1 if vocab else '?'})")
    return ids


COMMANDS = [generate]

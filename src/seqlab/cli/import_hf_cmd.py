"""``seqlab import-hf PATH --out DIR``: turn a local Hugging Face GPT-2/BERT checkpoint into a seqlab run."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("import-hf")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run directory to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object describing the imported run.")
def import_hf(path, out, overwrite, as_json):
    """Import the Hugging Face checkpoint in PATH (config.json + model.safetensors, and tokenizer.json
    when present) as a seqlab run: GPT2LMHeadModel -> an lm run, BertForMaskedLM/BertModel -> an mlm run.

    \b
    Examples:
      seqlab import-hf ~/models/gpt2 --out runs/gpt2 && seqlab generate runs/gpt2 --prompt "Hello"
      seqlab import-hf ~/models/bert-base-uncased --out runs/bert
      seqlab train classify --data sst2 --model bert --init runs/bert --out runs/sst2-bert
    """
    from ..interop.hf import from_hf

    loaded = from_hf(path, out=out, overwrite=overwrite)
    n = sum(p.numel() for p in loaded.module.parameters())
    info = {"run": str(out), "task": loaded.task, "model": loaded.config["model_name"], "parameters": n,
            "tokenizer": loaded.tokenizer is not None}
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"imported {path} as a {loaded.task} run ({loaded.config['model_name']}, {n:,} parameters"
                   f"{'' if loaded.tokenizer is not None else ', no tokenizer'}) into {out}")


COMMANDS = [import_hf]

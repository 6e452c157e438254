"""``seqlab export RUN --format onnx|hf --out DIR``: a run as ONNX graphs or a Hugging Face model folder."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("export")
@click.argument("run", type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(["onnx", "hf"]), help="onnx graphs or a Hugging Face folder.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Folder to write (created).")
@click.option("--precision", default="fp32", type=click.Choice(["fp32", "int8"]),
              help="ONNX only: int8 = onnxruntime dynamic quantization of the weights.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object describing the export.")
def export(run, fmt, out, precision, overwrite, as_json):
    """Export RUN so it runs without seqlab: ONNX graphs (+ tokenizer, labels, scaler, seqlab_export.json)
    for ONNX Runtime or `seqlab.onnx.load`, or a Hugging Face folder (GPT -> GPT2LMHeadModel, BERT mlm ->
    BertForMaskedLM, classify bert -> BertForSequenceClassification, post-LN seq2seq transformer ->
    MarianMTModel).

    \b
    Examples:
      seqlab export runs/sst2-gru --format onnx --out exports/sst2-gru
      seqlab export runs/shakespeare --format onnx --precision int8 --out exports/shakespeare-int8
      seqlab export runs/shakespeare --format hf --out exports/shakespeare-hf
    """
    from ..export import export_run

    manifest = export_run(run, fmt, out, precision=precision, overwrite=overwrite)
    files = sorted(p.name for p in Path(out).iterdir())
    info = {"run": str(run), "out": str(out), "format": fmt, "precision": precision, "task": manifest["task"],
            "model": manifest["model_name"], "files": files}
    if as_json:
        click.echo(json.dumps(info))
    else:
        click.echo(f"exported {run} ({manifest['task']}, {manifest['model_name']}) as {fmt}"
                   f"{' int8' if precision == 'int8' else ''} to {out}: {', '.join(files)}")


COMMANDS = [export]

"""``seqlab train TASK``: parse, validate, hand off to the task."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from ..config import parse_set, read_config_file
from ..tasks import TASKS, get_task
from ..tasks.base import TrainRequest
from ..train import distributed
from .launch import run_torchrun
from .options import MINUTES

# Dedicated flags for task data options; each is the same as --set data.NAME=VALUE.
# A flag that does not apply to the chosen task is refused with the list of those that do.
DATA_FLAGS = [
    ("--text-col", str, "classify, lm, mlm: the text column"),
    ("--label-col", str, "classify: the label column"),
    ("--teacher", str, "classify: distil from this classify run's soft targets (data.distill_alpha, data.distill_temperature)"),
    ("--tokenizer", click.Choice(["auto", "char", "word", "bpe", "wordpiece", "morpheme"]),
     "tokenizer (classify, lm, mlm; seq2seq: both sides)"),
    ("--max-len", int, "classify/mlm: longest token sequence (longer ones are truncated and counted)"),
    ("--src-col", str, "seq2seq: the source column"),
    ("--tgt-col", str, "seq2seq: the target column"),
    ("--src-tokenizer", click.Choice(["char", "word", "bpe", "wordpiece", "morpheme"]), "seq2seq: source tokenizer"),
    ("--tgt-tokenizer", click.Choice(["char", "word", "bpe", "wordpiece", "morpheme"]), "seq2seq: target tokenizer"),
    ("--max-src-len", int, "seq2seq: longest source in tokens"),
    ("--max-tgt-len", int, "seq2seq: longest target in tokens"),
    ("--block-size", int, "lm: tokens of context per training example"),
    ("--time-col", str, "forecast: the date/time column"),
    ("--target", str, "forecast: target column(s), comma-separated, or 'all'"),
    ("--features", str, "forecast: covariate columns, comma-separated"),
    ("--lookback", int, "forecast: input window length L"),
    ("--horizon", int, "forecast: forecast length H"),
    ("--stride", int, "forecast: step between training windows"),
    ("--season", int, "forecast: season length for seasonal_naive"),
    ("--missing", click.Choice(["error", "ffill", "interpolate"]), "forecast: what to do with missing values"),
]


def _data_flag_options(f):
    for flag, typ, help_ in reversed(DATA_FLAGS):
        f = click.option(flag, type=typ, default=None, help=help_)(f)
    return f


@click.command("train", context_settings={"max_content_width": 100})
@click.argument("task", type=click.Choice(sorted(TASKS)), metavar="TASK")
@click.option("--data", "data", required=True, help="Training data: a file (CSV/TSV/JSONL/TXT, .gz ok), builtin:NAME, or a dataset name.")
@click.option("--valid", default=None, help="Validation data (default: a seeded, stratified 10% of --data, or the dataset's own split).")
@click.option("--test", default=None, help="Test data evaluated with the best checkpoint at the end (default: the dataset's test split).")
@click.option("--model", "model", default=None, help="Model name (default: the task's own, e.g. gru for classify; see `seqlab train --help`).")
@click.option("--out", default=None, type=click.Path(path_type=Path),
              help="Run directory to create (never overwritten without --overwrite; default: a new runs/TASK-DATA[-N]).")
@click.option("--config", "config_file", default=None, help="YAML file with sections model/data/train.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override one config value, e.g. model.hidden=256 (repeatable).")
@click.option("--epochs", type=int, default=None, help="Passes over the training data.")
@click.option("--batch-size", type=int, default=None, help="Examples per step.")
@click.option("--lr", type=float, default=None, help="Peak learning rate.")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same run on the CPU).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None, help="auto picks CUDA when present.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default=None, help="auto measures fp32 vs bf16 and keeps the faster.")
@click.option("--time-budget", type=MINUTES, default=None, metavar="MINUTES", help="Stop cleanly after this many minutes (or 90s, 1.5h), keeping the best checkpoint.")
@click.option("--init", default=None, help="Start from the weights of this run (e.g. an mlm run, for classify --model bert).")
@click.option("--pretrain", type=MINUTES, default=None, metavar="MINUTES",
              help="--model bert: first pre-train the encoder by masked LM on --data's own text for MINUTES (run OUT-mlm), then fine-tune from it.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out from its last checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print the final summary as one JSON object on stdout.")
@click.option("--nproc", type=int, default=None, metavar="N", help="Train on N processes of this machine (through torchrun; see the README).")
@_data_flag_options
@click.pass_context
def train(ctx, task, data, valid, test, model, out, config_file, sets, epochs, batch_size, lr, seed, device, precision,
          time_budget, init, pretrain, resume, overwrite, as_json, **data_flags):
    """Train a model for TASK (classify, seq2seq/translate, lm, mlm, forecast, regress, caption, embed) and save the run in --out.

    \b
    Without --model, each task trains its default: classify/regress gru, seq2seq transformer, lm gpt,
    forecast linear, mlm bert, caption sat, embed skipgram. Without --out, the run goes to a new
    runs/TASK-DATA (runs/TASK-DATA-2, ... if that exists).

    
    Examples:
      seqlab train classify --data reviews.csv
      seqlab train classify --data builtin:longrange?distance=20 --model lstm --out runs/lr
      seqlab train classify --data sst2 --model lstm --out runs/sst2-lstm --time-budget 20
      seqlab train classify --data nsmc --model textcnn --tokenizer morpheme --out runs/nsmc
      seqlab train classify --data reviews.csv --text-col body --label-col stars --model gru \\
          --set model.hidden=256 --epochs 5 --out runs/reviews
      seqlab train translate --data multi30k:de-en --model bahdanau --out runs/de-en
      seqlab train translate --data multi30k:de-en --set data.bpe_dropout=0.1 --out runs/de-en-bpedrop
      seqlab train lm --data tinyshakespeare --model gpt --out runs/shakespeare --time-budget 15m
      seqlab train forecast --data etth1 --target all --model sparsetsf --horizon 336 --out runs/etth1
      seqlab train regress --data builtin:frames --model gru --out runs/frames
      seqlab train caption --data builtin:scenes --model sat --out runs/scenes
      seqlab train embed --data corpus.txt --model skipgram --out runs/w2v
      seqlab train classify --data sst2 --model textcnn --teacher runs/sst2-gru --out runs/distilled
      seqlab train classify --data nsmc --model bert --pretrain 60 --time-budget 30 --out runs/nsmc-bert
      seqlab train classify --data sst2 --set model.layers=2 --set data.adversarial=0.02 --out runs/sst2-adv
    """
    nproc = data_flags.pop("nproc")
    if nproc is not None:  # the same command line, launched on N processes by torchrun
        argv = list(ctx.obj.get("argv") or sys.argv[1:])
        if out is None and not resume:  # every process must write the same run: name it once, here
            argv += ["--out", str(default_out(task, data))]
        ctx.exit(run_torchrun(nproc, argv))
    if out is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise click.UsageError("under torchrun every process needs the same --out; give one (or use seqlab's --nproc)")
    distributed.quiet_other_ranks()  # under torchrun: only rank 0 prints
    file_cfg = read_config_file(config_file) if config_file else {}
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite contradict each other; choose one")
    if out is None:
        if resume:
            raise click.UsageError("--resume needs --out: the run directory to continue")
        out = default_out(task, data)
    model = model or file_cfg.get("model_name")
    if not model and not resume:
        model = get_task("seq2seq" if task == "translate" else task).default_model
        if not ctx.obj.get("quiet"):
            click.echo(f"no --model given: training {model}, the {task} task's default (--model NAME for another)", err=True)
    train_flags = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed, "device": device,
                   "precision": precision, "time_budget": time_budget}
    parsed_sets = parse_set(sets, ("model", "data", "train"))
    req = TrainRequest(task="seq2seq" if task == "translate" else task, model=model or "", data=data, out=out, valid=valid, test=test,
                       config_file=file_cfg, sets={k: v for k, v in parsed_sets.items() if v}, train_flags=train_flags,
                       data_flags=data_flags, init=init, resume=resume, overwrite=overwrite,
                       verbose=not ctx.obj.get("quiet"))
    if pretrain is not None:  # masked-LM pre-training on the task's own text, then fine-tuning from it
        from ..tasks.pretrained import pretrain_first

        req.summary_extra["pretrain"] = pretrain_first(req, pretrain)  # what the starting weights cost
        req.init = req.summary_extra["pretrain"]["run"]
    summary = get_task(req.task).train(req)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
    else:
        _print_summary(summary, out)


def default_out(task: str, data: str) -> Path:
    """runs/TASK-NAME for --data's file stem, dataset or builtin name; -2, -3, ... when that folder exists."""
    name = data.split("?")[0].split(",")[0]
    name = Path(name.split(":", 1)[1] if name.startswith("builtin:") else name.split(":")[0]).name
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.split(".")[0]) or "data"
    base = Path("runs") / f"{task}-{stem}"
    out, k = base, 2
    while out.exists():
        out, k = base.with_name(f"{base.name}-{k}"), k + 1
    return out


def _print_summary(summary: dict, out: Path) -> None:
    best = {k: v for k, v in summary.items() if k.startswith("best_") and k != "best_step"}
    parts = [f"{k[5:]} {v:.4f}" for k, v in best.items() if isinstance(v, (int, float))]
    click.echo(f"done: stopped by {summary['stop_reason']} after {summary['steps']} steps ({summary['epochs_done']} epochs, "
               f"{summary['wall_s']:.0f} s, {summary['tokens_per_s']:,.0f} tokens/s, {summary['precision']}); "
               f"best valid {', '.join(parts)}")
    test = summary.get("test")
    if isinstance(test, dict):
        shown = {k: v for k, v in test.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        click.echo("test: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items()))
    click.echo(f"run saved to {out}")


COMMANDS = [train]

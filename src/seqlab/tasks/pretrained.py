"""Starting a model from another run's weights (``seqlab train ... --init RUN``): today, a BERT classifier
from the encoder of an mlm run (pre-training then fine-tuning, the notes' transfer learning)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from ..data.tokenizers import Tokenizer, load_tokenizer
from ..errors import UserError
from ..run import RunDir

log = logging.getLogger(__name__)


@dataclass
class InitFromMLM:
    tokenizer: Tokenizer
    model_cfg: object  # the classifier config with the pre-trained encoder's shape
    state: dict  # the mlm run's weights


def init_from_mlm(init_dir, model_cfg) -> InitFromMLM:
    """What a model with the ``pretrained_init`` capability takes from an mlm run: its tokenizer, its encoder's
    shape (dropout stays as configured for fine-tuning) and its weights. A run of another task is a UserError."""
    run = RunDir.open(init_dir)
    cfg = run.read_json("config.json")
    if cfg.get("task") != "mlm":
        raise UserError(f"--init {init_dir}: a run of task {cfg.get('task')!r} (model {cfg.get('model_name')}); "
                        "expected an mlm run (seqlab train mlm ..., or seqlab import-hf of a BERT checkpoint)")
    if not run.file("tokenizer.json").is_file():
        raise UserError(f"--init {init_dir}: the run has no tokenizer.json; a classifier needs the pre-training tokenizer")
    tok = load_tokenizer(run.file("tokenizer.json"))
    arch = {k: v for k, v in cfg["model"].items() if k not in ("dropout", "attn_dropout")}
    new_cfg = dataclasses.replace(model_cfg, **arch, cls_id=tok.cls_id, sep_id=tok.eos_id)
    return InitFromMLM(tok, new_cfg, run.load_weights("model.safetensors"))


def pretrain_first(req, minutes: float) -> dict:
    """``seqlab train classify --model bert --pretrain MINUTES``: masked-LM pre-training of the encoder on --data's
    own training text (labels unused) for at most MINUTES into the run folder OUT-mlm, then ``req`` starts from it
    as with ``--init OUT-mlm``. A finished OUT-mlm is reused unless --overwrite. Returns what the summary records:
    ``{"run", "minutes", "wall_s", "best_loss", "reused"}``."""
    from dataclasses import fields

    from ..models.bert import BertConfig
    from . import get_task
    from .base import TrainRequest
    from .mlm import MLMData

    task = get_task(req.task)
    spec = task.models.get(req.model)
    if spec is None or not spec.has("pretrained_init"):
        fits = [n for n, s in task.models.items() if s.has("pretrained_init")]
        raise UserError(f"--pretrain pre-trains a BERT encoder by masked LM, then fine-tunes it; --model {req.model} "
                        f"cannot start from one (use --model {' / '.join(fits) or 'bert'}, or drop --pretrain)")
    if req.init:
        raise UserError("--pretrain and --init both give the starting weights; use one of them")
    if not minutes > 0:
        raise UserError(f"--pretrain takes the minutes of masked-LM pre-training, > 0; found {minutes}")
    out = req.out.parent / f"{req.out.name}-mlm"
    done = out / "summary.json"
    if done.is_file() and not req.overwrite:
        s = RunDir.open(out).read_json("summary.json")
        log.info("--pretrain: reusing the finished pre-training run %s (--overwrite trains it again)", out)
        return {"run": str(out), "minutes": minutes, "wall_s": s.get("wall_s"), "best_loss": s.get("best_loss"),
                "reused": True}
    keep = lambda given, cls: {k: v for k, v in (given or {}).items() if k in {f.name for f in fields(cls)}}  # noqa: E731
    flags = {k: req.train_flags.get(k) for k in ("seed", "device", "precision")}
    mlm = TrainRequest(task="mlm", model="bert", data=req.data, out=out,
                       sets={"model": keep(req.sets.get("model"), BertConfig), "data": keep(req.sets.get("data"), MLMData)},
                       train_flags={**flags, "time_budget": minutes, "epochs": 1000},
                       data_flags=keep(req.data_flags, MLMData), resume=req.resume and out.is_dir() and not done.is_file(),
                       overwrite=req.overwrite, verbose=req.verbose)
    s = get_task("mlm").train(mlm)
    return {"run": str(out), "minutes": minutes, "wall_s": s.get("wall_s"), "best_loss": s.get("best_loss"),
            "reused": False}

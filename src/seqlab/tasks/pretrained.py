"""Starting a model from another run's weights (``seqlab train ... --init RUN``): today, a BERT classifier
from the encoder of an mlm run (pre-training then fine-tuning, the notes' transfer learning)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..data.tokenizers import Tokenizer, load_tokenizer
from ..errors import UserError
from ..run import RunDir


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

"""``seqlab train classify ... --teacher RUN``: the student's loss with a trained classifier's soft targets.

The teacher (any classify run with the student's labels, in the same order) reads the raw training inputs with
its own tokenizer (or scaler) and model; its logits are computed once per training example and cached
(:class:`~seqlab.train.distill.TeacherCache`), then every step mixes them with the labels
(:func:`~seqlab.train.distill.distill_loss`). Training batches carry ``index`` (B,), the examples' positions.
"""

from __future__ import annotations

import logging

from ..errors import UserError
from ..train.distill import TeacherCache, check_labels, distill_loss

log = logging.getLogger(__name__)


def distill_loss_fn(data, labels: list[str], train_inputs: list, device: str = "auto"):
    """loss_fn(model, batch) -> (loss, tokens) for the engine: alpha T² KL(teacher || student) + (1 - alpha) CE."""
    from . import load

    try:
        teacher = load(data.teacher, device=device)
    except UserError as e:
        raise UserError(f"--teacher {data.teacher}: {e}") from None
    if teacher.task != "classify":
        raise UserError(f"--teacher {data.teacher}: a {teacher.task} run; the teacher must be a classify run")
    check_labels(teacher.labels, labels, f"--teacher {data.teacher}")
    cache = TeacherCache(len(train_inputs), lambda idx: teacher.logits([train_inputs[i] for i in idx]))
    log.info("distilling from %s (%s, %d parameters): alpha %.2f, temperature %.2f", data.teacher, teacher.model_name,
             sum(p.numel() for p in teacher.module.parameters()), data.distill_alpha, data.distill_temperature)

    def loss_fn(model, batch):
        logits = model(batch["ids"], batch["mask"]).float()  # (B, K)
        t = cache.get(batch["index"].tolist()).to(logits.device)  # (B, K), the teacher's, computed once
        loss = distill_loss(logits, t, batch["y"], data.distill_alpha, data.distill_temperature)
        return loss, int(batch["mask"].sum())

    loss_fn.cache = cache
    return loss_fn

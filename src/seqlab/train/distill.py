"""Knowledge distillation (Hinton et al. 2015), the recipe behind DistilBERT and TinyBERT's prediction layer.

A trained *teacher* classifier labels every training example with a full distribution; the *student*
learns from those soft targets and from the gold labels:

    p_T = softmax(z_teacher / T),  q_T = softmax(z_student / T)
    loss = alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(softmax(z_student), y)

The T^2 factor keeps the soft term's gradients on the same scale as the hard term's when T changes
(the gradient of the KL term with respect to z_student shrinks as 1/T^2). KL is averaged over the
batch (``batchmean``), CE over the batch too.

Teacher logits do not change while the student trains (the teacher is frozen and runs in eval mode,
no dropout), so :class:`TeacherCache` computes each example's logits once and keys them by the
example's index in the training set.

Shapes: logits (B, K) float, labels (B,) long.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import UserError


@dataclass
class DistillConfig:
    alpha: float = 0.5  # weight of the soft (teacher) term; 1 - alpha weighs the label cross-entropy
    temperature: float = 2.0  # T: softens both distributions; 1 = the plain softmax

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"distill alpha must be in [0, 1]; got {self.alpha}")
        if not self.temperature > 0:
            raise ValueError(f"distill temperature must be > 0; got {self.temperature}")


def distill_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, alpha: float = 0.5,
                 temperature: float = 2.0) -> Tensor:
    """alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels).

    Args:
        student_logits: (B, K) float, gradients flow through these.
        teacher_logits: (B, K) float, treated as constants (detached).
        labels: (B,) long gold class indices.
        alpha: weight of the soft term in [0, 1]; temperature: T > 0.

    Returns:
        a scalar tensor.

    Example::

        >>> s, t = torch.zeros(2, 3), torch.zeros(2, 3)
        >>> float(distill_loss(s, t, torch.tensor([0, 1]), alpha=1.0))   # equal distributions: KL = 0
        0.0
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape")
    T = float(temperature)
    s = student_logits.float()
    t = teacher_logits.detach().float()
    soft = F.kl_div(F.log_softmax(s / T, dim=-1), F.log_softmax(t / T, dim=-1), reduction="batchmean",
                    log_target=True)
    hard = F.cross_entropy(s, labels) if alpha < 1.0 else s.new_zeros(())
    return alpha * T * T * soft + (1.0 - alpha) * hard


def check_labels(teacher_labels: Sequence[str], student_labels: Sequence[str], teacher_path: str = "the teacher") -> None:
    """The teacher's class list must be the student's, in the same order (logit k means the same class).

    Raises UserError naming the differences otherwise.
    """
    t, s = list(map(str, teacher_labels)), list(map(str, student_labels))
    if t == s:
        return
    if sorted(t) == sorted(s):
        raise UserError(f"{teacher_path}: the teacher's labels are the student's in another order "
                        f"(teacher {t}, student {s}); train the student on the teacher's label order")
    only_t, only_s = sorted(set(t) - set(s)), sorted(set(s) - set(t))
    raise UserError(f"{teacher_path}: expected a teacher classify run with the student's labels {s}; found {t} "
                    f"(only in the teacher: {only_t or 'none'}; only in the student's data: {only_s or 'none'}); "
                    f"use a teacher trained on the same label set")


class TeacherCache:
    """Teacher logits per training example, computed once.

    ``compute(indices) -> (len(indices), K) tensor`` runs the teacher on those examples (the caller
    batches, pads and moves to the device). ``get(indices)`` returns the cached rows for a batch,
    computing the missing ones first, so the teacher runs at most once per example over all epochs.
    """

    def __init__(self, n_examples: int, compute: Callable[[list[int]], Tensor]):
        self.n = int(n_examples)
        self.compute = compute
        self.table: Tensor | None = None  # (N, K) float32 on the CPU
        self.have = torch.zeros(self.n, dtype=torch.bool)  # (N,)
        self.calls = 0  # how many examples the teacher has run on (for tests and logs)

    def get(self, indices: Sequence[int]) -> Tensor:
        """(len(indices), K) float32 teacher logits for these training-example indices."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n):
            raise IndexError(f"example index out of range [0, {self.n})")
        missing = idx[~self.have[idx]].unique()
        if missing.numel():
            with torch.no_grad():
                z = self.compute(missing.tolist()).detach().float().cpu()  # (M, K)
            if self.table is None:
                self.table = torch.zeros(self.n, z.shape[-1])
            self.table[missing] = z
            self.have[missing] = True
            self.calls += int(missing.numel())
        return self.table[idx]

    def fill(self, batch_size: int = 256) -> None:
        """Compute every example's logits now (e.g. before the first epoch)."""
        for start in range(0, self.n, batch_size):
            self.get(range(start, min(self.n, start + batch_size)))

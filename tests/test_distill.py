"""Distillation loss against a hand computation, the label check, and the teacher-logit cache."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqlab.errors import UserError
from seqlab.train.distill import DistillConfig, TeacherCache, check_labels, distill_loss


def _softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    return [v / sum(e) for v in e]


def test_loss_matches_hand_computation():
    s = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    t = [[2.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    y = [1, 2]
    alpha, T = 0.3, 2.5
    kl, ce = 0.0, 0.0
    for si, ti, yi in zip(s, t, y):
        p = _softmax([v / T for v in ti])
        q = _softmax([v / T for v in si])
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
        ce += -math.log(_softmax(si)[yi])
    want = alpha * T * T * kl / 2 + (1 - alpha) * ce / 2
    got = distill_loss(torch.tensor(s), torch.tensor(t), torch.tensor(y), alpha=alpha, temperature=T)
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_alpha_ends():
    torch.manual_seed(0)
    s, t, y = torch.randn(4, 5), torch.randn(4, 5), torch.randint(0, 5, (4,))
    assert float(distill_loss(s, t, y, alpha=0.0)) == pytest.approx(float(F.cross_entropy(s, y)), rel=1e-6)
    assert float(distill_loss(s, s.clone(), y, alpha=1.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distill_loss(s, t, y, alpha=1.0)) > 0


def test_teacher_is_not_differentiated():
    s = torch.randn(3, 4, requires_grad=True)
    t = torch.randn(3, 4, requires_grad=True)
    distill_loss(s, t, torch.tensor([0, 1, 2])).backward()
    assert s.grad is not None and t.grad is None


def test_config_validation():
    with pytest.raises(ValueError):
        DistillConfig(alpha=1.5)
    with pytest.raises(ValueError):
        DistillConfig(temperature=0)


def test_label_check():
    check_labels(["neg", "pos"], ["neg", "pos"])
    with pytest.raises(UserError, match="another order"):
        check_labels(["pos", "neg"], ["neg", "pos"])
    with pytest.raises(UserError, match="only in the teacher: \\['neutral'\\]"):
        check_labels(["neg", "neutral", "pos"], ["neg", "pos"])


def test_cache_runs_teacher_once_per_example():
    table = torch.arange(20, dtype=torch.float32).view(10, 2)
    seen = []

    def compute(idx):
        seen.extend(idx)
        return table[idx]

    cache = TeacherCache(10, compute)
    assert torch.equal(cache.get([3, 1, 3]), table[[3, 1, 3]])
    assert torch.equal(cache.get([1, 7]), table[[1, 7]])
    cache.fill(batch_size=4)
    assert sorted(seen) == list(range(10)) and cache.calls == 10
    assert torch.equal(cache.get(range(10)), table)

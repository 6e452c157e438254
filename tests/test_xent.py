"""seqlab.train.xent.cross_entropy equals F.cross_entropy (values and gradients) in every case it takes."""

import pytest
import torch
import torch.nn.functional as F

from seqlab.train import xent


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("slice_", [64, 1 << 19])  # many slices (and a ragged last one) or a single one
def test_matches_torch(monkeypatch, dtype, eps, slice_):
    monkeypatch.setattr(xent, "SLICE", slice_)
    g = torch.Generator().manual_seed(1)
    N, V = 37, 29
    x0 = (torch.randn(N, V, generator=g) * 3).to(dtype)
    y = torch.randint(0, V, (N,), generator=g)
    y[::5] = 3  # rows to ignore
    ref_x, x = x0.clone().requires_grad_(), x0.clone().requires_grad_()
    ref = F.cross_entropy(ref_x.float(), y, ignore_index=3, label_smoothing=eps)
    got = xent.cross_entropy(x, y, ignore_index=3, label_smoothing=eps)
    (ref * 2.5).backward()
    (got * 2.5).backward()
    assert got.dtype == torch.float32 and x.grad.dtype == dtype
    assert torch.allclose(got, ref, rtol=1e-6, atol=1e-6)
    tol = 1e-7 if dtype == torch.float32 else 4e-3 * ref_x.grad.abs().max().item()
    assert torch.allclose(x.grad.float(), ref_x.grad.float(), rtol=0, atol=tol)
    assert (x.grad[::5] == 0).all()


def test_no_ignored_rows_and_all_ignored():
    x = torch.randn(4, 6)
    y = torch.tensor([0, 1, 2, 5])
    assert torch.allclose(xent.cross_entropy(x, y), F.cross_entropy(x, y), atol=1e-6)
    assert xent.cross_entropy(x, y, ignore_index=-100, label_smoothing=0.2).isfinite()
    assert xent.cross_entropy(x, torch.full((4,), 7), ignore_index=7).isnan()  # as F.cross_entropy: 0 / 0


def test_shapes_refused():
    with pytest.raises(ValueError, match=r"expected logits \(N, V\)"):
        xent.cross_entropy(torch.randn(2, 3, 4), torch.zeros(2, 3, dtype=torch.long))

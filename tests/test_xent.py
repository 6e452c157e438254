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


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_native_kernel_equals_the_pytorch_slices(monkeypatch, dtype):
    from seqlab.native import xent as native

    if not native.takes(torch.zeros(1, 1)):
        pytest.skip("no C compiler here")
    g = torch.Generator().manual_seed(2)
    N, V = 300, 1003
    x = (torch.randn(N, V, generator=g) * 4).to(dtype)
    x[7, 5] = 30.0  # a row dominated by one logit
    y = torch.randint(0, V, (N,), generator=g)
    w = torch.rand(N, generator=g)
    w[::3] = 0  # ignored rows
    for threads in (1, 2):
        torch.set_num_threads(threads)
        lse, loss = native.forward(x, y, 0.1)
        ref_lse, ref_loss = xent._forward_slices(x, y, 0.1)
        assert torch.allclose(lse, ref_lse, rtol=1e-6, atol=1e-5) and torch.allclose(loss, ref_loss, rtol=1e-6, atol=1e-5)
        grad = native.backward(x, y, 0.1, lse, w)
        before = x.clone()
        ref = xent._backward_slices(x, y, 0.1, lse, w)
        assert torch.equal(x, before)  # the logits are read, never written
        assert grad.dtype == dtype and (grad[::3] == 0).all()
        tol = (1e-6 if dtype == torch.float32 else 4e-3) * ref.float().abs().max().item()  # exp to ~2e-7; bf16 rounding
        assert torch.allclose(grad.float(), ref.float(), rtol=0, atol=tol)
        if threads == 1:
            one = grad
        else:
            assert torch.equal(one, grad)  # the same bits for any thread count


def test_a_target_out_of_range_is_an_error_not_a_wrong_loss():
    with pytest.raises(IndexError, match="Target 9 is out of bounds"):
        xent.cross_entropy(torch.randn(3, 5), torch.tensor([0, 9, 1]))
    assert xent.cross_entropy(torch.randn(3, 5), torch.tensor([0, 9, 1]), ignore_index=9).isfinite()


def test_int32_targets_read_as_int64():
    x, y = torch.randn(6, 9), torch.tensor([0, 8, 3, 3, 1, 2])
    assert torch.allclose(xent.cross_entropy(x, y.int(), label_smoothing=0.1),
                          F.cross_entropy(x, y, label_smoothing=0.1), atol=1e-6)

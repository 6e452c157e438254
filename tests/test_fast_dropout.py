"""The CPU dropout and written-out attention agree with torch's: same distribution, same math."""

import pytest
import torch
import torch.nn.functional as F

from seqlab.models.fast_dropout import EXPLICIT_MAX_KEYS, Dropout, attention, dropout, explicit_attention, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_mask_drops_a_fraction_p_and_rescales(p):
    torch.manual_seed(0)
    m = keep_mask((200, 1000), p, torch.float32)
    values = m.unique()
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / (1 - p))
    dropped = (m == 0).float().mean().item()
    assert abs(dropped - p) < 4 * (p * (1 - p) / m.numel()) ** 0.5 + 2e-5  # 4 standard errors
    assert m.mean().item() == pytest.approx(1.0, abs=0.01)  # unbiased: E[mask] = 1


def test_keep_mask_elements_are_independent_of_their_neighbours():
    """Elements that share a 64-bit random word must not be correlated."""
    torch.manual_seed(1)
    keep = (keep_mask((300_000,), 0.5, torch.float32) > 0).float()
    for lag in (1, 2, 3, 4):
        a, b = keep[:-lag] - keep.mean(), keep[lag:] - keep.mean()
        corr = (a * b).mean() / keep.var()
        assert abs(corr.item()) < 0.01, lag


def test_same_seed_same_mask():
    torch.manual_seed(5)
    a = keep_mask((64, 64), 0.3, torch.float32)
    torch.manual_seed(5)
    assert torch.equal(a, keep_mask((64, 64), 0.3, torch.float32))


def test_dropout_module_train_eval_and_gradient():
    x = torch.randn(8, 50, requires_grad=True)
    layer = Dropout(0.25)
    assert torch.equal(layer.eval()(x), x)
    torch.manual_seed(2)
    y = layer.train()(x)
    torch.manual_seed(2)
    m = keep_mask((8, 50), 0.25, torch.float32)
    assert torch.equal(y, x * m)
    y.sum().backward()
    assert torch.equal(x.grad, m)
    assert torch.equal(dropout(x, 0.0, True), x)
    with pytest.raises(ValueError):
        Dropout(1.5)


def _qkv(B=2, H=3, T=5, S=7, D=4, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(B, H, n, D, generator=g, dtype=dtype).requires_grad_() for n in (T, S, S)]


@pytest.mark.parametrize("case", ["none", "causal", "padding", "padding_causal", "fully_masked_row"])
def test_explicit_attention_equals_sdpa_values_and_gradients(case):
    T = S = 6 if "causal" in case else None
    q, k, v = _qkv(T=T or 5, S=S or 7)
    S = k.shape[-2]
    mask = None
    if case != "none" and case != "causal":
        mask = torch.ones(2, 1, 1, S, dtype=torch.bool)
        mask[1, ..., S - 2:] = False  # the second sequence's last two keys are padding
        if case == "fully_masked_row":
            mask = mask.expand(2, 1, q.shape[-2], S).clone()
            mask[0, 0, 1] = False  # query 1 of sequence 0 may attend to nothing
    causal = "causal" in case
    ours = explicit_attention(q, k, v, mask, causal)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(ref)
    grads = torch.autograd.grad(ours, (q, k, v), g)
    ref_grads = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_attention_dropout_falls_on_the_weights():
    q, k, v = _qkv()
    torch.manual_seed(3)
    y = attention(q, k, v, dropout_p=0.2, training=True)
    torch.manual_seed(3)
    m = keep_mask((2, 3, 5, 7), 0.2, torch.float32)
    w = torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1)  # sqrt(D) = 2
    torch.testing.assert_close(y, (w * m) @ v, atol=1e-5, rtol=1e-5)
    # evaluation: no dropout, exactly SDPA
    assert torch.equal(attention(q, k, v, dropout_p=0.2, training=False), F.scaled_dot_product_attention(q, k, v))


def test_bf16_attention_keeps_bf16_matmuls_and_stays_close_to_fp32():
    q, k, v = _qkv(T=16, S=16, D=32)
    ours = explicit_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), None, True)
    assert ours.dtype == torch.bfloat16
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(ours.float(), ref, atol=3e-2, rtol=3e-2)


@pytest.mark.parametrize("S", [16, EXPLICIT_MAX_KEYS, EXPLICIT_MAX_KEYS + 72])
def test_bf16_training_without_dropout_runs_the_faster_path_and_matches_sdpa(S):
    """Up to EXPLICIT_MAX_KEYS keys bf16 training attention is written out (the fused kernel's bf16 backward
    is slower there), beyond it SDPA; either way values and gradients match fp32 SDPA to bf16 precision,
    and evaluation is SDPA itself."""
    q, k, v = (t.detach() for t in _qkv(B=2, H=2, T=S, S=S, D=32))
    qb, kb, vb = (t.bfloat16().requires_grad_() for t in (q, k, v))
    ours = attention(qb, kb, vb, is_causal=True, dropout_p=0.0, training=True)
    with torch.no_grad():
        expected = (explicit_attention(qb, kb, vb, None, True) if S <= EXPLICIT_MAX_KEYS
                    else F.scaled_dot_product_attention(qb, kb, vb, is_causal=True))
    assert ours.dtype == torch.bfloat16 and torch.equal(ours, expected)
    q32, k32, v32 = (t.requires_grad_() for t in (q, k, v))
    ref = F.scaled_dot_product_attention(q32, k32, v32, is_causal=True)
    torch.testing.assert_close(ours.float(), ref, atol=3e-2, rtol=3e-2)
    g = torch.randn(ref.shape, generator=torch.Generator().manual_seed(1))
    for a, b in zip(torch.autograd.grad(ours, (qb, kb, vb), g.bfloat16()), torch.autograd.grad(ref, (q32, k32, v32), g)):
        torch.testing.assert_close(a.float(), b, atol=6e-2, rtol=6e-2)
    with torch.no_grad():
        assert torch.equal(attention(qb, kb, vb, is_causal=True, training=False),
                           F.scaled_dot_product_attention(qb, kb, vb, is_causal=True))


def test_no_model_uses_torch_dropout_directly():
    """Every model's dropout goes through fast_dropout (the CPU masks); torch's is used only there."""
    import re
    from pathlib import Path

    import seqlab.models

    root = Path(seqlab.models.__file__).parent
    sdpa_dropout = re.compile(r"scaled_dot_product_attention\([^)]*dropout_p=(?!0\.0\b)")  # SDPA's own dropout
    offenders = [str(f.relative_to(root)) for f in root.rglob("*.py") if f.name != "fast_dropout.py"
                 and (any(s in f.read_text(encoding="utf-8") for s in ("nn.Dropout(", "F.dropout("))
                      or sdpa_dropout.search(f.read_text(encoding="utf-8")))]
    assert not offenders, offenders

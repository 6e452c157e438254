"""Bahdanau and Luong attention: weights are a distribution over real source tokens only."""

import pytest
import torch

from seqlab.models.attention import BahdanauAttention, LuongAttention, build_attention, masked_softmax


def _inputs(B=3, S=5, Hq=8, Hk=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, Hq, generator=g)
    k = torch.randn(B, S, Hk, generator=g)
    lengths = torch.tensor([S, 2, 1])[:B]
    mask = torch.arange(S)[None, :] < lengths[:, None]  # (B, S) True = real
    return q, k, mask


ALL = [lambda: BahdanauAttention(8, 8, 6), lambda: LuongAttention(8, 8, "dot"), lambda: LuongAttention(8, 8, "general")]


@pytest.mark.parametrize("make", ALL)
def test_weights_sum_to_one_over_real_tokens_and_zero_on_padding(make):
    torch.manual_seed(0)
    attn = make()
    q, k, mask = _inputs()
    ctx, w = attn(q, k, k, mask)
    assert ctx.shape == (3, 8) and w.shape == (3, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(3))
    assert torch.all(w[~mask] == 0)
    assert torch.all(w[mask] > 0)


@pytest.mark.parametrize("make", ALL)
def test_padding_invariance(make):
    """Appending padded positions with arbitrary values changes neither context nor real weights."""
    torch.manual_seed(0)
    attn = make()
    q, k, mask = _inputs()
    ctx, w = attn(q, k, k, mask)
    k2 = torch.cat([k, 100 * torch.randn(3, 4, 8)], 1)  # 4 extra padding positions, huge garbage
    mask2 = torch.cat([mask, torch.zeros(3, 4, dtype=torch.bool)], 1)
    k2[~mask2] = 1e3  # garbage at the existing padding too
    k2[mask2] = k[mask]
    ctx2, w2 = attn(q, k2, k2, mask2)
    torch.testing.assert_close(ctx2, ctx)
    torch.testing.assert_close(w2[:, :5], w)


def test_luong_dot_matches_the_equation():
    q, k, mask = _inputs()
    ctx, w = LuongAttention(8, 8, "dot")(q, k, k, mask)
    scores = torch.einsum("bh,bsh->bs", q, k).masked_fill(~mask, float("-inf"))
    ref_w = scores.softmax(-1)
    torch.testing.assert_close(w, ref_w)
    torch.testing.assert_close(ctx, torch.einsum("bs,bsh->bh", ref_w, k))


def test_bahdanau_cached_key_projection_is_the_same():
    torch.manual_seed(0)
    attn = BahdanauAttention(8, 6, 5)
    q, k, mask = _inputs(Hk=6)
    a = attn(q, k, k, mask)
    b = attn(q, k, k, mask, proj_keys=attn.project_keys(k))
    torch.testing.assert_close(a, b)


def test_bad_configuration_raises():
    with pytest.raises(ValueError, match="dot attention needs"):
        LuongAttention(8, 6, "dot")
    with pytest.raises(ValueError, match="method must be one of"):
        LuongAttention(8, 8, "concat")
    with pytest.raises(ValueError, match="unknown attention"):
        build_attention("cosine", 8, 8, 8)


def test_masked_softmax_without_mask_is_softmax():
    x = torch.randn(2, 4)
    torch.testing.assert_close(masked_softmax(x, None), x.softmax(-1))

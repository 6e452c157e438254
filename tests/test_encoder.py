"""seqlab.models.encoder against torch.nn.TransformerEncoderLayer with copied weights."""

import math

import pytest
import torch
from torch import nn

from seqlab.models.encoder import EncoderLayer, TransformerEncoder, sinusoidal_positions


def _copy_from_torch(ours: EncoderLayer, ref: nn.TransformerEncoderLayer) -> None:
    with torch.no_grad():
        C = ref.self_attn.embed_dim
        W, b = ref.self_attn.in_proj_weight, ref.self_attn.in_proj_bias  # (3C, C), (3C,) stacked q, k, v
        for i, proj in enumerate([ours.attn.q_proj, ours.attn.k_proj, ours.attn.v_proj]):
            proj.weight.copy_(W[i * C:(i + 1) * C])
            proj.bias.copy_(b[i * C:(i + 1) * C])
        ours.attn.out_proj.load_state_dict(ref.self_attn.out_proj.state_dict())
        ours.ff1.load_state_dict(ref.linear1.state_dict())
        ours.ff2.load_state_dict(ref.linear2.state_dict())
        ours.norm1.load_state_dict(ref.norm1.state_dict())
        ours.norm2.load_state_dict(ref.norm2.state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_layer_matches_torch(norm_first, activation):
    torch.manual_seed(0)
    C, nh, ff = 16, 4, 32
    ref = nn.TransformerEncoderLayer(C, nh, ff, dropout=0.0, activation=activation, batch_first=True,
                                     norm_first=norm_first).double()
    ours = EncoderLayer(C, nh, ff, dropout=0.0, activation=activation, norm_first=norm_first).double()
    _copy_from_torch(ours, ref)
    x = torch.randn(3, 7, C, dtype=torch.float64, requires_grad=True)
    mask = torch.arange(7)[None, :] < torch.tensor([7, 4, 1])[:, None]  # (B, T) True = real
    y_ref = ref(x, src_key_padding_mask=~mask)  # torch: True = ignore
    y = ours(x, mask)
    real = mask.unsqueeze(-1)
    torch.testing.assert_close(y * real, y_ref * real)
    # gradients through the real positions, for the input and the attention projections
    g_ref, = torch.autograd.grad((y_ref * real).pow(2).sum(), x)
    g, = torch.autograd.grad((y * real).pow(2).sum(), x)
    torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize("positions", ["sinusoidal", "learned"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_padding_never_changes_real_positions(positions, norm_first):
    torch.manual_seed(0)
    enc = TransformerEncoder(d_model=16, n_head=2, n_layer=2, d_ff=32, norm_first=norm_first,
                             positions=positions).eval()
    seq = torch.randn(1, 4, 16)
    alone = enc(seq, torch.ones(1, 4, dtype=torch.bool))
    batch = torch.randn(2, 9, 16) * 50  # garbage in the padded slots
    batch[0, :4] = seq[0]
    mask = torch.arange(9)[None, :] < torch.tensor([4, 9])[:, None]
    torch.testing.assert_close(enc(batch, mask)[0, :4], alone[0], atol=1e-5, rtol=1e-5)


def test_empty_row_is_finite():
    enc = TransformerEncoder(d_model=8, n_head=2, n_layer=1, d_ff=16)
    y = enc(torch.randn(2, 3, 8), torch.tensor([[True, True, False], [False, False, False]]))
    assert torch.isfinite(y).all()


def test_sinusoidal_formula():
    pe = sinusoidal_positions(50, 16)
    t, i = 37, 3
    assert math.isclose(pe[t, 2 * i].item(), math.sin(t / 10000 ** (2 * i / 16)), abs_tol=1e-5)
    assert math.isclose(pe[t, 2 * i + 1].item(), math.cos(t / 10000 ** (2 * i / 16)), abs_tol=1e-5)
    assert sinusoidal_positions(5, 7).shape == (5, 7)  # odd widths work


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoder(d_model=10, n_head=3)
    with pytest.raises(ValueError, match="positions"):
        TransformerEncoder(positions="rotary")
    enc = TransformerEncoder(d_model=8, n_head=2, n_layer=1, d_ff=8, positions="learned", max_len=4)
    with pytest.raises(ValueError, match="max_len"):
        enc(torch.randn(1, 5, 8), torch.ones(1, 5, dtype=torch.bool))

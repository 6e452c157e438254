"""seqlab.models.rnn against torch.nn: same parameters, same outputs, states and gradients."""

import itertools

import pytest
import torch
from torch import nn

from seqlab.models.rnn import GRU, LSTM, RNN

TORCH = {RNN: nn.RNN, LSTM: nn.LSTM, GRU: nn.GRU}
CONFIGS = list(itertools.product([RNN, LSTM, GRU], [False, True], [1, 2]))


def _pair(cls, bidirectional, num_layers, impl, F=5, H=7):
    torch.manual_seed(0)
    ref = TORCH[cls](F, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=True).double()
    ours = cls(F, H, num_layers=num_layers, bidirectional=bidirectional, impl=impl).double()
    ours.load_state_dict(ref.state_dict())  # same names and shapes: loads as is
    return ref, ours


def _flat(state):
    return torch.cat([s.flatten() for s in state]) if isinstance(state, tuple) else state.flatten()


def _initial(cls, layers_dirs, B, H):
    h0 = torch.randn(layers_dirs, B, H, dtype=torch.float64)
    return (h0, torch.randn_like(h0)) if cls is LSTM else h0


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("cls,bidirectional,num_layers", CONFIGS)
def test_parity_with_torch(cls, bidirectional, num_layers, impl):
    ref, ours = _pair(cls, bidirectional, num_layers, impl)
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    hx = _initial(cls, num_layers * (2 if bidirectional else 1), 3, 7)
    out_r, st_r = ref(x, hx)
    out_o, st_o = ours(x, hx)
    torch.testing.assert_close(out_o, out_r, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(_flat(st_o), _flat(st_r), atol=1e-10, rtol=1e-10)
    # gradients of a loss touching outputs and final states, for every parameter
    (out_r.pow(2).sum() + _flat(st_r).sum()).backward()
    (out_o.pow(2).sum() + _flat(st_o).sum()).backward()
    for (name, p_r), p_o in zip(ref.named_parameters(), ours.parameters()):
        torch.testing.assert_close(p_o.grad, p_r.grad, atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize("cls,bidirectional,num_layers", CONFIGS)
def test_lengths_reference_equals_fused_and_torch_packed(cls, bidirectional, num_layers):
    ref, fused = _pair(cls, bidirectional, num_layers, "fused")
    _, refimpl = _pair(cls, bidirectional, num_layers, "reference")
    x = torch.randn(4, 6, 5, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 4, 1])
    out_f, st_f = fused(x, lengths=lengths)
    out_r, st_r = refimpl(x, lengths=lengths)
    torch.testing.assert_close(out_r, out_f, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(_flat(st_r), _flat(st_f), atol=1e-10, rtol=1e-10)
    # and both equal torch.nn run on the packed batch
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out_t, st_t = ref(packed)
    out_t, _ = nn.utils.rnn.pad_packed_sequence(out_t, batch_first=True, total_length=6)
    torch.testing.assert_close(out_f, out_t)
    torch.testing.assert_close(_flat(st_f), _flat(st_t))


@pytest.mark.parametrize("impl", ["fused", "reference"])
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_padding_invariance(cls, impl):
    """A sequence alone equals the same sequence padded (with garbage) inside a batch."""
    _, rnn = _pair(cls, True, 2, impl)
    seq = torch.randn(1, 3, 5, dtype=torch.float64)
    out_alone, st_alone = rnn(seq)
    batch = torch.randn(2, 7, 5, dtype=torch.float64) * 100  # padded steps hold large garbage
    batch[1, :3] = seq[0]
    out, st = rnn(batch, lengths=torch.tensor([7, 3]))
    torch.testing.assert_close(out[1, :3], out_alone[0])
    assert out[1, 3:].abs().max() == 0  # outputs at padded steps are zero
    if cls is LSTM:
        st, st_alone = st[0], st_alone[0]
    torch.testing.assert_close(st[:, 1], st_alone[:, 0])  # final states: last real step, both directions


@pytest.mark.parametrize("impl", ["fused", "reference"])
def test_empty_sequence_keeps_initial_state(impl):
    _, rnn = _pair(LSTM, True, 1, impl)
    x = torch.randn(2, 4, 5, dtype=torch.float64)
    hx = _initial(LSTM, 2, 2, 7)
    out, (h, c) = rnn(x, hx, lengths=torch.tensor([4, 0]))
    assert out[1].abs().max() == 0
    torch.testing.assert_close(h[:, 1], hx[0][:, 1])
    torch.testing.assert_close(c[:, 1], hx[1][:, 1])


def test_dropout_between_layers_in_both_impls():
    for impl in ["fused", "reference"]:
        _, rnn = _pair(GRU, False, 2, impl)
        rnn.dropout = 0.5
        x = torch.randn(2, 4, 5, dtype=torch.float64)
        rnn.train()
        torch.manual_seed(1)
        a, _ = rnn(x)
        torch.manual_seed(2)
        b, _ = rnn(x)
        assert not torch.allclose(a, b), impl  # training: dropout is active
        rnn.eval()
        torch.testing.assert_close(rnn(x)[0], rnn(x)[0])


def test_bad_arguments():
    with pytest.raises(ValueError, match="impl"):
        LSTM(3, 4, impl="cuda")
    with pytest.raises(ValueError, match="lengths"):
        LSTM(3, 4)(torch.randn(2, 5, 3), lengths=torch.tensor([6, 1]))
    with pytest.raises(ValueError, match="3-D"):
        LSTM(3, 4)(torch.randn(5, 3))


def test_time_first_layout():
    torch.manual_seed(0)
    rnn = GRU(3, 4, batch_first=False, impl="reference")
    x = torch.randn(5, 2, 3)  # (T, B, F)
    out, h = rnn(x, lengths=torch.tensor([5, 2]))
    assert out.shape == (5, 2, 4) and h.shape == (1, 2, 4)
    rnn.impl = "fused"
    out_f, h_f = rnn(x, lengths=torch.tensor([5, 2]))
    torch.testing.assert_close(out, out_f, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h, h_f, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("cls", [GRU, RNN])
def test_padded_cpu_path_gradients_equal_torch_packed(cls):
    """RNN and GRU with lengths run the padded batch layer by layer on the CPU (linear in T): outputs,
    final states and every gradient equal torch's packed path, empty and full-length rows included."""
    torch.manual_seed(0)
    ours = cls(5, 6, num_layers=2, bidirectional=True)
    ref = getattr(nn, cls.__name__)(5, 6, num_layers=2, bidirectional=True, batch_first=True)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(4, 7, 5)
    lengths = torch.tensor([7, 3, 0, 5])
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, h = ours(xa, lengths=lengths)
    packed = nn.utils.rnn.pack_padded_sequence(xb, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
    r_out, r_h = ref(packed)
    r_out, _ = nn.utils.rnn.pad_packed_sequence(r_out, batch_first=True, total_length=7)
    keep = lengths > 0  # torch cannot pack an empty row (ours gives zeros and the initial state there)
    assert torch.allclose(out[keep], r_out[keep], atol=1e-6) and torch.allclose(h[:, keep], r_h[:, keep], atol=1e-6)
    assert out[2].abs().sum() == 0 and h[:, 2].abs().sum() == 0
    w = torch.randn_like(out)
    ((out * w)[keep].sum() + h[:, keep].sum()).backward()
    ((r_out * w)[keep].sum() + r_h[:, keep].sum()).backward()
    assert torch.allclose(xa.grad[keep], xb.grad[keep], atol=1e-5)
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name

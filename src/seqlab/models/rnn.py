"""Recurrent layers: the plain (Elman) RNN, the LSTM and the GRU.

Shapes (batch first, seqlab's convention; torch's default is time first):
    input   (B, T, F)                       F = input_size
    output  (B, T, D * H)                   D = 2 if bidirectional else 1, H = hidden_size
    h_0/h_n (L * D, B, H)                   L = num_layers; row l * D + d is layer l, direction d
    c_0/c_n (L * D, B, H)                   (LSTM only)
    lengths (B,) int                        number of real (non-padding) steps of each sequence

Each class subclasses ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` so its parameters are torch's, by the
same names and shapes (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``, the
``_reverse`` twins): a torch state_dict loads as is. Two implementations of the same function:

    impl="fused"      torch's fused kernels (cuDNN on GPU); with ``lengths`` the batch is packed (training
                      on the CPU, RNN and GRU run the padded batch instead, layer by layer: _fused_padded)
    impl="reference"  the cell equations step by step in plain tensor ops, as the notes write them

With ``lengths``, padding never changes a result: outputs at padded steps are zero, the final
states are those after each sequence's last real step, and the reverse direction starts at the
last real token. A sequence of length 0 gets zero outputs and its initial state back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .fast_dropout import dropout

IMPLS = ("fused", "reference")


def rnn_cell(x_proj: Tensor, h: Tensor, W_hh: Tensor, b_hh: Tensor | None, nonlinearity: str) -> Tensor:
    """Elman cell: h_t = tanh(x_t W_x + h_{t-1} W_h + b), with W_x = W_ih^T, W_h = W_hh^T, b = b_ih + b_hh.

    ``x_proj`` (B, H) is x_t W_ih^T + b_ih, precomputed for all steps at once.
    """
    pre = x_proj + F.linear(h, W_hh, b_hh)  # (B, H)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_cell(x_proj: Tensor, state: tuple[Tensor, Tensor], W_hh: Tensor, b_hh: Tensor | None):
    """LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate), torch's gate order i, f, g, o::

        i_t = sigmoid(x_t W_xi + h_{t-1} W_hi + b_i)      input gate
        f_t = sigmoid(x_t W_xf + h_{t-1} W_hf + b_f)      forget gate
        g_t = tanh   (x_t W_xg + h_{t-1} W_hg + b_g)      candidate cell
        o_t = sigmoid(x_t W_xo + h_{t-1} W_ho + b_o)      output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    ``x_proj`` (B, 4H) is x_t W_ih^T + b_ih; returns (h_t, c_t), each (B, H).
    """
    h, c = state
    gates = x_proj + F.linear(h, W_hh, b_hh)  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # 4 x (B, H)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_cell(x_proj: Tensor, h: Tensor, W_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """GRU cell (Cho et al. 2014), torch's gate order r, z, n and torch's form of the candidate::

        r_t = sigmoid(x_t W_xr + b_xr + h_{t-1} W_hr + b_hr)        reset gate
        z_t = sigmoid(x_t W_xz + b_xz + h_{t-1} W_hz + b_hz)        update gate
        n_t = tanh   (x_t W_xn + b_xn + r_t * (h_{t-1} W_hn + b_hn)) candidate
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    ``x_proj`` (B, 3H) is x_t W_ih^T + b_ih; returns h_t (B, H).
    """
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)  # 3 x (B, H)
    h_r, h_z, h_n = F.linear(h, W_hh, b_hh).chunk(3, dim=-1)  # 3 x (B, H)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


class _Recurrent:
    """The forward shared by RNN, LSTM and GRU (mixed in before the torch class)."""

    mode: str  # torch's "RNN_TANH" | "RNN_RELU" | "LSTM" | "GRU"

    def _check_impl(self, impl: str) -> None:
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}; got {impl!r}")
        self.impl = impl

    def forward(self, input: Tensor, hx=None, lengths: Tensor | None = None):
        """Run the recurrence over a batch.

        Args:
            input: float (B, T, F) if batch_first (the default) else (T, B, F).
            hx: initial state, (L * D, B, H); for the LSTM a tuple (h_0, c_0). Default zeros.
            lengths: optional int (B,), real steps per sequence (padding is at the end). Steps
                t >= lengths[b] are padding: they never change any result.

        Returns:
            output: (B, T, D * H), the last layer's h_t for every step, zero at padded steps.
            h_n: (L * D, B, H) the final states (for the LSTM a tuple (h_n, c_n)).

        Example::

            >>> lstm = LSTM(8, 16, bidirectional=True)
            >>> out, (h, c) = lstm(torch.randn(2, 5, 8), lengths=torch.tensor([5, 3]))
            >>> out.shape, h.shape
            (torch.Size([2, 5, 32]), torch.Size([2, 2, 16]))
        """
        if input.dim() != 3:
            raise ValueError(f"expected a 3-D input (B, T, F); got shape {tuple(input.shape)}")
        x = input if self.batch_first else input.transpose(0, 1)  # (B, T, F)
        B, T, _ = x.shape
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=x.device).long()
            if lengths.shape != (B,) or (lengths < 0).any() or (lengths > T).any():
                raise ValueError(f"lengths must be (B,)={B} values in [0, {T}]; got {lengths.tolist()}")
        if self.impl == "fused":
            out, state = self._fused(x, hx, lengths)
        else:
            out, state = self._reference(x, hx, lengths)
        return (out if self.batch_first else out.transpose(0, 1)), state

    # ---- impl="fused": torch's kernels -------------------------------------------------------
    def _fused(self, x: Tensor, hx, lengths: Tensor | None):
        run = super().forward  # the torch class (nn.RNN / nn.LSTM / nn.GRU)
        if not self.batch_first:
            x = x.transpose(0, 1)  # back to (T, B, F) for the torch module
        if lengths is None:
            out, state = run(x, hx)
            return (out if self.batch_first else out.transpose(0, 1)), state
        training = torch.is_grad_enabled() and (x.requires_grad or self.weight_ih_l0.requires_grad)
        if (training and self.mode != "LSTM" and x.device.type == "cpu" and self.batch_first
                and not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export())):
            return self._fused_padded(x, hx, lengths)  # packing's backward is the slow part; inference packs
        packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=self.batch_first, enforce_sorted=False)
        out, state = run(packed, hx)
        T = x.shape[1] if self.batch_first else x.shape[0]
        out, _ = pad_packed_sequence(out, batch_first=self.batch_first, total_length=T)
        if not self.batch_first:
            out = out.transpose(0, 1)  # (B, T, D*H)
        empty = lengths == 0  # packing needs >= 1 step: undo that one step for empty sequences
        if empty.any():
            out = out.masked_fill(empty[:, None, None], 0.0)
            state = self._restore_initial(state, hx, empty)
        return out, state

    def _fused_padded(self, x: Tensor, hx, lengths: Tensor):
        """RNN/GRU over a right-padded batch (B, T, F) on the CPU, linear in T: one fused single-layer,
        single-direction call per layer and direction on the padded tensor, the reverse direction run on
        each sequence reversed within its own length. PyTorch's CPU kernels for packed sequences take time
        growing with T² in training (each step's slice of the packed tensor gets a full-size gradient):
        5.8 s against 0.73 s for a bi-GRU step at T = 512 here. Used only when autograd records (without a
        backward, packing is the faster: 7.9 vs 10.3 ms for a bi-GRU on 32 x 60 tokens). Same results as
        packing (to float rounding):
        padded steps come after a sequence's real ones, so they never reach its outputs or final state."""
        B, T, _ = x.shape
        D = 2 if self.bidirectional else 1
        steps = torch.arange(T, device=x.device)
        real = steps[None, :] < lengths[:, None]  # (B, T)
        last = (lengths - 1).clamp(min=0)  # (B,) the last real step
        rev = torch.where(real, last[:, None] - steps[None, :], steps[None, :])  # (B, T), its own inverse
        h0, _ = self._initial_state(hx, B)
        call = {"GRU": torch._VF.gru, "RNN_TANH": torch._VF.rnn_tanh, "RNN_RELU": torch._VF.rnn_relu}[self.mode]
        h_n = []
        layer_in = x
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                layer_in = dropout(layer_in, self.dropout, self.training)  # between layers, as torch
            outs = []
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                params = [getattr(self, n + sfx) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if hasattr(self, n + sfx)]
                inp = layer_in if d == 0 else layer_in.gather(1, rev[:, :, None].expand(-1, -1, layer_in.shape[2]))
                out, _ = call(inp, h0[layer * D + d: layer * D + d + 1].contiguous(), params, self.bias, 1, 0.0,
                              self.training, False, True)  # (B, T, H)
                if d == 1:
                    out = out.gather(1, rev[:, :, None].expand(-1, -1, out.shape[2]))  # back to the original order
                final = out.gather(1, (last if d == 0 else torch.zeros_like(last))[:, None, None].expand(-1, 1, out.shape[2]))
                h_n.append(final[:, 0])  # (B, H): after the last real step (the reverse direction ends at step 0)
                outs.append(out)
            layer_in = torch.cat(outs, dim=-1).masked_fill(~real[:, :, None], 0.0)  # (B, T, D*H), zero at padding
        state = torch.stack(h_n)  # (L*D, B, H)
        empty = lengths == 0
        if empty.any():
            state = self._restore_initial(state, hx, empty)
        return layer_in, state

    def _restore_initial(self, state, hx, empty: Tensor):
        h0, c0 = self._initial_state(hx, empty.shape[0])
        keep = empty[None, :, None]  # (1, B, 1)
        if isinstance(state, tuple):
            return state[0].where(~keep, h0), state[1].where(~keep, c0)
        return state.where(~keep, h0)

    # ---- impl="reference": the equations, step by step ---------------------------------------
    def _initial_state(self, hx, B: int):
        """(h_0, c_0) as (L * D, B, H) tensors; c_0 is None except for the LSTM."""
        ref = self.weight_ih_l0
        zeros = ref.new_zeros(self.num_layers * (2 if self.bidirectional else 1), B, self.hidden_size)
        if hx is None:
            return zeros, (zeros if self.mode == "LSTM" else None)
        if self.mode == "LSTM":
            h0, c0 = hx
            return h0, c0
        return hx, None

    def _reference(self, x: Tensor, hx, lengths: Tensor | None):
        B, T, _ = x.shape
        D = 2 if self.bidirectional else 1
        h0, c0 = self._initial_state(hx, B)
        steps = torch.arange(T, device=x.device)
        real = None if lengths is None else (steps[None, :] < lengths[:, None])  # (B, T) True = real step
        h_n, c_n = [], []
        layer_in = x  # (B, T, F) for layer 0, (B, T, D*H) after
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0:
                layer_in = dropout(layer_in, self.dropout, self.training)  # between layers, as torch
            outs = []
            for d in range(D):
                k = layer * D + d
                state = (h0[k], c0[k]) if self.mode == "LSTM" else h0[k]
                out, state = self._direction(layer_in, state, layer, reverse=d == 1, real=real)
                outs.append(out)
                if self.mode == "LSTM":
                    h_n.append(state[0])
                    c_n.append(state[1])
                else:
                    h_n.append(state)
            layer_in = torch.cat(outs, dim=-1)  # (B, T, D*H)
        h_n = torch.stack(h_n)  # (L*D, B, H)
        return layer_in, ((h_n, torch.stack(c_n)) if self.mode == "LSTM" else h_n)

    def _direction(self, x: Tensor, state, layer: int, reverse: bool, real: Tensor | None):
        """One layer, one direction: returns outputs (B, T, H) and the final state."""
        sfx = f"_l{layer}" + ("_reverse" if reverse else "")
        W_ih, W_hh = getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx)
        b_ih, b_hh = getattr(self, "bias_ih" + sfx, None), getattr(self, "bias_hh" + sfx, None)
        x_proj = F.linear(x, W_ih, b_ih)  # (B, T, G*H): the input half of every gate, all steps at once
        T = x.shape[1]
        outs: list[Tensor] = [None] * T  # type: ignore[list-item]
        for t in reversed(range(T)) if reverse else range(T):
            if self.mode == "LSTM":
                new = lstm_cell(x_proj[:, t], state, W_hh, b_hh)
            elif self.mode == "GRU":
                new = gru_cell(x_proj[:, t], state, W_hh, b_hh)
            else:
                new = rnn_cell(x_proj[:, t], state, W_hh, b_hh, self.nonlinearity)
            h_new = new[0] if self.mode == "LSTM" else new
            if real is None:
                state, outs[t] = new, h_new
            else:  # a padded step keeps the old state and outputs zero
                m = real[:, t, None]  # (B, 1)
                if self.mode == "LSTM":
                    state = (torch.where(m, new[0], state[0]), torch.where(m, new[1], state[1]))
                else:
                    state = torch.where(m, new, state)
                outs[t] = torch.where(m, h_new, torch.zeros_like(h_new))
        return torch.stack(outs, dim=1), state  # (B, T, H)


class RNN(_Recurrent, nn.RNN):
    """Elman RNN, h_t = tanh(x_t W_x + h_{t-1} W_h + b); see the module docstring for shapes."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, impl: str = "fused"):
        super().__init__(input_size, hidden_size, num_layers=num_layers, nonlinearity=nonlinearity, bias=bias,
                         batch_first=batch_first, dropout=dropout, bidirectional=bidirectional)
        self._check_impl(impl)


class LSTM(_Recurrent, nn.LSTM):
    """LSTM with gates i, f, g, o and cell state c (equations in ``lstm_cell``); shapes above."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 impl: str = "fused"):
        super().__init__(input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                         dropout=dropout, bidirectional=bidirectional)
        self._check_impl(impl)


class GRU(_Recurrent, nn.GRU):
    """GRU with reset gate r and update gate z (equations in ``gru_cell``); shapes above."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = True, dropout: float = 0.0, bidirectional: bool = False,
                 impl: str = "fused"):
        super().__init__(input_size, hidden_size, num_layers=num_layers, bias=bias, batch_first=batch_first,
                         dropout=dropout, bidirectional=bidirectional)
        self._check_impl(impl)


CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

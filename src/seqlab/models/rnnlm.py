"""Recurrent language models: a plain RNN, LSTM or GRU over token embeddings, predicting the next token.

Shapes, batch first: B batch, T time steps, E = d_emb, H = hidden, V vocabulary size, n = n_layer.

    x_t    = E[idx_t]                                      embedding (V, E)
    h_t    = cell(x_t, h_{t-1})                           rnn: tanh(W_x x_t + W_h h_{t-1} + b); lstm, gru: gated
    logits = W_out · Dropout(h_t) + b_out                 (V, H); W_out = E when tie_weights (needs E == H)

The cells are seqlab's own ``seqlab.models.rnn`` RNN/LSTM/GRU, which mirror ``torch.nn`` (same
parameters, fused kernels by default) and are tested against it. The hidden state can be carried from one block of text to the next
(stateful training with truncated backpropagation through time: the task detaches the state between
blocks with :func:`detach_state`), and generation carries it token by token, so each new token costs
one step of the recurrence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from .fast_dropout import Dropout
from .rnn import GRU, LSTM, RNN

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

State = Tensor | tuple[Tensor, Tensor]  # h (n, B, H), or (h, c) for the LSTM


@dataclass
class RNNLMConfig:
    vocab_size: int = 65  # number of token ids
    cell: str = "lstm"  # recurrence: "rnn" (Elman, tanh), "lstm" or "gru"
    d_emb: int = 256  # token embedding width E
    hidden: int = 512  # hidden state width H per layer
    n_layer: int = 2  # stacked recurrent layers
    dropout: float = 0.2  # dropout on embeddings, between layers and before the output layer
    tie_weights: bool = False  # share the embedding with the output layer; needs d_emb == hidden
    nonlinearity: str = "tanh"  # plain RNN only: tanh | relu

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"RNNLMConfig.cell must be one of {sorted(CELLS)}; got {self.cell!r}")
        if self.nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNLMConfig.nonlinearity must be tanh or relu; got {self.nonlinearity!r}")
        if self.cell != "rnn" and self.nonlinearity != "tanh":
            raise ValueError(f"RNNLMConfig.nonlinearity applies to cell='rnn' only; got cell={self.cell!r}")
        for name in ("vocab_size", "d_emb", "hidden", "n_layer"):
            if getattr(self, name) < 1:
                raise ValueError(f"RNNLMConfig.{name} must be >= 1; got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"RNNLMConfig.dropout must be in [0, 1); got {self.dropout}")
        if self.tie_weights and self.d_emb != self.hidden:
            raise ValueError(f"RNNLMConfig.tie_weights needs d_emb == hidden; got {self.d_emb} and {self.hidden}")


def detach_state(state: State | None) -> State | None:
    """Cut the graph between consecutive blocks (truncated BPTT) while keeping the values."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


class _GenState:
    """Mutable holder for the recurrent state during generation (decode advances it in place)."""

    def __init__(self, state: State):
        self.state = state


class RNNLM(nn.Module):
    """Embedding -> stacked RNN/LSTM/GRU -> linear over the vocabulary.

    Example::

        >>> lm = RNNLM(RNNLMConfig(vocab_size=30, cell="gru", d_emb=16, hidden=32, n_layer=1))
        >>> logits, state = lm(torch.randint(0, 30, (2, 10)))
        >>> logits.shape, state.shape
        (torch.Size([2, 10, 30]), torch.Size([1, 2, 32]))
    """

    def __init__(self, config: RNNLMConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_emb)
        self.drop = Dropout(config.dropout)
        extra = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        self.rnn = CELLS[config.cell](
            config.d_emb, config.hidden, num_layers=config.n_layer, batch_first=True,
            dropout=config.dropout if config.n_layer > 1 else 0.0, **extra,
        )
        self.out = nn.Linear(config.hidden, config.vocab_size)
        if config.tie_weights:
            self.out.weight = self.embed.weight

    @classmethod
    def from_config(cls, config: RNNLMConfig) -> "RNNLM":
        return cls(config)

    context_size = None  # a recurrence reads prompts of any length

    def forward(self, idx: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Next-token logits for every position.

        Args:
            idx: (B, T) int64 token ids (no padding: a recurrent LM reads a contiguous stream).
            state: the hidden state after the previous block, h (n, B, H) or (h, c) for the LSTM;
                None starts from zeros.

        Returns:
            logits (B, T, V) float, ``softmax(logits[:, t]) = p(x_{t+1} | x_{<=t}, state)``, and the state
            after the last position (same layout as ``state``).
        """
        x = self.drop(self.embed(idx))  # (B, T, E)
        y, state = self.rnn(x, state)  # (B, T, H)
        return self.out(self.drop(y)), state  # (B, T, V)

    # ---- the generation protocol used by seqlab.models.sampling ----------------------------------------

    def prefill(self, idx: Tensor, mask: Tensor | None, max_new_tokens: int) -> tuple[Tensor, _GenState]:
        """Read left-padded prompts (B, T); returns next-token logits (B, V) and the carried state.

        Rows are grouped by their amount of padding and each group reads only its real tokens, so the
        padding never enters the recurrence.
        """
        if mask is None:
            logits, state = self(idx)
            return logits[:, -1], _GenState(state)
        n_pad = (~mask).sum(1)  # (B,)
        B = idx.size(0)
        dtype = self.embed.weight.dtype
        logits = torch.empty(B, self.config.vocab_size, device=idx.device, dtype=dtype)
        is_lstm = self.config.cell == "lstm"
        shape = (self.config.n_layer, B, self.config.hidden)
        h = torch.zeros(shape, device=idx.device, dtype=dtype)
        c = torch.zeros(shape, device=idx.device, dtype=dtype) if is_lstm else None
        for pad in n_pad.unique().tolist():
            rows = (n_pad == pad).nonzero()[:, 0]  # (b,)
            lg, st = self(idx[rows, pad:])  # (b, T - pad, V)
            logits[rows] = lg[:, -1]
            if is_lstm:
                h[:, rows], c[:, rows] = st
            else:
                h[:, rows] = st
        return logits, _GenState((h, c) if is_lstm else h)

    def decode(self, token: Tensor, state: _GenState) -> Tensor:
        """One step: token (B,) -> next-token logits (B, V); the state advances in place."""
        logits, state.state = self(token[:, None], state.state)  # (B, 1, V)
        return logits[:, -1]

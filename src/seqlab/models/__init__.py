"""Model architectures, one readable file each. Nothing here knows about files, CLIs or tasks.

The recurrent layers are public and mirror ``torch.nn`` (same arguments, same state_dict names),
with ``batch_first=True`` by default, ``lengths=`` for padded batches, and ``impl="reference"`` for
the step-by-step equations of the lecture notes::

    from seqlab.models import LSTM
    lstm = LSTM(16, 32, num_layers=2, bidirectional=True)
    out, (h, c) = lstm(x, lengths=lengths)   # x: (B, T, 16) -> out: (B, T, 64)
"""

from .rnn import GRU, LSTM, RNN

__all__ = ["RNN", "LSTM", "GRU"]

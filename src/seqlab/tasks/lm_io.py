"""Language-model data in and numbers out, shared by training (``lm.py``) and a loaded run (``lm_run.py``).

Training examples are blocks of ``T`` tokens: x = stream[i : i+T], y = stream[i+1 : i+T+1]. Attention
models read shuffled blocks that start at a fresh random offset every epoch (:func:`gpt_batches`); the
recurrent models read the stream as B parallel lanes, block after block (:func:`lane_batches`), and carry
their hidden state from one block to the next (truncated backpropagation through time).
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from ..models.rnnlm import detach_state


def gpt_batches(stream: torch.Tensor, T: int, B: int, seed: int, epoch: int) -> list[dict]:
    """Shuffled non-overlapping blocks starting at a random offset (0..T-1) per epoch: x (B, T), y (B, T)."""
    rng = random.Random(seed * 1_000_003 + epoch)
    pairs = len(stream) - 1  # (x, y) positions in the stream
    offset = rng.randrange(0, T) if pairs >= 2 * T else 0
    starts = list(range(offset, pairs - T + 1, T))
    rng.shuffle(starts)
    out = []
    for i in range(0, len(starts), B):
        idx = torch.tensor(starts[i:i + B])[:, None] + torch.arange(T + 1)  # (b, T + 1)
        block = stream[idx]  # (b, T + 1)
        out.append({"x": block[:, :-1], "y": block[:, 1:]})
    return out


def lane_batches(stream: torch.Tensor, T: int, B: int, seed: int, epoch: int) -> list[dict]:
    """The stream cut into B lanes read block by block, so row b of batch k+1 continues row b of batch k."""
    rng = random.Random(seed * 1_000_003 + epoch)
    B = max(1, min(B, (len(stream) - 1) // (T + 1)))
    offset = rng.randrange(0, T) if len(stream) - 1 > B * (T + 1) + T else 0
    lane = (len(stream) - 1 - offset) // B
    lanes = stream[offset:offset + B * lane + 1]
    xs = lanes[:B * lane].view(B, lane)  # (B, lane)
    ys = lanes[1:B * lane + 1].view(B, lane)  # (B, lane)
    out = []
    for k, t in enumerate(range(0, lane - 1, T)):
        out.append({"x": xs[:, t:t + T], "y": ys[:, t:t + T], "reset": torch.tensor(k == 0)})
    return out


class LMLoss:
    """loss_fn for the engine: mean cross-entropy over the block. Models with the ``stateful`` capability
    (recurrent LMs: ``model(x, state) -> (logits, state)``) carry their state across consecutive blocks
    when ``carry`` (truncated BPTT)."""

    def __init__(self, stateful_model: bool, carry: bool):
        self.stateful_model = stateful_model
        self.stateful = carry
        self.state = None

    def __call__(self, model, batch):
        if self.stateful_model:
            state = None
            if self.stateful and not bool(batch["reset"]) and self.state is not None \
                    and _state_batch(self.state) == batch["x"].size(0):
                state = self.state
            logits, new_state = model(batch["x"], state)  # (B, T, V)
            self.state = detach_state(new_state) if self.stateful else None
        else:
            logits = model(batch["x"])  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch["y"].flatten())
        return loss, batch["y"].numel()


def _state_batch(state) -> int:
    return (state[0] if isinstance(state, tuple) else state).size(1)


@torch.inference_mode()
def evaluate_stream(model, stream: torch.Tensor, T: int, device, chars_per_token: float, stateful: bool) -> dict:
    """Loss, perplexity, bits/char and accuracy on a held-out stream; each scored token has >= T//2 context.

    ``stateful``: the model is a recurrent LM (``model(x, state) -> (logits, state)``) read as one lane."""
    warm = T // 2
    if len(stream) < 2:
        return {"loss": float("nan"), "perplexity": float("nan"), "bits_per_char": float("nan"), "accuracy": 0.0, "n": 0}
    if len(stream) - 1 <= warm:
        warm = 0
    total, correct, n = 0.0, 0, 0
    x_all, y_all = stream[:-1], stream[1:]
    if stateful:  # one lane over the whole stream, in chunks, carrying the state
        state = None
        for s in range(0, len(x_all), 4096):
            logits, state = model(x_all[s:s + 4096].to(device)[None], state)  # (1, chunk, V)
            first = max(warm - s, 0)
            lg, y = logits[0, first:].float(), y_all[s + first:s + 4096].to(device)
            if len(y):
                total += F.cross_entropy(lg, y, reduction="sum").item()
                correct += int((lg.argmax(-1) == y).sum())
                n += len(y)
    else:
        stride = max(1, T - warm) if warm else T
        N = len(x_all)
        starts = list(range(0, max(1, N - T) + 1, stride))
        if starts[-1] + T < N:
            starts.append(N - T)
        scored_to = warm  # tokens before this index are already scored (or context only)
        windows = []
        for s in starts:
            e = min(s + T, N)
            first = max(scored_to, s)  # score only tokens not scored by an earlier window
            if e > first:
                windows.append((s, e, first))
                scored_to = e
        for i in range(0, len(windows), 64):
            group = windows[i:i + 64]
            L = max(e - s for s, e, _ in group)
            xb = torch.stack([F.pad(x_all[s:e], (0, L - (e - s))) for s, e, _ in group]).to(device)  # (b, L)
            logits = model(xb).float()  # (b, L, V)
            for r, (s, e, first) in enumerate(group):
                lg, y = logits[r, first - s:e - s], y_all[first:e].to(device)
                total += F.cross_entropy(lg, y, reduction="sum").item()
                correct += int((lg.argmax(-1) == y).sum())
                n += len(y)
    loss = total / max(1, n)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "bits_per_char": loss / math.log(2) / chars_per_token,
            "accuracy": correct / max(1, n), "n": n}

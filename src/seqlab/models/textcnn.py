"""Kim (2014), "Convolutional Neural Networks for Sentence Classification".

    x_{1:T}   word vectors, (B, T, E)
    c_i = ReLU(w . x_{i:i+h-1} + b)       one feature map per filter w of width h (words)
    c^  = max_i c_i                       max-over-time pooling: one number per map
    z   = [c^ for every map of every width]  (B, n_maps * len(widths)), then dropout and a linear layer

Defaults follow the paper: widths 3, 4, 5 with 100 maps each, dropout 0.5. The embedding ``mode``:

    rand          random vectors, trained
    static        pretrained vectors, frozen
    non-static    pretrained vectors, fine-tuned
    multichannel  two channels, one frozen and one fine-tuned; every filter sees both (its weights
                  span both channels and the two responses add up)

Masking: embeddings at padded positions are set to zero and a window counts only if it lies
inside the real tokens, so padding never wins the max; a sequence shorter than a filter gets one
window, its real tokens followed by zeros (exactly what it gets when it is padded alone).
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import UserError
from .fast_dropout import Dropout

log = logging.getLogger(__name__)

MODES = ("rand", "static", "non-static", "multichannel")


def load_word_vectors(path: str | Path, vocab: list[str], dim: int, seed: int = 0) -> tuple[Tensor, int]:
    """Read word2vec/GloVe vectors in *text* format for the words of ``vocab`` (``path`` may also be a
    seqlab ``embed`` run folder: its ``vectors.txt`` is read).

    One word per line followed by ``dim`` numbers, separated by spaces; an optional first header
    line ``<count> <dim>`` (word2vec) is skipped; ``.gz`` files are read as gzip. A word is looked
    up as is, then lower-cased. Words without a vector get U(-0.25, 0.25) (Kim's choice).

    Returns:
        (weights, n_found): float (len(vocab), dim) and how many vocab words had a vector.
    """
    path = Path(path)
    if path.is_dir() and (path / "vectors.txt").is_file():  # a seqlab embed run: its word2vec text file
        path = path / "vectors.txt"
    if not path.is_file():
        raise UserError(f"expected a word-vector text file or a seqlab embed run; found no file at {path} (check the path)")
    gen = torch.Generator().manual_seed(seed)
    weights = torch.empty(len(vocab), dim).uniform_(-0.25, 0.25, generator=gen)
    index: dict[str, int] = {}
    for i, word in enumerate(vocab):
        index.setdefault(word, i)
    lower = {w.lower(): i for w, i in reversed(list(index.items()))}  # exact case wins later
    found_exact: set[int] = set()
    found: set[int] = set()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.rstrip("\n\r ").split(" ")
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header "<count> <dim>"
            if len(parts) < dim + 1:
                if not line.strip():
                    continue
                raise UserError(f"{path}:{lineno}: expected a word and {dim} numbers; found {len(parts) - 1} "
                                f"numbers (is this the right --dim, and a text-format file?)")
            word = " ".join(parts[:-dim])  # a few GloVe words contain spaces
            exact = index.get(word)
            i = exact if exact is not None else lower.get(word.lower())
            if i is None or i in found_exact or (exact is None and i in found):
                continue
            try:
                weights[i] = torch.tensor([float(v) for v in parts[-dim:]])
            except ValueError:
                raise UserError(f"{path}:{lineno}: expected {dim} numbers after the word {word!r}") from None
            found.add(i)
            if exact is not None:
                found_exact.add(i)
    log.info("word vectors: %d of %d vocabulary words found in %s", len(found), len(vocab), path)
    return weights, len(found)


class TextCNN(nn.Module):
    """Embedding + parallel convolutions + masked max-over-time pooling (Kim 2014); no output layer.

    Args:
        vocab_size: rows of the embedding (ignored when ``input_dim`` is set).
        embed_dim: E, the word-vector width.
        widths: filter widths in words.
        n_maps: feature maps per width.
        mode: one of ``MODES`` (see module docstring).
        pad_id: the padding id (its embedding row starts at zero).
        input_dim: if set, inputs are float features (B, T, input_dim) embedded by a Linear layer.
        embed_dropout: dropout on the word vectors.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 300, widths=(3, 4, 5), n_maps: int = 100,
                 mode: str = "rand", pad_id: int = 0, input_dim: int | None = None, embed_dropout: float = 0.0):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
        self.mode, self.widths = mode, tuple(widths)
        if input_dim is not None:
            self.embed = nn.Linear(input_dim, embed_dim)
        else:
            self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
            with torch.no_grad():  # Kim's CNN-rand: U(-0.25, 0.25), about the spread of word2vec's coordinates
                self.embed.weight.uniform_(-0.25, 0.25)
                self.embed.weight[pad_id].zero_()
        self.embed.weight.requires_grad_(mode not in ("static",))  # static: frozen
        # multichannel: a second, frozen copy of the same vectors
        self.static_embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id) if (
            mode == "multichannel" and input_dim is None) else None
        if self.static_embed is not None:
            self.static_embed.weight.requires_grad_(False)
            self.static_embed.weight.data.copy_(self.embed.weight.data)
        self.embed_drop = Dropout(embed_dropout)
        channels = embed_dim * (2 if self.static_embed is not None else 1)
        self.convs = nn.ModuleList(nn.Conv1d(channels, n_maps, w) for w in self.widths)
        self.out_dim = n_maps * len(self.widths)

    @torch.no_grad()
    def set_vectors(self, weights: Tensor) -> None:
        """Copy pretrained vectors (vocab_size, E) into the embedding (both channels)."""
        self.embed.weight.copy_(weights)
        if self.static_embed is not None:
            self.static_embed.weight.copy_(weights)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """Sentence features.

        Args:
            ids: long (B, T) token ids, or float (B, T, input_dim) with ``input_dim``.
            mask: bool (B, T), True = real token (padding is at the end of each row).

        Returns:
            float (B, n_maps * len(widths)): z = [max_i ReLU(w . x_{i:i+h-1} + b)] per map.

        Example::

            >>> cnn = TextCNN(100, embed_dim=16, n_maps=4)
            >>> cnn(torch.randint(1, 100, (2, 7)), torch.ones(2, 7, dtype=torch.bool)).shape
            torch.Size([2, 12])
        """
        x = self.embed(ids)  # (B, T, E)
        if self.static_embed is not None:
            x = torch.cat([x, self.static_embed(ids)], dim=-1)  # (B, T, 2E): two channels
        return self.pool(self.embed_drop(x), mask)

    def pool(self, x: Tensor, mask: Tensor) -> Tensor:
        """Convolve embedded inputs x (B, T, C) and max-pool over real windows -> (B, out_dim)."""
        x = x * mask.unsqueeze(-1).to(x.dtype)  # padded positions -> 0
        T = x.shape[1]
        if T < max(self.widths):
            x = F.pad(x, (0, 0, 0, max(self.widths) - T))  # (B, max(widths), C): room for one window
        x = x.transpose(1, 2)  # (B, C, T') as Conv1d wants
        lengths = mask.long().sum(dim=1)  # (B,)
        feats = []
        for w, conv in zip(self.widths, self.convs):
            c = torch.relu(conv(x))  # (B, n_maps, T' - w + 1)
            n_windows = (lengths - w + 1).clamp(min=1)  # windows inside the real tokens (>= 1)
            ok = torch.arange(c.shape[-1], device=c.device)[None, :] < n_windows[:, None]  # (B, T'-w+1)
            c = c.masked_fill(~ok.unsqueeze(1), float("-inf"))  # padding never wins the max
            feats.append(c.amax(dim=-1))  # (B, n_maps)
        return torch.cat(feats, dim=-1)  # (B, n_maps * len(widths))

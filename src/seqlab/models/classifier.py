"""Sequence classifiers, composed from parts: embedding -> sequence model -> pooling head.

Every classifier has the same forward::

    logits = model(ids, mask)
    ids    long (B, T) token ids, or float (B, T, input_dim) when the config sets ``input_dim``
           (numeric feature sequences, e.g. one vector per video frame: the "embedding" is a Linear)
    mask   bool (B, T), True = a real token; padding is at the end of each row and never changes
           the logits
    logits float (B, n_classes)

The registry ``CLASSIFIERS`` maps a name to (config class, ``build(cfg, vocab_size, n_classes, pad_id)``).
The defaults are chosen to train well from scratch on a CPU in minutes (SST-2, NSMC).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .encoder import ACTIVATIONS, POSITIONS, TransformerEncoder
from .heads import POOLS, ClassifierHead
from .rnn import CELLS, IMPLS

NONLINEARITIES = ("tanh", "relu")
from .fast_dropout import Dropout
from .textcnn import MODES, TextCNN, load_word_vectors


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_common(cfg) -> None:
    _check(cfg.embed_dim > 0, f"embed_dim must be > 0; got {cfg.embed_dim}")
    _check(cfg.input_dim is None or cfg.input_dim > 0, f"input_dim must be > 0 or None; got {cfg.input_dim}")
    for name in ("dropout", "embed_dropout", "word_dropout"):
        p = getattr(cfg, name, 0.0)
        _check(0.0 <= p < 1.0, f"{name} must be in [0, 1); got {p}")


class Embed(nn.Module):
    """ids (B, T) -> (B, T, E) by a lookup table, or features (B, T, input_dim) -> (B, T, E) by a Linear.

    Training only: ``word_dropout`` blanks whole positions (their vector becomes 0, as if the word
    were unknown), then ``dropout`` drops single coordinates.
    """

    def __init__(self, vocab_size: int, embed_dim: int, pad_id: int, input_dim: int | None, dropout: float,
                 word_dropout: float = 0.0):
        super().__init__()
        self.word_dropout = word_dropout
        if input_dim is None:
            self.table = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        else:
            self.table = nn.Linear(input_dim, embed_dim)
        self.drop = Dropout(dropout)

    @torch.no_grad()
    def load_vectors(self, path: str, vocab: list[str], freeze: bool, pad_id: int = 0) -> int:
        """Start the lookup table from word2vec/GloVe text (or a seqlab embed run) for ``vocab`` (index = id);
        ``freeze`` keeps it fixed (Kim's static) instead of fine-tuning it (non-static). Returns words found."""
        if not isinstance(self.table, nn.Embedding):
            raise ValueError("model.vectors needs token inputs; numeric feature sequences have no vocabulary")
        weights, found = load_word_vectors(path, vocab, self.table.embedding_dim)
        self.table.weight.copy_(weights)
        if 0 <= pad_id < len(vocab):
            self.table.weight[pad_id].zero_()
        self.table.weight.requires_grad_(not freeze)
        return found

    def forward(self, ids: Tensor) -> Tensor:
        x = self.table(ids)  # (B, T, E)
        if self.training and self.word_dropout > 0:
            keep = torch.rand(x.shape[:2], device=x.device) >= self.word_dropout  # (B, T)
            x = x * keep.unsqueeze(-1).to(x.dtype)
        return self.drop(x)


# ---- recurrent ---------------------------------------------------------------------------------
@dataclass
class RecurrentClassifierConfig:
    cell: str = "lstm"  # rnn | lstm | gru
    embed_dim: int = 128  # word-vector width
    hidden: int = 128  # hidden units per direction
    layers: int = 1  # stacked recurrent layers
    bidirectional: bool = True  # read left-to-right and right-to-left, concatenate
    pool: str = "max"  # last | mean | max | attention | cls: how T outputs become one vector
    embed_dropout: float = 0.5  # dropout on the word vectors (SST-2 from scratch overfits by epoch 3 at 0.3)
    word_dropout: float = 0.0  # probability of blanking a whole word (training only)
    dropout: float = 0.5  # between recurrent layers and on the pooled vector
    impl: str = "fused"  # fused (torch kernels) | reference (the cell equations step by step)
    input_dim: int | None = None  # set for numeric inputs (B, T, input_dim) instead of token ids
    forget_bias: float = 1.0  # LSTM: initial forget-gate bias, so the cell remembers by default (Jozefowicz et al. 2015)
    vectors: str = ""  # word2vec/GloVe text file or a seqlab embed run: the embedding table's starting values
    freeze_vectors: bool = False  # keep those vectors fixed (static, Kim 2014) instead of fine-tuning them
    update_bias: float = 0.0  # GRU: initial update-gate bias b_z (0 = torch's init; 1 keeps h_{t-1} by default, the GRU's
                              # counterpart of the LSTM's forget_bias: h_t = (1 - z) n_t + z h_{t-1})
    nonlinearity: str = "tanh"  # plain RNN only: tanh (the notes' h_t = tanh(...)) | relu (explodes instead of vanishing)

    def __post_init__(self):
        _check(self.cell in CELLS, f"cell must be one of {tuple(CELLS)}; got {self.cell!r}")
        _check(self.nonlinearity in NONLINEARITIES, f"nonlinearity must be one of {NONLINEARITIES}; got {self.nonlinearity!r}")
        _check(self.cell == "rnn" or self.nonlinearity == "tanh",
               f"nonlinearity applies to the plain RNN only; cell={self.cell!r} has its own gates (leave it at tanh)")
        _check(self.hidden > 0 and self.layers > 0, f"hidden and layers must be > 0; got {self.hidden}, {self.layers}")
        _check(self.pool in POOLS, f"pool must be one of {POOLS}; got {self.pool!r}")
        _check(self.impl in IMPLS, f"impl must be one of {IMPLS}; got {self.impl!r}")
        _check_common(self)


@dataclass
class RNNClassifierConfig(RecurrentClassifierConfig):
    cell: str = "rnn"  # the plain (Elman) RNN


@dataclass
class LSTMClassifierConfig(RecurrentClassifierConfig):
    cell: str = "lstm"  # long short-term memory


@dataclass
class GRUClassifierConfig(RecurrentClassifierConfig):
    cell: str = "gru"  # gated recurrent unit


def _init_forget_bias(lstm: nn.Module, value: float, gates: int = 4) -> None:
    """Set the second gate's bias to ``value`` in every layer/direction: the LSTM's forget gate (torch's
    gate order i, f, g, o; ``gates=4``) or the GRU's update gate (order r, z, n; ``gates=3``)."""
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_"):
                H = p.shape[0] // gates
                p[H: 2 * H].fill_(value if name.startswith("bias_ih") else 0.0)  # b_f = b_if + b_hf = value


class RecurrentClassifier(nn.Module):
    """Embedding -> (bi)RNN/LSTM/GRU -> pooling -> dropout -> linear.

    h_{1:T} = RNN(E x_{1:T});  logits = W dropout(pool(h_{1:T}, mask)) + b
    """

    def __init__(self, cfg: RecurrentClassifierConfig, vocab_size: int, n_classes: int, pad_id: int = 0):
        super().__init__()
        self.cfg = cfg
        self.pad_id = pad_id
        self.embed = Embed(vocab_size, cfg.embed_dim, pad_id, cfg.input_dim, cfg.embed_dropout, cfg.word_dropout)
        extra = {"nonlinearity": cfg.nonlinearity} if cfg.cell == "rnn" else {}
        self.rnn = CELLS[cfg.cell](cfg.embed_dim, cfg.hidden, num_layers=cfg.layers, bidirectional=cfg.bidirectional,
                                   dropout=cfg.dropout if cfg.layers > 1 else 0.0, impl=cfg.impl, **extra)
        if cfg.cell == "lstm":
            _init_forget_bias(self.rnn, cfg.forget_bias)
        elif cfg.cell == "gru" and cfg.update_bias:
            _init_forget_bias(self.rnn, cfg.update_bias, gates=3)
        width = cfg.hidden * (2 if cfg.bidirectional else 1)
        self.head = ClassifierHead(width, n_classes, cfg.pool, cfg.dropout, bidirectional=cfg.bidirectional)

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids long (B, T) [or float (B, T, input_dim)], mask bool (B, T) True = real -> logits (B, n_classes).

        Example::

            >>> m = RecurrentClassifier(RecurrentClassifierConfig(embed_dim=8, hidden=8), 50, 2)
            >>> m(torch.randint(1, 50, (3, 6)), torch.ones(3, 6, dtype=torch.bool)).shape
            torch.Size([3, 2])
        """
        x = self.embed(ids)  # (B, T, E)
        h, _ = self.rnn(x, lengths=mask.long().sum(dim=1))  # (B, T, D*H), zero at padding
        return self.head(h, mask)  # (B, n_classes)

    def init_from_vocab(self, vocab: list[str]) -> int:
        """Load ``cfg.vectors`` for the tokenizer's vocabulary (index = id); returns words found."""
        return self.embed.load_vectors(self.cfg.vectors, vocab, self.cfg.freeze_vectors, self.pad_id) if self.cfg.vectors else 0


# ---- TextCNN -----------------------------------------------------------------------------------
@dataclass
class TextCNNClassifierConfig:
    embed_dim: int = 200  # word-vector width (Kim: 300, the word2vec width)
    widths: tuple[int, ...] = (3, 4, 5)  # filter widths in words (Kim)
    n_maps: int = 100  # feature maps per width (Kim)
    mode: str = "rand"  # rand | static | non-static | multichannel (Kim's four variants)
    vectors: str = ""  # word2vec/GloVe text file for the non-rand modes, read by init_from_vocab()
    embed_dropout: float = 0.0  # dropout on the word vectors (Kim: none)
    dropout: float = 0.5  # dropout on the pooled features (Kim)
    input_dim: int | None = None  # set for numeric inputs (B, T, input_dim) instead of token ids

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        _check(len(self.widths) > 0 and min(self.widths) > 0, f"widths must be positive; got {self.widths}")
        _check(self.n_maps > 0, f"n_maps must be > 0; got {self.n_maps}")
        _check(self.mode in MODES, f"mode must be one of {MODES}; got {self.mode!r}")
        _check(self.mode == "rand" or bool(self.vectors),
               f"mode={self.mode!r} needs pretrained vectors: set vectors=PATH (word2vec/GloVe text)")
        _check(self.mode == "rand" or self.input_dim is None, "numeric inputs (input_dim) need mode='rand'")
        _check_common(self)


class TextCNNClassifier(nn.Module):
    """Kim (2014): embedding -> convolutions of several widths -> max over time -> dropout -> linear."""

    def __init__(self, cfg: TextCNNClassifierConfig, vocab_size: int, n_classes: int, pad_id: int = 0):
        super().__init__()
        self.cfg = cfg
        self.cnn = TextCNN(vocab_size, cfg.embed_dim, cfg.widths, cfg.n_maps, cfg.mode, pad_id, cfg.input_dim,
                           cfg.embed_dropout)
        self.drop = Dropout(cfg.dropout)
        self.out = nn.Linear(self.cnn.out_dim, n_classes)

    def init_from_vocab(self, vocab: list[str]) -> int:
        """Load ``cfg.vectors`` for the tokenizer's vocabulary (index = id); returns words found."""
        if not self.cfg.vectors:
            return 0
        weights, found = load_word_vectors(self.cfg.vectors, vocab, self.cfg.embed_dim)
        self.cnn.set_vectors(weights)
        return found

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """ids long (B, T) [or float (B, T, input_dim)], mask bool (B, T) True = real -> logits (B, n_classes).

        z = [max_i ReLU(w . x_{i:i+h-1} + b) for each map];  logits = W dropout(z) + b

        Example::

            >>> m = TextCNNClassifier(TextCNNClassifierConfig(embed_dim=8, n_maps=4), 50, 2)
            >>> m(torch.randint(1, 50, (3, 2)), torch.ones(3, 2, dtype=torch.bool)).shape
            torch.Size([3, 2])
        """
        z = self.cnn(ids, mask)  # (B, n_maps * len(widths))
        return self.out(self.drop(z))


# ---- Transformer -------------------------------------------------------------------------------
@dataclass
class TransformerClassifierConfig:
    embed_dim: int = 128  # d_model, the width of every position's vector
    n_head: int = 4  # attention heads (embed_dim must be divisible by it)
    n_layer: int = 2  # encoder layers
    d_ff: int = 256  # feed-forward inner width
    activation: str = "gelu"  # gelu | relu
    norm_first: bool = True  # pre-LN (stable without warm-up) or post-LN (the 2017 paper)
    positions: str = "sinusoidal"  # sinusoidal (any length) | learned (at most max_len)
    max_len: int = 512  # rows of the learned position table
    pool: str = "mean"  # mean | max | attention | cls (a learned [CLS] vector is prepended) | last
    # Small labelled sets overfit a from-scratch Transformer quickly (fairseq's IWSLT recipe uses 0.3 too):
    # SST-2 dev 81.4 at 0.1 and 82.5 at 0.3 (benchmarks/RESULTS.md).
    embed_dropout: float = 0.3  # dropout on the token vectors
    dropout: float = 0.3  # attention weights, sub-block outputs, and the pooled vector
    input_dim: int | None = None  # set for numeric inputs (B, T, input_dim) instead of token ids
    residual: bool = True  # skip connections around every sub-block; false only to show why they are there
    vectors: str = ""  # word2vec/GloVe text file or a seqlab embed run: the embedding table's starting values
    freeze_vectors: bool = False  # keep those vectors fixed instead of fine-tuning them

    def __post_init__(self):
        _check(self.n_head > 0 and self.embed_dim % self.n_head == 0,
               f"embed_dim ({self.embed_dim}) must be divisible by n_head ({self.n_head})")
        _check(self.n_layer > 0 and self.d_ff > 0, f"n_layer and d_ff must be > 0; got {self.n_layer}, {self.d_ff}")
        _check(self.activation in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}; got {self.activation!r}")
        _check(self.positions in POSITIONS, f"positions must be one of {POSITIONS}; got {self.positions!r}")
        _check(self.max_len > 0, f"max_len must be > 0; got {self.max_len}")
        _check(self.pool in POOLS, f"pool must be one of {POOLS}; got {self.pool!r}")
        _check_common(self)


class TransformerClassifier(nn.Module):
    """Embedding -> Transformer encoder -> pooling -> dropout -> linear."""

    def __init__(self, cfg: TransformerClassifierConfig, vocab_size: int, n_classes: int, pad_id: int = 0):
        super().__init__()
        self.cfg = cfg
        self.pad_id = pad_id
        self.embed = Embed(vocab_size, cfg.embed_dim, pad_id, cfg.input_dim, cfg.embed_dropout)
        self.cls = nn.Parameter(torch.randn(cfg.embed_dim) * 0.02) if cfg.pool == "cls" else None
        self.encoder = TransformerEncoder(cfg.embed_dim, cfg.n_head, cfg.n_layer, cfg.d_ff, cfg.dropout,
                                          cfg.activation, cfg.norm_first, cfg.positions, cfg.max_len, cfg.residual)
        self.head = ClassifierHead(cfg.embed_dim, n_classes, cfg.pool, cfg.dropout)

    def forward(self, ids: Tensor, mask: Tensor, return_attention: bool = False):
        """ids long (B, T) [or float (B, T, input_dim)], mask bool (B, T) True = real -> logits (B, n_classes).

        With ``return_attention``: ``(logits, [weights (B, nh, T', T') per layer])``, T' = T + 1 with
        pool=cls (the [CLS] vector is position 0).

        Example::

            >>> m = TransformerClassifier(TransformerClassifierConfig(embed_dim=16, d_ff=32), 50, 2)
            >>> m(torch.randint(1, 50, (3, 6)), torch.ones(3, 6, dtype=torch.bool)).shape
            torch.Size([3, 2])
        """
        x = self.embed(ids)  # (B, T, C)
        if self.cls is not None:
            B = x.shape[0]
            x = torch.cat([self.cls.expand(B, 1, -1), x], dim=1)  # (B, 1 + T, C): [CLS] at position 0
            mask = torch.cat([mask.new_ones(B, 1), mask], dim=1)  # (B, 1 + T)
        if return_attention:
            h, maps = self.encoder(x, mask, return_attention=True)  # (B, T, C), [(B, nh, T, T)]
            return self.head(h, mask), maps
        h = self.encoder(x, mask)  # (B, T, C)
        return self.head(h, mask)  # (B, n_classes)

    def init_from_vocab(self, vocab: list[str]) -> int:
        """Load ``cfg.vectors`` for the tokenizer's vocabulary (index = id); returns words found."""
        return self.embed.load_vectors(self.cfg.vectors, vocab, self.cfg.freeze_vectors, self.pad_id) if self.cfg.vectors else 0


# ---- registry ----------------------------------------------------------------------------------
def build_recurrent(cfg: RecurrentClassifierConfig, vocab_size: int, n_classes: int, pad_id: int) -> nn.Module:
    return RecurrentClassifier(cfg, vocab_size, n_classes, pad_id)


def build_textcnn(cfg: TextCNNClassifierConfig, vocab_size: int, n_classes: int, pad_id: int) -> nn.Module:
    return TextCNNClassifier(cfg, vocab_size, n_classes, pad_id)


def build_transformer(cfg: TransformerClassifierConfig, vocab_size: int, n_classes: int, pad_id: int) -> nn.Module:
    return TransformerClassifier(cfg, vocab_size, n_classes, pad_id)


CLASSIFIERS = {
    "rnn": (RNNClassifierConfig, build_recurrent),
    "lstm": (LSTMClassifierConfig, build_recurrent),
    "gru": (GRUClassifierConfig, build_recurrent),
    "textcnn": (TextCNNClassifierConfig, build_textcnn),
    "transformer": (TransformerClassifierConfig, build_transformer),
}

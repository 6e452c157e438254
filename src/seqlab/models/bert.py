"""BERT: a bidirectional Transformer encoder pre-trained by masked language modelling (Devlin et al. 2019).

Shapes, batch first: B batch, T tokens, C = d_model, nh heads, hs = C / nh, V vocabulary size.

    h_0 = LN(E_tok[ids] + E_pos[t] + E_seg[segments])          three embeddings summed, then LayerNorm
    post-LN (BERT):   h = LN(h + Attn(h));   h = LN(h + FFN(h))
    pre-LN:           h = h + Attn(LN(h));   h = h + FFN(LN(h));   a final LN after the last layer
    FFN(h) = W_2 · GELU(W_1 h + b_1) + b_2

Every token attends to every real token on both sides (no causal mask); padding is hidden by the padding
mask. Two heads sit on top:

* :class:`BertForMaskedLM`: ``logits = LN(GELU(W_t h)) · E_tokᵀ + b``, the decoder tied to the token
  embedding, trained to recover the masked tokens (see ``seqlab.data.mlm``);
* :class:`BertClassifier`: the pooler ``tanh(W_p h_[CLS] + b_p)`` then a linear layer over the classes,
  fine-tuned from a pre-trained encoder.

The tokenizer is WordPiece (``seqlab.data.tokenizers``); the first token of every input is [CLS].
Hugging Face's ``BertModel``/``BertForMaskedLM`` weights map onto these modules (``seqlab.interop.hf``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .encoder import attention_weights
from .fast_dropout import Dropout, dropout
from .fast_dropout import attention as attend

NORMS = ("post", "pre")
ACTIVATIONS = ("gelu", "gelu_tanh")


@dataclass
class BertConfig:
    vocab_size: int = 8000  # WordPiece vocabulary size (BERT-base: 30522)
    max_position: int = 512  # longest input in tokens, [CLS] and [SEP] included
    type_vocab_size: int = 2  # number of segments (sentence A / sentence B)
    n_layer: int = 4  # encoder layers (BERT-base: 12)
    n_head: int = 4  # attention heads; must divide d_model
    d_model: int = 256  # hidden width C (BERT-base: 768)
    d_ff: int = 1024  # feed-forward hidden width (usually 4 * d_model)
    dropout: float = 0.1  # dropout on embeddings and residual branches
    attn_dropout: float = 0.1  # dropout on attention weights
    norm: str = "post"  # "post": LayerNorm after each residual add (BERT); "pre": before each sublayer
    activation: str = "gelu"  # "gelu" (exact erf, BERT) or "gelu_tanh"
    layer_norm_eps: float = 1e-12  # epsilon inside every LayerNorm (BERT: 1e-12)

    def __post_init__(self):
        for name in ("vocab_size", "max_position", "type_vocab_size", "n_layer", "n_head", "d_model", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"BertConfig.{name} must be >= 1; got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"BertConfig.d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        for name in ("dropout", "attn_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1); got {getattr(self, name)}")
        if self.norm not in NORMS:
            raise ValueError(f"BertConfig.norm must be one of {NORMS}; got {self.norm!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"BertConfig.activation must be one of {ACTIVATIONS}; got {self.activation!r}")
        if self.layer_norm_eps <= 0:
            raise ValueError(f"BertConfig.layer_norm_eps must be > 0; got {self.layer_norm_eps}")


def _act(name: str):
    return (lambda x: F.gelu(x, approximate="tanh")) if name == "gelu_tanh" else F.gelu


class BertEmbeddings(nn.Module):
    """Token + position + segment embeddings, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.tok = nn.Embedding(config.vocab_size, config.d_model)  # E_tok (V, C)
        self.pos = nn.Embedding(config.max_position, config.d_model)  # E_pos (max_position, C)
        self.seg = nn.Embedding(config.type_vocab_size, config.d_model)  # E_seg (type_vocab_size, C)
        self.norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.drop = Dropout(config.dropout)

    def forward(self, ids: Tensor, segments: Tensor | None = None) -> Tensor:
        T = ids.size(1)
        x = self.tok(ids) + self.pos.weight[:T]  # (B, T, C)
        x = x + (self.seg(segments) if segments is not None else self.seg.weight[0])
        return self.drop(self.norm(x))


class EncoderLayer(nn.Module):
    """Bidirectional multi-head self-attention and a GELU feed-forward, each in a residual, post- or pre-LN."""

    def __init__(self, config: BertConfig):
        super().__init__()
        C = config.d_model
        self.n_head = config.n_head
        self.pre_norm = config.norm == "pre"
        self.qkv = nn.Linear(C, 3 * C)  # W_q, W_k, W_v stacked
        self.proj = nn.Linear(C, C)  # W_o
        self.norm1 = nn.LayerNorm(C, eps=config.layer_norm_eps)
        self.ff1 = nn.Linear(C, config.d_ff)
        self.ff2 = nn.Linear(config.d_ff, C)
        self.norm2 = nn.LayerNorm(C, eps=config.layer_norm_eps)
        self.act = _act(config.activation)
        self.drop = Dropout(config.dropout)
        self.attn_dropout = config.attn_dropout

    def attention(self, x: Tensor, attn_mask: Tensor | None, need_weights: bool = False):
        """x (B, T, C) -> (B, T, C); with ``need_weights`` also the weights (B, nh, T, T) (explicit softmax)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if need_weights:
            weights = attention_weights(q, k, attn_mask)  # (B, nh, T, T), rows sum to 1 over real keys
            y = dropout(weights, self.attn_dropout, self.training) @ v  # (B, nh, T, hs)
        else:
            y = attend(q, k, v, attn_mask=attn_mask, dropout_p=self.attn_dropout, training=self.training)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return (self.drop(self.proj(y)), weights) if need_weights else self.drop(self.proj(y))

    def feed_forward(self, x: Tensor) -> Tensor:
        return self.drop(self.ff2(self.act(self.ff1(x))))

    def forward(self, x: Tensor, attn_mask: Tensor | None, need_weights: bool = False):
        if need_weights:
            a, weights = self.attention(self.norm1(x) if self.pre_norm else x, attn_mask, need_weights=True)
        else:
            a = self.attention(self.norm1(x) if self.pre_norm else x, attn_mask)
        if self.pre_norm:
            x = x + a
            x = x + self.feed_forward(self.norm2(x))
        else:
            x = self.norm1(x + a)
            x = self.norm2(x + self.feed_forward(x))
        return (x, weights) if need_weights else x


class Bert(nn.Module):
    """The BERT encoder: embeddings and a stack of bidirectional encoder layers."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layer))
        self.final_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.norm == "pre" else None
        self.apply(_init_weights)

    def forward(self, ids: Tensor, mask: Tensor | None = None, segments: Tensor | None = None,
                return_attention: bool = False):
        """Contextual vectors for every token.

        Args:
            ids: (B, T) int64 token ids, T <= max_position.
            mask: (B, T) bool padding mask, True = real token, False = padding (never attended to);
                None = all real.
            segments: (B, T) int64 segment ids in [0, type_vocab_size); None = all 0.

            return_attention: also return every layer's attention weights, [(B, nh, T, T)], each row
                summing to 1 over the real keys (explicit softmax; the hidden states are unchanged).

        Returns:
            (B, T, C) float hidden states ``h_L``; ``h_L[:, 0]`` is the [CLS] state (with
            ``return_attention``: ``(h_L, maps)``).
        """
        if ids.size(1) > self.config.max_position:
            raise ValueError(f"input of {ids.size(1)} tokens exceeds max_position {self.config.max_position}")
        attn_mask = None
        if mask is not None and not bool(mask.all()):
            attn_mask = mask[:, None, None, :]  # (B, 1, 1, T): True = may attend to this key
        x = self.embeddings(ids, segments)  # (B, T, C)
        maps = []
        for layer in self.layers:
            if return_attention:
                x, w = layer(x, attn_mask, need_weights=True)
                maps.append(w)
            else:
                x = layer(x, attn_mask)
        x = self.final_norm(x) if self.final_norm is not None else x
        return (x, maps) if return_attention else x


def _init_weights(module):
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class MLMHead(nn.Module):
    """logits = LN(GELU(W_t h + b_t)) · E_tokᵀ + b: the decoder is the (shared) token embedding matrix."""

    def __init__(self, config: BertConfig, embedding: nn.Embedding):
        super().__init__()
        self.transform = nn.Linear(config.d_model, config.d_model)
        self.act = _act(config.activation)
        self.norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.d_model, config.vocab_size)
        self.decoder.weight = embedding.weight  # tied
        nn.init.zeros_(self.decoder.bias)
        nn.init.normal_(self.transform.weight, std=0.02)
        nn.init.zeros_(self.transform.bias)

    def forward(self, h: Tensor) -> Tensor:
        return self.decoder(self.norm(self.act(self.transform(h))))


class BertForMaskedLM(nn.Module):
    """BERT encoder + masked-LM head.

    Example::

        >>> m = BertForMaskedLM(BertConfig(vocab_size=100, n_layer=2, n_head=2, d_model=32, d_ff=64))
        >>> m(torch.randint(0, 100, (2, 12))).shape
        torch.Size([2, 12, 100])
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = Bert(config)
        self.mlm = MLMHead(config, self.bert.embeddings.tok)

    @classmethod
    def from_config(cls, config: BertConfig) -> "BertForMaskedLM":
        return cls(config)

    def forward(self, ids: Tensor, mask: Tensor | None = None, segments: Tensor | None = None,
                select: Tensor | None = None, return_attention: bool = False):
        """Vocabulary logits at every position, or only at the selected ones.

        Args:
            ids, mask, segments: as in :meth:`Bert.forward` (mask True = real token).
            select: optional (B, T) bool, True where logits are wanted (the masked positions); saves the
                output layer's cost on the other ~85% of tokens.

            return_attention: also return the encoder's attention maps (see :meth:`Bert.forward`).

        Returns:
            (B, T, V) float logits, or (N, V) for the N selected positions in row-major order
            (with ``return_attention``: ``(logits, maps)``).
        """
        h = self.bert(ids, mask, segments, return_attention=return_attention)  # (B, T, C)
        h, maps = h if return_attention else (h, None)
        if select is not None:
            h = h[select]  # (N, C)
        return (self.mlm(h), maps) if return_attention else self.mlm(h)


class BertClassifier(nn.Module):
    """BERT encoder + pooler on the [CLS] state + a linear classifier, for fine-tuning.

    ``logits = W_c · Dropout(tanh(W_p h_L[:, 0] + b_p)) + b_c``, (B, n_classes).

    With ``cls_id`` (and ``sep_id``) the classifier frames each input itself, ``[CLS] tokens [SEP]`` as in
    pre-training, so inputs hold the sentence's tokens only; it keeps the first ``max_position - 2``.
    """

    def __init__(self, config: BertConfig, n_classes: int, cls_id: int | None = None, sep_id: int | None = None):
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2; got {n_classes}")
        self.config = config
        self.cls_id, self.sep_id = cls_id, sep_id
        self.bert = Bert(config)
        self.pooler = nn.Linear(config.d_model, config.d_model)
        self.drop = Dropout(config.dropout)
        self.classifier = nn.Linear(config.d_model, n_classes)
        for lin in (self.pooler, self.classifier):
            nn.init.normal_(lin.weight, std=0.02)
            nn.init.zeros_(lin.bias)

    def frame(self, ids: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """(B, T) right-padded tokens -> (B, T + 2) ``[CLS] tokens [SEP]`` and its mask (True = real token)."""
        keep = self.config.max_position - 2
        ids = ids[:, :keep]
        if mask is None:
            mask = torch.ones_like(ids, dtype=torch.bool)
        mask = mask[:, :keep]
        ids = F.pad(ids, (1, 1), value=0)  # (B, T + 2)
        mask = F.pad(mask, (1, 1), value=False)
        ids[:, 0], mask[:, 0] = self.cls_id, True
        if self.sep_id is not None:
            end = mask.sum(1)  # (B,): index just after the last real token
            ids[torch.arange(len(ids)), end] = self.sep_id
            mask[torch.arange(len(ids)), end] = True
        return ids, mask

    def forward(self, ids: Tensor, mask: Tensor | None = None, segments: Tensor | None = None,
                return_attention: bool = False):
        """ids (B, T) int64, mask (B, T) bool (True = real token) -> (B, n_classes) float logits.

        With ``return_attention``: ``(logits, maps)``, maps over the framed ``[CLS] tokens [SEP]`` input
        when the classifier frames it (see :meth:`frame`)."""
        if self.cls_id is not None:
            ids, mask = self.frame(ids, mask)
            segments = None
        h = self.bert(ids, mask, segments, return_attention=return_attention)  # (B, T, C)
        h, maps = h if return_attention else (h, None)
        pooled = torch.tanh(self.pooler(h[:, 0]))  # (B, C): the [CLS] state
        logits = self.classifier(self.drop(pooled))
        return (logits, maps) if return_attention else logits

    def load_encoder(self, state_dict: dict[str, Tensor]) -> None:
        """Copy the encoder weights (``bert.*`` keys) of a :class:`BertForMaskedLM` or BertClassifier;
        the pooler and classifier keep their fresh initialisation unless the keys are present."""
        own = {k: v for k, v in state_dict.items() if k.startswith(("bert.", "pooler."))}
        missing, _ = self.load_state_dict(own, strict=False)
        encoder_missing = [k for k in missing if k.startswith("bert.")]
        if encoder_missing:
            raise ValueError(f"encoder weights missing from the state dict: {encoder_missing[:5]}")

"""Encoder-decoder Transformer (Vaswani et al. 2017, "Attention is all you need").

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V,   computed by F.scaled_dot_product_attention
                                                              (on the CPU in bf16 or for one query: the equation)
    MultiHead(x)       = concat(head_1 .. head_h) W_o,  head_i = Attention(x W_q^i, m W_k^i, m W_v^i)

Encoder layer: self-attention over the source, then a position-wise feed-forward network.
Decoder layer: causal self-attention (position t sees targets <= t), cross-attention (queries from
the decoder, keys = values = encoder output), feed-forward. Residual + LayerNorm around each
sub-layer, pre-LN by default (``norm_first``), which trains without a long warmup on small data.

Shapes are batch first: src (B, S), tgt (B, T), hidden (B, T, d_model), heads (B, nh, T, hs).
Masks: True = a real token (the same convention SDPA uses for boolean masks: True = take part).

Incremental decoding keeps a key/value cache per decoder layer: each step projects only the new
token, appends its key and value, and attends over the cache; cross-attention keys and values are
computed once from the encoder output. Parity with torch.nn.Transformer is tested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import transformer_step
from .decoding import expand_memory, select_memory
from .encoder import sinusoidal_positions
from .fast_dropout import Dropout, attention, dropout


@dataclass
class TransformerConfig:
    src_vocab: int = 8000  # source vocabulary size (set by the task from the tokenizer)
    tgt_vocab: int = 8000  # target vocabulary size (set by the task from the tokenizer)
    d_model: int = 256  # model width; small enough to train on CPU in minutes
    n_head: int = 4  # attention heads; head size = d_model / n_head
    n_enc_layer: int = 3  # encoder layers
    n_dec_layer: int = 3  # decoder layers
    d_ff: int = 1024  # feed-forward inner size (4 * d_model as in the paper)
    dropout: float = 0.1  # on embeddings, attention weights and sub-layer outputs
    attn_dropout: float | None = None  # on the attention weights instead; None = dropout (fairseq's attention_dropout)
    ff_dropout: float | None = None  # after the feed-forward activation instead; None = dropout (activation_dropout)
    activation: str = "relu"  # relu | gelu, in the feed-forward network
    norm_first: bool = True  # pre-LN (LayerNorm before each sub-layer) + a final LayerNorm
    positions: str = "sinusoidal"  # sinusoidal | learned
    max_len: int = 512  # longest sequence the position table covers
    share_embeddings: bool = False  # one embedding matrix for source and target (joint vocabulary)
    tie_output: bool = True  # output projection = target embedding matrix (transposed)
    copy: bool = False  # pointer-generator output (See et al. 2017): mix copying source tokens in (needs one vocabulary)
    pad_id: int = 0  # padding id (zero embedding, never attended to)

    def __post_init__(self):
        for name in ("src_vocab", "tgt_vocab", "d_model", "n_head", "n_enc_layer", "n_dec_layer", "d_ff", "max_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        if self.activation not in ("relu", "gelu"):
            raise ValueError(f"activation must be relu or gelu; got {self.activation!r}")
        if self.positions not in ("sinusoidal", "learned"):
            raise ValueError(f"positions must be sinusoidal or learned; got {self.positions!r}")
        for name in ("dropout", "attn_dropout", "ff_dropout"):
            p = getattr(self, name)
            if p is not None and not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1){' or None (= dropout)' if name != 'dropout' else ''}; got {p}")
        if self.copy and self.src_vocab != self.tgt_vocab:
            raise ValueError(f"copy needs one joint vocabulary; got src_vocab={self.src_vocab}, tgt_vocab={self.tgt_vocab}")
        if self.share_embeddings and self.src_vocab != self.tgt_vocab:
            raise ValueError(f"share_embeddings needs one joint vocabulary; got src_vocab={self.src_vocab}, "
                             f"tgt_vocab={self.tgt_vocab}")

    @property
    def p_attn(self) -> float:
        return self.dropout if self.attn_dropout is None else self.attn_dropout

    @property
    def p_ff(self) -> float:
        return self.dropout if self.ff_dropout is None else self.ff_dropout


def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)); (max_len, d_model)."""
    return sinusoidal_positions(max_len, d_model)


def _use_sdpa(q: Tensor) -> bool:
    """SDPA everywhere except two CPU cases where its kernels are several times slower than the
    plain equation (measured, torch 2.x): bf16 inputs, and one query per row (incremental decoding)."""
    return q.device.type != "cpu" or (q.dtype == torch.float32 and q.size(2) > 1)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate W_q, W_k, W_v, W_o (bias on all, as nn.MultiheadAttention)."""

    def __init__(self, d_model: int, n_head: int, dropout: float):
        super().__init__()
        self.n_head, self.hs = n_head, d_model // n_head
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def heads(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        return x.view(B, T, self.n_head, self.hs).transpose(1, 2)  # (B, T, C) -> (B, nh, T, hs)

    def kv(self, m: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values of m (B, S, C), each (B, nh, S, hs): cached for cross-attention."""
        return self.heads(self.W_k(m)), self.heads(self.W_v(m))

    def forward(self, x: Tensor, m: Tensor | None = None, mask: Tensor | None = None,
                kv: tuple[Tensor, Tensor] | None = None, need_weights: bool = False):
        """Queries from x (B, T, C); keys/values from m (B, S, C) or given as ``kv`` (each (B, nh, S, hs)).

        mask: bool, broadcastable to (B, nh, T, S), True = the query may attend to that key.
        Returns output (B, T, C) and, if ``need_weights``, weights averaged over heads (B, T, S).
        """
        B, T, C = x.shape
        q = self.heads(self.W_q(x))  # (B, nh, T, hs)
        k, v = kv if kv is not None else self.kv(m if m is not None else x)  # (B, nh, S, hs)
        p = self.dropout if self.training else 0.0
        w = None
        if need_weights or not _use_sdpa(q):
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.hs)  # (B, nh, T, S)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            w = scores.softmax(-1)  # (B, nh, T, S)
            y = dropout(w, p, self.training) @ v  # (B, nh, T, hs)
        else:
            y = attention(q, k, v, attn_mask=mask, dropout_p=p, training=self.training)  # (B, nh, T, hs)
        y = self.W_o(y.transpose(1, 2).reshape(B, T, C))  # (B, nh, T, hs) -> (B, T, C)
        return y, (w.mean(1) if need_weights else None)  # weights averaged over heads (B, T, S)


class FeedForward(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(cfg.d_model, cfg.d_ff), nn.Linear(cfg.d_ff, cfg.d_model)
        self.act = nn.ReLU() if cfg.activation == "relu" else nn.GELU()
        self.dropout = Dropout(cfg.p_ff)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.act(self.linear1(x))))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_head, cfg.p_attn)
        self.ff = FeedForward(cfg)
        self.norm1, self.norm2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.dropout = Dropout(cfg.dropout)
        self.norm_first = cfg.norm_first

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if self.norm_first:
            x = x + self.dropout(self.self_attn(self.norm1(x), mask=mask)[0])
            return x + self.dropout(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout(self.self_attn(x, mask=mask)[0]))
        return self.norm2(x + self.dropout(self.ff(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.n_head, cfg.p_attn)
        self.cross_attn = MultiHeadAttention(cfg.d_model, cfg.n_head, cfg.p_attn)
        self.ff = FeedForward(cfg)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(cfg.d_model) for _ in range(3))
        self.dropout = Dropout(cfg.dropout)
        self.norm_first = cfg.norm_first

    def forward(self, x, self_mask, cross_kv, cross_mask, self_kv=None, need_weights=False):
        """x (B, T, C); self_kv: keys/values of all positions so far (incremental decoding) or None."""
        h = self.norm1(x) if self.norm_first else x
        a, _ = self.self_attn(h, kv=self_kv, mask=self_mask)
        x = x + self.dropout(a) if self.norm_first else self.norm1(x + self.dropout(a))
        h = self.norm2(x) if self.norm_first else x
        a, w = self.cross_attn(h, kv=cross_kv, mask=cross_mask, need_weights=need_weights)
        x = x + self.dropout(a) if self.norm_first else self.norm2(x + self.dropout(a))
        h = self.norm3(x) if self.norm_first else x
        x = x + self.dropout(self.ff(h)) if self.norm_first else self.norm3(x + self.dropout(self.ff(x)))
        return x, w


class CopyHead(nn.Module):
    """Pointer-generator output (See et al. 2017, on a Transformer as OpenNMT's copy attention):

        a_t   = softmax(W_c h_t . m_s / sqrt(C))             one attention over the encoder states m (B, T, S)
        g_t   = sigmoid(w_g . [h_t ; sum_s a_ts m_s] + b_g)  probability of generating (B, T, 1)
        P(y)  = g_t softmax(out(h_t))_y + (1 - g_t) sum_{s: x_s = y} a_ts

    so a source token (a name in a dialogue) can be produced however rare it is in the targets.
    Returns log P (B, T, V) in fp32 (normalised: the loss reads it as log-probabilities, no second softmax).
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.W_c = nn.Linear(d_model, d_model)
        self.gate = nn.Linear(2 * d_model, 1)

    def attend(self, h: Tensor, memory: dict) -> tuple[Tensor, Tensor]:
        """The copy attention a (B, T, S) and the generation probability g (B, T, 1), both fp32."""
        m = memory["enc"]  # (B, S, C)
        scores = self.W_c(h) @ m.transpose(1, 2) / math.sqrt(m.size(-1))  # (B, T, S)
        a = scores.float().masked_fill(~memory["mask"][:, None, :], float("-inf")).softmax(-1)  # (B, T, S)
        g = torch.sigmoid(self.gate(torch.cat([h, (a.to(m.dtype) @ m)], -1)).float())  # (B, T, 1)
        return a, g

    def forward(self, h: Tensor, logits: Tensor, memory: dict) -> Tensor:
        src = memory["src"]  # (B, S)
        a, g = self.attend(h, memory)
        # log P = log g + log_softmax(out(h)) for every token, then the source's tokens corrected: only two passes
        # over the (B, T, V) scores (a dense mixture costs five, and as many backward)
        lsm, log_g = F.log_softmax(logits.float(), -1), g.log()
        out = lsm + log_g  # (B, T, V): the generating part
        B, T, S = a.shape
        same = (src[:, :, None] == src[:, None, :]).float()  # (B, S, S): positions holding the same token
        with torch.autocast(a.device.type, enabled=False):  # fp32, as the attention weights a
            copied = a @ same  # (B, T, S): the copy mass of the token at each position, sum_{s': x_s' = x_s} a_ts'
        idx = src[:, None, :].expand(B, T, S)
        gen = lsm.gather(2, idx) + log_g  # (B, T, S): log g + log softmax at each source token (out is changed below)
        mixed = (gen.exp() + (1 - g) * copied).clamp_min(1e-12).log()  # log P of each source token
        # each token is corrected once: its k positions each add 1/k of the difference
        return out.scatter_add_(2, idx, (mixed - gen) / same.sum(-1)[:, None, :])

    def reference(self, h: Tensor, logits: Tensor, memory: dict) -> Tensor:
        """The mixture as the equations read, dense over the vocabulary (the tests' and benchmark's reference;
        ``forward`` returns the same values and gradients in fewer passes over (B, T, V))."""
        src = memory["src"]
        a, g = self.attend(h, memory)
        B, T, S = a.shape
        p = (g * logits.float().softmax(-1)).scatter_add_(2, src[:, None, :].expand(B, T, S), (1 - g) * a)
        return p.clamp_min(1e-12).log()


class Transformer(nn.Module):
    """Encoder-decoder Transformer; built from a :class:`TransformerConfig`."""

    decode_output_dtype: torch.dtype | None = None  # the fast decode step's output projection outside autocast
    # (None: the step's dtype); a bf16 run sets bf16 for its fp32 small-batch decoding (tasks/seq2seq_run.py)

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        C = cfg.d_model
        self.src_embed = nn.Embedding(cfg.src_vocab, C, padding_idx=cfg.pad_id)
        self.tgt_embed = self.src_embed if cfg.share_embeddings else nn.Embedding(cfg.tgt_vocab, C, padding_idx=cfg.pad_id)
        if cfg.positions == "learned":
            self.pos = nn.Embedding(cfg.max_len, C)
        else:
            self.register_buffer("pe", sinusoidal_table(cfg.max_len, C), persistent=False)
        self.enc_layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_enc_layer))
        self.dec_layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_dec_layer))
        self.enc_norm = nn.LayerNorm(C) if cfg.norm_first else nn.Identity()
        self.dec_norm = nn.LayerNorm(C) if cfg.norm_first else nn.Identity()
        self.out = nn.Linear(C, cfg.tgt_vocab)
        if cfg.tie_output:
            self.out.weight = self.tgt_embed.weight
        self.copy = CopyHead(C) if cfg.copy else None
        self.dropout = Dropout(cfg.dropout)
        for name, p in self.named_parameters():  # Xavier for matrices, as the paper's reference code
            if p.dim() > 1 and "embed" not in name:
                nn.init.xavier_uniform_(p)
        nn.init.normal_(self.src_embed.weight, std=C ** -0.5)
        nn.init.normal_(self.tgt_embed.weight, std=C ** -0.5)
        with torch.no_grad():
            self.src_embed.weight[cfg.pad_id].zero_()
            self.tgt_embed.weight[cfg.pad_id].zero_()

    @classmethod
    def from_config(cls, cfg: TransformerConfig) -> "Transformer":
        return cls(cfg)

    def train(self, mode: bool = True) -> "Transformer":
        """nn.Module.train, also dropping the decode step's bound weights (transformer_step.bind): they are
        rebound at the next decode, so switching to eval() after any change of the weights (an optimizer that
        does not bump version counters included) decodes with the current ones."""
        self.__dict__.pop("_fast_step_weights", None)
        return super().train(mode)

    def embed(self, table: nn.Embedding, ids: Tensor, start: int = 0) -> Tensor:
        """ids (B, T) -> (B, T, C): sqrt(d_model) * E[ids] + position(start .. start+T-1)."""
        T = ids.size(1)
        if start + T > self.cfg.max_len:
            raise ValueError(f"sequence of length {start + T} exceeds the model's max_len {self.cfg.max_len}")
        pos = self.pos.weight[start:start + T] if self.cfg.positions == "learned" else self.pe[start:start + T]
        return self.dropout(table(ids) * math.sqrt(self.cfg.d_model) + pos)  # (B, T, C)

    def encode(self, src: Tensor, src_mask: Tensor) -> dict:
        """src (B, S) long, src_mask (B, S) bool True = real -> memory {"enc": (B, S, C), "mask": (B, S)}."""
        mask = src_mask[:, None, None, :]  # (B, 1, 1, S): every query may see every real key
        x = self.embed(self.src_embed, src)
        for layer in self.enc_layers:
            x = layer(x, mask)
        return {"enc": self.enc_norm(x), "mask": src_mask, "src": src}

    def output(self, h: Tensor, memory: dict) -> Tensor:
        """Final decoder states h (B, T, C) -> logits (B, T, V); with ``copy``, log-probabilities of the
        pointer-generator mixture instead (cross-entropy treats both alike: log_softmax(log p) = log p)."""
        logits = self.out(h)
        return self.copy(h, logits, memory) if self.copy is not None else logits

    def decode(self, tgt_in: Tensor, memory: dict, need_weights: bool = False):
        """Full-sequence decoder: tgt_in (B, T) -> logits (B, T, V), cross-attention (B, T, S) or None."""
        T = tgt_in.size(1)
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt_in.device).tril()  # (T, T), True = visible
        cross_mask = memory["mask"][:, None, None, :]  # (B, 1, 1, S)
        x = self.embed(self.tgt_embed, tgt_in)
        w = None
        for i, layer in enumerate(self.dec_layers):
            last = need_weights and i == len(self.dec_layers) - 1
            x, w_i = layer(x, causal, layer.cross_attn.kv(memory["enc"]), cross_mask, need_weights=last)
            w = w_i if last else w
        return self.output(self.dec_norm(x), memory), w

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, return_attn: bool = False):
        """Teacher-forced logits.

        Args:
            src: (B, S) long; src_mask: (B, S) bool, True = real token (padding is never attended to).
            tgt_in: (B, T) long, <sos> y_1 .. y_{T-1}; position t attends to tgt_in[:, :t+1] only.
            return_attn: also return the last decoder layer's cross-attention, head-averaged (B, T, S).

        Returns:
            logits (B, T, V) float [, attn].
        """
        logits, w = self.decode(tgt_in, self.encode(src, src_mask), need_weights=return_attn)
        return (logits, w) if return_attn else logits

    # ---- incremental decoding protocol -------------------------------------------------------
    def init_state(self, memory: dict, need_attn: bool = False, fast: bool | None = None) -> dict:
        """Cross-attention keys/values per layer (computed once) and an empty self-attention cache.

        ``fast`` (default: in eval mode, without attention maps) decodes through
        :mod:`~seqlab.models.transformer_step`, the same equations in half the PyTorch calls."""
        return self.init_beams(memory, 1, need_attn, fast)

    def init_beams(self, memory: dict, beams: int, need_attn: bool = False, fast: bool | None = None) -> dict:
        """The state for ``beams`` rows per sentence of ``memory`` (row r decodes sentence r // beams). The fast
        step keeps the memory and cross-attention keys/values once per sentence; the reference step repeats them."""
        if fast is None:
            fast = not self.training and not need_attn
        if fast:
            return transformer_step.init(self, memory, beams=beams)
        if beams > 1:
            memory = expand_memory(memory, beams)
        cross = [layer.cross_attn.kv(memory["enc"]) for layer in self.dec_layers]  # each (B, nh, S, hs)
        return {"memory": memory, "cross": cross, "cache": [None] * len(self.dec_layers), "t": 0,
                "need_attn": need_attn}

    def reorder(self, state: dict, beam_indices: Tensor) -> dict:
        """Select rows of the self-attention caches (beams stay inside their sentence, so the memory
        and cross-attention keys/values, identical across a sentence's beams, are left alone)."""
        if "fast" in state:
            return transformer_step.select(state, beam_indices)
        new = dict(state)
        new["cache"] = [None if kv is None else (kv[0].index_select(0, beam_indices), kv[1].index_select(0, beam_indices))
                        for kv in state["cache"]]
        return new

    def select_rows(self, state: dict, rows: Tensor) -> dict:
        """Keep rows ``rows`` (R',) of everything carried, memory and cross-attention keys/values included
        (beam search drops the rows of sentences that ended; on the fast step whole sentences only)."""
        if "fast" in state:
            return transformer_step.select_sentences(state, rows)
        new = self.reorder(state, rows)
        new["memory"] = select_memory(state["memory"], rows)
        new["cross"] = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in state["cross"]]
        return new

    def step(self, state: dict, last_tokens: Tensor):
        """last_tokens (B,) long -> log_probs (B, V), new state, cross-attention (B, S) or None."""
        if "fast" in state:
            return transformer_step.step(self, state, last_tokens)
        t = state["t"]
        x = self.embed(self.tgt_embed, last_tokens.unsqueeze(1), start=t)  # (B, 1, C)
        cross_mask = state["memory"]["mask"][:, None, None, :]  # (B, 1, 1, S)
        cache, w = [], None
        for i, layer in enumerate(self.dec_layers):
            h = layer.norm1(x) if layer.norm_first else x
            k, v = layer.self_attn.kv(h)  # (B, nh, 1, hs): only the new position is projected
            if state["cache"][i] is not None:
                k = torch.cat([state["cache"][i][0], k], 2)  # (B, nh, t+1, hs)
                v = torch.cat([state["cache"][i][1], v], 2)
            cache.append((k, v))
            last = state["need_attn"] and i == len(self.dec_layers) - 1
            x, w_i = layer(x, None, state["cross"][i], cross_mask, self_kv=(k, v), need_weights=last)
            w = w_i[:, 0] if last else w
        logits = self.output(self.dec_norm(x), state["memory"])[:, 0]  # (B, V)
        new = dict(state, cache=cache, t=t + 1)
        return F.log_softmax(logits.float(), dim=-1), new, w

"""RNN encoder-decoder (seq2seq) with optional attention, from the lecture notes' "저는 강사 입니다 -> I am
an instructor".

    encoder:   h_j = RNN_enc(x_j, h_{j-1})                    (bidirectional: [->h_j; <-h_j])
    bridge:    s_0 = tanh(W_b [->h_S; <-h_1])                 one per layer (LSTM: h and c)
    decoder:   s_t = RNN_dec([e(y_{t-1}); c_t], s_{t-1})
    output:    o_t = tanh(W_c [s_t; c_t; e(y_{t-1})]),  p(y_t | y_<t, x) = softmax(W_out o_t)

The context c_t depends on ``attention``:

* ``none`` (Cho et al. 2014): c_t = c, the last encoder state (the "context vector"), the same at
  every step; with ``context_feed=False`` it is not fed at all and the decoder only sees it through
  s_0 (Sutskever et al. 2014).
* ``bahdanau``: c_t = attention(query=s_{t-1}, keys=values=h), additive scores.
* ``luong`` / ``luong-dot``: s_t = RNN_dec([e(y_{t-1}); o_{t-1}]) ("input feeding"), then
  c_t = attention(query=s_t, keys=values=h) with multiplicative scores, and
  o_t = tanh(W_c [s_t; c_t]).

Shapes are batch first: src (B, S), tgt (B, T), encoder states (B, S, D*H) with D = 2 if
bidirectional, RNN hidden states (L, B, H) as torch.nn.RNN keeps them. Masks: True = real token.

Incremental decoding (used by ``models/decoding.py``) is four methods: ``encode``, ``init_state``,
``step`` and ``reorder``; the decoder carries its hidden state, so no prefix is ever recomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .attention import build_attention
from .decoding import select_memory
from .fast_dropout import Dropout

RNN_CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
ATTENTIONS = ("none", "bahdanau", "luong", "luong-dot", "luong-general")
TF_SCHEDULES = ("constant", "linear", "inverse_sigmoid")


@dataclass
class Seq2SeqConfig:
    src_vocab: int = 8000  # source vocabulary size (the task sets it from the source tokenizer)
    tgt_vocab: int = 8000  # target vocabulary size (the task sets it from the target tokenizer)
    cell: str = "gru"  # rnn | lstm | gru, for encoder and decoder
    emb_dim: int = 256  # token embedding size, also the size of the output layer o_t
    hidden: int = 512  # H, hidden size of each RNN layer (per direction in the encoder)
    layers: int = 1  # L, stacked RNN layers in the encoder and in the decoder
    bidirectional: bool = True  # bidirectional encoder; final states bridged into the decoder
    attention: str = "bahdanau"  # none | bahdanau | luong (= luong-general) | luong-dot
    attn_dim: int = 256  # size of the additive attention's hidden layer (bahdanau only)
    context_feed: bool = True  # attention=none: feed the context vector at every step (Cho 2014)
    dropout: float = 0.3  # on embeddings, between RNN layers and before the output layers
    tie_embeddings: bool = True  # output matrix W_out = target embedding matrix (fewer parameters)
    pad_id: int = 0  # padding id of both tokenizers (never attended to, zero embedding)

    def __post_init__(self):
        if self.cell not in RNN_CELLS:
            raise ValueError(f"cell must be one of {sorted(RNN_CELLS)}; got {self.cell!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}; got {self.attention!r}")
        for name in ("src_vocab", "tgt_vocab", "emb_dim", "hidden", "layers", "attn_dim"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")


def teacher_forcing_ratio(schedule: str, step: int, total_steps: int, start: float = 1.0,
                          end: float = 0.0, k: float = 0.0) -> float:
    """Probability of feeding the gold token at training step ``step`` (scheduled sampling).

    constant:         start
    linear:           start - (start - end) * step / total_steps, floored at end
    inverse_sigmoid:  end + (start - end) * k / (k + exp(step / k))  (Bengio et al. 2015);
                      k defaults to total_steps / 10, so the ratio halves around step ~ 0.46 * total.
    """
    if schedule not in TF_SCHEDULES:
        raise ValueError(f"teacher forcing schedule must be one of {TF_SCHEDULES}; got {schedule!r}")
    if schedule == "constant":
        return float(start)
    frac = min(1.0, step / max(1, total_steps))
    if schedule == "linear":
        return float(start - (start - end) * frac)
    k = k or max(1.0, total_steps / 10)
    return float(end + (start - end) * k / (k + math.exp(min(step / k, 50.0))))


class Encoder(nn.Module):
    """Embedding + (bi)RNN over the real tokens only (packed), so padding never changes a state."""

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.src_vocab, cfg.emb_dim, padding_idx=cfg.pad_id)
        self.rnn = RNN_CELLS[cfg.cell](cfg.emb_dim, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                                       dropout=cfg.dropout if cfg.layers > 1 else 0.0,
                                       bidirectional=cfg.bidirectional)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, src: Tensor, src_mask: Tensor):
        """src (B, S) long, src_mask (B, S) bool True = real token (a prefix of each row).

        Returns states (B, S, D*H) (zeros at padding) and final (h_n, or (h_n, c_n) for LSTM),
        each (L*D, B, H): the state after each sentence's last real token.
        """
        lengths = src_mask.sum(1).clamp(min=1).cpu()
        x = self.dropout(self.embed(src))  # (B, S, E)
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, final = self.rnn(packed)
        states, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))  # (B, S, D*H)
        return states, final


class Seq2Seq(nn.Module):
    """Encoder + bridge + attentional decoder; see the module docstring for the equations."""

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        D, H, E = (2 if cfg.bidirectional else 1), cfg.hidden, cfg.emb_dim
        self.encoder = Encoder(cfg)
        self.bridge_h = nn.Linear(D * H, H)
        self.bridge_c = nn.Linear(D * H, H) if cfg.cell == "lstm" else None
        key_dim = D * H
        if cfg.attention == "luong-dot" and key_dim != H:
            # dot scores need keys in the query space: one learned projection of the encoder states.
            self.key_proj = nn.Linear(key_dim, H, bias=False)
            key_dim = H
        else:
            self.key_proj = None
        self.ctx_dim = key_dim
        self.attn = None if cfg.attention == "none" else build_attention(cfg.attention, H, key_dim, cfg.attn_dim)
        self.luong = cfg.attention.startswith("luong")
        self.feeds_context = cfg.attention == "bahdanau" or (cfg.attention == "none" and cfg.context_feed)

        self.tgt_embed = nn.Embedding(cfg.tgt_vocab, E, padding_idx=cfg.pad_id)
        rnn_in = E + (key_dim if self.feeds_context else 0) + (E if self.luong else 0)
        self.decoder = RNN_CELLS[cfg.cell](rnn_in, H, num_layers=cfg.layers, batch_first=True,
                                           dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        has_ctx = self.attn is not None or self.feeds_context
        out_in = H + (key_dim if has_ctx else 0) + (0 if self.luong else E)
        self.W_c = nn.Linear(out_in, E)
        self.W_out = nn.Linear(E, cfg.tgt_vocab)
        if cfg.tie_embeddings:
            self.W_out.weight = self.tgt_embed.weight
            # N(0, 1) rows would make the first logits ~N(0, E/3): a loss near 15 instead of log V
            nn.init.normal_(self.tgt_embed.weight, std=E ** -0.5)
            with torch.no_grad():
                self.tgt_embed.weight[cfg.pad_id].zero_()
        self.dropout = Dropout(cfg.dropout)

    @classmethod
    def from_config(cls, cfg: Seq2SeqConfig) -> "Seq2Seq":
        return cls(cfg)

    # ---- incremental decoding protocol -------------------------------------------------------
    def encode(self, src: Tensor, src_mask: Tensor) -> dict:
        """Run the encoder once. Returns the memory: a dict of batch-first tensors (or None)."""
        states, final = self.encoder(src, src_mask)  # (B, S, D*H), (L*D, B, H)
        h_n, c_n = final if isinstance(final, tuple) else (final, None)
        L, D, B, H = self.cfg.layers, (2 if self.cfg.bidirectional else 1), src.size(0), self.cfg.hidden

        def last_states(x: Tensor) -> Tensor:  # (L*D, B, H) -> (B, L, D*H): directions side by side
            return x.view(L, D, B, H).permute(2, 0, 1, 3).reshape(B, L, D * H)

        top = last_states(h_n)  # (B, L, D*H)
        keys = self.key_proj(states) if self.key_proj is not None else states  # (B, S, K)
        return {
            "keys": keys,
            "proj_keys": self.attn.project_keys(keys) if self.attn is not None else None,  # (B, S, A)
            "mask": src_mask,
            "context": top[:, -1] if self.key_proj is None else self.key_proj(top[:, -1]),  # (B, K)
            "h0": torch.tanh(self.bridge_h(top)),  # (B, L, H)
            "c0": torch.tanh(self.bridge_c(last_states(c_n))) if c_n is not None else None,  # (B, L, H)
        }

    def init_state(self, memory: dict, need_attn: bool = True) -> dict:
        """Decoder state before the first step: bridged hidden state(s), zero input feed."""
        h = memory["h0"].transpose(0, 1).contiguous()  # (B, L, H) -> (L, B, H)
        c = memory["c0"].transpose(0, 1).contiguous() if memory["c0"] is not None else None
        B = h.size(1)
        feed = h.new_zeros(B, self.cfg.emb_dim) if self.luong else None  # (B, E)
        return {"memory": memory, "h": h, "c": c, "feed": feed}

    def reorder(self, state: dict, beam_indices: Tensor) -> dict:
        """Select rows of the carried state (beam search). The memory is not touched: beams only
        move within their own sentence, whose memory rows are identical copies."""
        new = dict(state)
        new["h"] = state["h"].index_select(1, beam_indices)
        if state["c"] is not None:
            new["c"] = state["c"].index_select(1, beam_indices)
        if state["feed"] is not None:
            new["feed"] = state["feed"].index_select(0, beam_indices)
        return new

    def select_rows(self, state: dict, rows: Tensor) -> dict:
        """Keep rows ``rows`` (R',) of the carried state and the memory (beam search drops ended sentences)."""
        return dict(self.reorder(state, rows), memory=select_memory(state["memory"], rows))

    def step(self, state: dict, last_tokens: Tensor):
        """One decoder step. last_tokens (B,) long -> log_probs (B, V), new state, attn (B, S) or None."""
        o, state, attn = self._decode(last_tokens.unsqueeze(1), state)  # (B, 1, E)
        logits = self.W_out(self.dropout(o[:, 0]))  # (B, V)
        return F.log_softmax(logits.float(), dim=-1), state, attn[:, 0] if attn is not None else None

    def _decode(self, tokens: Tensor, state: dict):
        """Decoder over tokens (B, T) given state. With attention, T must be 1 (each query depends
        on the previous step). Returns o (B, T, E), new state, attention weights (B, T, S) or None."""
        mem = state["memory"]
        B, T = tokens.shape
        e = self.dropout(self.tgt_embed(tokens))  # (B, T, E)
        h, c, feed = state["h"], state["c"], state["feed"]
        attn = ctx = None
        inputs = [e]
        if self.cfg.attention == "bahdanau":  # query = s_{t-1}, the top layer's previous state
            ctx, attn = self.attn(h[-1], mem["keys"], mem["keys"], mem["mask"], mem["proj_keys"])
            ctx, attn = ctx.unsqueeze(1), attn.unsqueeze(1)  # (B, 1, K), (B, 1, S)
            inputs.append(ctx)
        elif self.feeds_context:  # attention none: the same context vector at every step
            ctx = mem["context"].unsqueeze(1).expand(B, T, -1)  # (B, T, K)
            inputs.append(ctx)
        elif self.luong:
            inputs.append(feed.unsqueeze(1))  # (B, 1, E), o_{t-1}
        out, hidden = self.decoder(torch.cat(inputs, -1), (h, c) if c is not None else h)  # (B, T, H)
        h, c = hidden if isinstance(hidden, tuple) else (hidden, None)
        if self.luong:  # query = s_t, the state just computed
            ctx, attn = self.attn(out[:, 0], mem["keys"], mem["keys"], mem["mask"], mem["proj_keys"])
            ctx, attn = ctx.unsqueeze(1), attn.unsqueeze(1)  # (B, 1, K), (B, 1, S)
            feats = [out, ctx]
        elif self.cfg.attention == "none" and not self.cfg.context_feed:
            feats = [out, e]
        else:
            feats = [out, ctx, e]
        o = torch.tanh(self.W_c(self.dropout(torch.cat(feats, -1))))  # (B, T, E)
        new = {"memory": mem, "h": h, "c": c, "feed": o[:, -1] if self.luong else None}
        return o, new, attn

    # ---- training ------------------------------------------------------------------------------
    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, teacher_forcing: float = 1.0,
                return_attn: bool = False):
        """Logits for every target position.

        Args:
            src: (B, S) long source ids; src_mask: (B, S) bool, True = real token.
            tgt_in: (B, T) long, the target shifted right: <sos> y_1 ... y_{T-1}.
            teacher_forcing: probability in [0, 1] that step t reads the gold y_{t-1} rather than
                the model's own argmax from step t-1 (drawn per sentence and step). 1.0 = always
                gold; 0.0 = free running. Evaluation code passes 1.0 for loss, and decodes with
                ``decoding.greedy``/``beam_search`` for outputs.
            return_attn: also return attention weights (B, T, S) (None when attention='none').

        Returns:
            logits (B, T, V) float [, attn].
        """
        state = self.init_state(self.encode(src, src_mask))
        B, T = tgt_in.shape
        if self.attn is None and teacher_forcing >= 1.0:  # no attention: one RNN call for all steps
            o, _, _ = self._decode(tgt_in, state)
            logits = self.W_out(self.dropout(o))  # (B, T, V)
            return (logits, None) if return_attn else logits
        outs, attns, logits_steps = [], [], []
        tok = tgt_in[:, 0]
        for t in range(T):
            o, state, attn = self._decode(tok.unsqueeze(1), state)  # (B, 1, E)
            outs.append(o)
            if attn is not None:
                attns.append(attn)
            if t + 1 < T:
                if teacher_forcing >= 1.0:
                    tok = tgt_in[:, t + 1]
                else:
                    step_logits = self.W_out(self.dropout(o[:, 0]))  # (B, V)
                    logits_steps.append(step_logits.unsqueeze(1))
                    pred = step_logits.argmax(-1)
                    use_gold = torch.rand(B, device=src.device) < teacher_forcing
                    tok = torch.where(use_gold, tgt_in[:, t + 1], pred)
        if teacher_forcing >= 1.0 or not logits_steps:
            logits = self.W_out(self.dropout(torch.cat(outs, 1)))  # (B, T, V)
        else:
            last = self.W_out(self.dropout(outs[-1]))  # (B, 1, V)
            logits = torch.cat(logits_steps + [last], 1)  # (B, T, V)
        if return_attn:
            return logits, (torch.cat(attns, 1) if attns else None)  # (B, T, S)
        return logits

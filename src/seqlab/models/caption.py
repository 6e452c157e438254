"""Image captioning (vec2seq): an image, or a given feature vector, in; a sentence out.

Encoder (trained from scratch): a small CNN over the image with two extra coordinate channels
(CoordConv, Liu et al. 2018: x and y in [-1, 1], so a feature knows where it is, which "left of" and
"above" need). ``blocks`` blocks of conv3x3-ReLU-conv3x3-ReLU-maxpool2 turn (B, 3, H, W) into a
feature map (B, C, H', W'): S = H' W' memory vectors a_1 .. a_S of width C. Or ``encoder="features"``:
a given feature vector per example, (B, F) or (B, K, F) region vectors, projected to C.

Three decoders, all generating with the same four-method interface as ``models/seq2seq.py``
(``encode``, ``init_state``, ``step``, ``reorder``) so ``models/decoding.py``'s greedy and beam search
work unchanged:

* ``decoder="gru", attention="bahdanau"`` (Show, Attend and Tell, Xu et al. 2015, with additive
  attention):   h_0 = tanh(W_init mean_s a_s)
                c_t, alpha_t = attention(query = h_{t-1}, keys = values = a_{1..S})
                h_t = GRU([e(y_{t-1}); c_t], h_{t-1});  o_t = tanh(W_c [h_t; c_t; e(y_{t-1})])
                p(y_t) = softmax(W_out o_t)
* ``decoder="gru", attention="none"``: the pure vec2seq of the notes' diagram: the pooled vector
  v = mean_s a_s only sets h_0 = tanh(W_init LN(v)), and h_t = GRU(e(y_{t-1}), h_{t-1}),
  o_t = tanh(W_c [h_t; e(y_{t-1})]). The decoder never sees the image again, so the gain of attention
  is this model's gap to the one above. LN is a LayerNorm: the CNN's ReLU features grow to ~10^2, and
  without it tanh saturates, h_0 is the same +-1 vector for every image and no gradient reaches the
  encoder (measured: the vec2seq decoder then learned one caption for all images). Show-Attend-Tell
  keeps the paper's h_0: its image reaches every step through attention.
* ``decoder="transformer"``: a Transformer decoder (causal self-attention, cross-attention over the S
  memory vectors projected to d_model = ``hidden``, pre-LN), the layers of ``models/transformer.py``.

Shapes are batch first: images (B, 3, H, W) float in [0, 1] (or features (B, F) / (B, K, F)); captions
(B, T) long; memory (B, S, C); attention weights (B, S) per step, reshaped to (H', W') for plots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import BahdanauAttention
from .fast_dropout import Dropout
from .transformer import DecoderLayer, TransformerConfig, sinusoidal_table

DECODERS = ("gru", "transformer")
ATTENTIONS = ("bahdanau", "none")
ENCODERS = ("cnn", "features")


@dataclass
class CaptionConfig:
    vocab: int = 1000  # caption vocabulary size (the task sets it from the tokenizer)
    decoder: str = "gru"  # gru | transformer
    attention: str = "bahdanau"  # gru: bahdanau (Show-Attend-Tell) | none (pooled vector -> h_0 only: pure vec2seq)
    encoder: str = "cnn"  # cnn (images, trained from scratch) | features (a given vector per example)
    in_channels: int = 3  # image channels (RGB)
    channels: int = 32  # width of the first conv block; doubled by each further block
    blocks: int = 3  # conv blocks, each halving the resolution (32x32 -> 4x4 = 16 memory vectors)
    feature_dim: int = 0  # encoder=features: width F of each given feature vector (0 = the task sets it from the data)
    emb_dim: int = 64  # word embedding size (gru decoder)
    hidden: int = 128  # GRU state size, or the Transformer decoder's d_model
    attn_dim: int = 64  # Bahdanau attention's hidden layer
    n_head: int = 4  # transformer: attention heads
    n_layer: int = 2  # transformer: decoder layers
    d_ff: int = 256  # transformer: feed-forward width
    max_len: int = 64  # transformer: longest caption the position table covers
    dropout: float = 0.1  # on embeddings, features and before the output layer
    pad_id: int = 0  # padding id of the caption tokenizer

    def __post_init__(self):
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}; got {self.decoder!r}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}; got {self.attention!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}; got {self.encoder!r}")
        if self.decoder == "transformer" and self.attention == "none":
            raise ValueError("the transformer decoder always attends (cross-attention); attention=none is gru only")
        if self.feature_dim < 0:
            raise ValueError(f"feature_dim must be >= 0 (0 = from the data); got {self.feature_dim}")
        for name in ("vocab", "channels", "blocks", "emb_dim", "hidden", "attn_dim", "n_head", "n_layer", "d_ff", "max_len"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.decoder == "transformer" and self.hidden % self.n_head:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by n_head ({self.n_head})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1); got {self.dropout}")


class CNNEncoder(nn.Module):
    """(B, 3, H, W) in [0, 1] -> feature map (B, C, H / 2^blocks, W / 2^blocks), C = channels * 2^(blocks-1)."""

    def __init__(self, cfg: CaptionConfig):
        super().__init__()
        layers, c_in = [], cfg.in_channels + 2  # + x, y coordinate channels
        for i in range(cfg.blocks):
            c = cfg.channels * 2 ** i
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c
        self.net = nn.Sequential(*layers)
        self.out_dim = c_in

    def forward(self, images: Tensor) -> Tensor:
        B, _, H, W = images.shape
        x = (images - 0.5) / 0.25  # roughly zero-mean, unit-spread pixels
        ys = torch.linspace(-1, 1, H, device=x.device, dtype=x.dtype).view(1, 1, H, 1).expand(B, 1, H, W)
        xs = torch.linspace(-1, 1, W, device=x.device, dtype=x.dtype).view(1, 1, 1, W).expand(B, 1, H, W)
        return self.net(torch.cat([x, xs, ys], 1))  # (B, C, H', W')


class Captioner(nn.Module):
    """Encoder + one of three decoders; see the module docstring for the equations."""

    def __init__(self, cfg: CaptionConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.encoder == "cnn":
            self.cnn = CNNEncoder(cfg)
            C = self.cnn.out_dim
            self.feat_proj = None
        else:
            if cfg.feature_dim < 1:
                raise ValueError("encoder=features needs feature_dim >= 1 (the width of the given vectors)")
            self.cnn = None
            C = cfg.hidden
            self.feat_proj = nn.Linear(cfg.feature_dim, C)
        self.mem_dim = C
        self.dropout = Dropout(cfg.dropout)
        V, E, H = cfg.vocab, cfg.emb_dim, cfg.hidden
        if cfg.decoder == "gru":
            self.embed = nn.Embedding(V, E, padding_idx=cfg.pad_id)
            # vec2seq: keeps tanh(W_init v) out of saturation, the image's only way in (module docstring)
            self.pool_norm = nn.LayerNorm(C) if cfg.attention == "none" else nn.Identity()
            self.W_init = nn.Linear(C, H)
            self.attn = BahdanauAttention(H, C, cfg.attn_dim) if cfg.attention == "bahdanau" else None
            ctx = C if self.attn is not None else 0
            self.cell = nn.GRUCell(E + ctx, H)
            self.W_c = nn.Linear(H + ctx + E, E)
            self.W_out = nn.Linear(E, V)
        else:
            tcfg = TransformerConfig(src_vocab=1, tgt_vocab=V, d_model=H, n_head=cfg.n_head, n_enc_layer=1,
                                     n_dec_layer=cfg.n_layer, d_ff=cfg.d_ff, dropout=cfg.dropout, max_len=cfg.max_len,
                                     pad_id=cfg.pad_id)
            self.embed = nn.Embedding(V, H, padding_idx=cfg.pad_id)
            nn.init.normal_(self.embed.weight, std=H ** -0.5)
            self.register_buffer("pe", sinusoidal_table(cfg.max_len, H), persistent=False)
            self.mem_proj = nn.Linear(C, H)
            self.mem_norm = nn.LayerNorm(H)
            self.layers = nn.ModuleList(DecoderLayer(tcfg) for _ in range(cfg.n_layer))
            self.dec_norm = nn.LayerNorm(H)
            self.W_out = nn.Linear(H, V)

    @classmethod
    def from_config(cls, cfg: CaptionConfig) -> "Captioner":
        return cls(cfg)

    # ---- encoder ---------------------------------------------------------------------------------
    def features(self, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """images (B, 3, H, W) or features (B, F) / (B, K, F) -> memory (B, S, C) and its grid (H', W')."""
        if self.cnn is not None:
            fmap = self.cnn(images)  # (B, C, H', W')
            B, C, h, w = fmap.shape
            return fmap.flatten(2).transpose(1, 2), (h, w)  # (B, S = H' W', C)
        x = images if images.dim() == 3 else images.unsqueeze(1)  # (B, K, F)
        return torch.relu(self.feat_proj(x)), (1, x.size(1))  # (B, K, C)

    def encode(self, images: Tensor, mask: Tensor | None = None) -> dict:
        """Run the encoder once. ``mask`` is ignored (decoding.py passes one; every position is real)."""
        mem, grid = self.features(images)  # (B, S, C)
        mem = self.dropout(mem)
        B, S, _ = mem.shape
        out = {"keys": mem, "mask": torch.ones(B, S, dtype=torch.bool, device=mem.device),
               "pooled": mem.mean(1), "grid": grid}  # (B, C): the vec2seq vector; grid (H', W') for plots
        if self.cfg.decoder == "gru":
            out["proj_keys"] = self.attn.project_keys(mem) if self.attn is not None else None  # (B, S, A)
        else:
            out["enc"] = self.mem_norm(self.mem_proj(mem))  # (B, S, d_model)
        return out

    # ---- incremental decoding protocol ------------------------------------------------------------
    def init_state(self, memory: dict, need_attn: bool = True) -> dict:
        if self.cfg.decoder == "gru":
            return {"memory": memory, "h": torch.tanh(self.W_init(self.pool_norm(memory["pooled"])))}  # (B, H)
        cross = [layer.cross_attn.kv(memory["enc"]) for layer in self.layers]  # each (B, nh, S, hs)
        return {"memory": memory, "cross": cross, "cache": [None] * len(self.layers), "t": 0, "need_attn": need_attn}

    def reorder(self, state: dict, beam_indices: Tensor) -> dict:
        new = dict(state)
        if self.cfg.decoder == "gru":
            new["h"] = state["h"].index_select(0, beam_indices)
        else:
            new["cache"] = [None if kv is None else (kv[0].index_select(0, beam_indices), kv[1].index_select(0, beam_indices))
                            for kv in state["cache"]]
        return new

    def _gru_step(self, state: dict, tokens: Tensor):
        """tokens (B,) -> o (B, E), new state, attention (B, S) or None."""
        mem, h = state["memory"], state["h"]
        e = self.dropout(self.embed(tokens))  # (B, E)
        if self.attn is not None:
            ctx, a = self.attn(h, mem["keys"], mem["keys"], mem["mask"], mem["proj_keys"])  # (B, C), (B, S)
            h = self.cell(torch.cat([e, ctx], -1), h)  # (B, H)
            o = torch.tanh(self.W_c(self.dropout(torch.cat([h, ctx, e], -1))))  # (B, E)
        else:
            a = None
            h = self.cell(e, h)
            o = torch.tanh(self.W_c(self.dropout(torch.cat([h, e], -1))))
        return o, {"memory": mem, "h": h}, a

    def _tf_embed(self, tokens: Tensor, start: int) -> Tensor:
        T = tokens.size(1)
        if start + T > self.cfg.max_len:
            raise ValueError(f"caption of length {start + T} exceeds the model's max_len {self.cfg.max_len}")
        return self.dropout(self.embed(tokens) * math.sqrt(self.cfg.hidden) + self.pe[start:start + T])  # (B, T, d)

    def step(self, state: dict, last_tokens: Tensor):
        """last_tokens (B,) long -> log_probs (B, V), new state, attention over the S positions (B, S) or None."""
        if self.cfg.decoder == "gru":
            o, state, a = self._gru_step(state, last_tokens)
            return F.log_softmax(self.W_out(self.dropout(o)).float(), -1), state, a
        t = state["t"]
        x = self._tf_embed(last_tokens.unsqueeze(1), t)  # (B, 1, d)
        cache, w = [], None
        for i, layer in enumerate(self.layers):
            h = layer.norm1(x)
            k, v = layer.self_attn.kv(h)  # (B, nh, 1, hs)
            if state["cache"][i] is not None:
                k, v = torch.cat([state["cache"][i][0], k], 2), torch.cat([state["cache"][i][1], v], 2)
            cache.append((k, v))
            last = state["need_attn"] and i == len(self.layers) - 1
            x, w_i = layer(x, None, state["cross"][i], None, self_kv=(k, v), need_weights=last)
            w = w_i[:, 0] if last else w
        logits = self.W_out(self.dec_norm(x[:, 0]))  # (B, V)
        return F.log_softmax(logits.float(), -1), dict(state, cache=cache, t=t + 1), w

    # ---- training ---------------------------------------------------------------------------------
    def forward(self, images: Tensor, tgt_in: Tensor, return_attn: bool = False):
        """Teacher-forced logits.

        Args:
            images: (B, 3, H, W) float in [0, 1], or features (B, F) / (B, K, F) with encoder=features.
            tgt_in: (B, T) long, <sos> y_1 .. y_{T-1}.
            return_attn: also return attention weights (B, T, S) (None for attention=none).

        Returns:
            logits (B, T, V) float [, attn].

        Example::

            >>> m = Captioner(CaptionConfig(vocab=20, channels=4, blocks=2, hidden=16, emb_dim=8, attn_dim=8))
            >>> m(torch.rand(2, 3, 16, 16), torch.randint(1, 20, (2, 5))).shape
            torch.Size([2, 5, 20])
        """
        memory = self.encode(images)
        if self.cfg.decoder == "transformer":
            T = tgt_in.size(1)
            causal = torch.ones(T, T, dtype=torch.bool, device=tgt_in.device).tril()  # (T, T) True = visible
            x = self._tf_embed(tgt_in, 0)
            w = None
            for i, layer in enumerate(self.layers):
                last = return_attn and i == len(self.layers) - 1
                x, w_i = layer(x, causal, layer.cross_attn.kv(memory["enc"]), None, need_weights=last)
                w = w_i if last else w
            logits = self.W_out(self.dec_norm(x))  # (B, T, V)
            return (logits, w) if return_attn else logits
        state = self.init_state(memory)
        outs, attns = [], []
        for t in range(tgt_in.size(1)):
            o, state, a = self._gru_step(state, tgt_in[:, t])
            outs.append(o)
            if a is not None:
                attns.append(a)
        logits = self.W_out(self.dropout(torch.stack(outs, 1)))  # (B, T, V)
        if return_attn:
            return logits, (torch.stack(attns, 1) if attns else None)  # (B, T, S)
        return logits


def build_caption(cfg: CaptionConfig) -> Captioner:
    return Captioner(cfg)


# name -> the decoder/attention it fixes (everything else from --set model.*)
PRESETS = {
    "sat": {"decoder": "gru", "attention": "bahdanau"},  # Show, Attend and Tell (GRU + Bahdanau attention)
    "vec2seq": {"decoder": "gru", "attention": "none"},  # pooled vector -> initial state only
    "transformer": {"decoder": "transformer", "attention": "bahdanau"},  # Transformer decoder over the feature map
}

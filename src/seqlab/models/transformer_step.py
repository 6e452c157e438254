"""The encoder-decoder Transformer's decode step for inference, flat: the same equations as
:meth:`~seqlab.models.transformer.Transformer.step` in about half the PyTorch calls.

A beam-search step at batch 1 multiplies 5 rows by small matrices, so much of its time goes to the fixed
cost of each PyTorch call (about 45 per decoder layer through the modules). Here, in eval mode:

- the weights are bound once (self-attention's W_q, W_k, W_v fused into one (C, 3C) matrix,
  every matrix transposed for ``addmm``; rebound when a parameter changes), no ``nn.Module.__call__`` per
  layer, no dropout calls;
- the self-attention cache is preallocated per layer, time-major (capacity, R, nh, hs), written in place
  (capacity doubles when full) instead of concatenated every step; its filled slots are one contiguous
  block, so beam search reorders them with one copy, and attention reads them through strided views;
- cross-attention keys and values are computed once per *sentence*, not per beam: the K beams of a
  sentence are K queries against the same keys (one (K, hs) x (hs, S) product per sentence and head), so
  beam search neither projects the encoder output K times nor copies K repeats of it; they are laid out
  for ``bmm`` once ((A*nh, hs, S) keys, (A*nh, S, hs) values), and the padding mask is an additive bias
  computed once (``baddbmm`` adds it to the scaled scores in the same call);
- the queries' 1/sqrt(hs) is folded into W_q and b_q when the weights are bound;
- the output projection is bound transposed too, in ``Transformer.decode_output_dtype`` when decoding outside
  autocast (a bf16 run's small batches: fp32 layers, bf16 output projection; at 5 rows the (C, V) product
  is bound by reading the weights, and bf16 reads half: 3-4x faster on AVX512-BF16, RESULTS #14).

The Transformer's ``init_beams``/``step``/``reorder``/``select_rows`` call ``init``/``step``/``select``/``select_sentences`` here
for such a state; the module's own ``step`` stays the reference (and is used for attention maps and
training). The output layer is the module's (``Transformer.output``, the copy head included). Parity with the
reference step is tested.

Shapes: A sentences, G rows per sentence (the beam width K; 1 for greedy search or a plain ``init_state``),
R = A * G rows (row r belongs to sentence r // G), C d_model, nh heads, hs = C / nh, S source length,
V vocabulary.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .decoding import select_memory


def bind(model, dtype: torch.dtype = torch.float32, out_dtype: torch.dtype | None = None) -> dict:
    """The decode step's weights: ``layers``, per decoder layer (norm1, (Wqkv^T, bqkv), (Wo^T, bo), norm2,
    (Wq^T, bq), (Wo^T, bo), norm3, (W1^T, b1), (W2^T, b2)), each norm a (weight, bias) pair, the matrices and
    their biases in ``dtype`` (autocast's, so it casts none of them per call), both attentions' W_q and b_q
    already scaled by 1/sqrt(hs); and ``out``, the output projection (W^T, b) in ``out_dtype`` (default
    ``dtype``), or None where the model has a copy head (its own ``output`` runs then). Made once and kept on
    the module until a parameter changes (in place, as an optimizer step or load_state_dict does, or replaced)."""
    out_dtype = out_dtype or dtype
    key = (dtype, out_dtype, *((p.data_ptr(), p._version) for p in (*model.dec_layers.parameters(), *model.out.parameters())))
    cached = getattr(model, "_fast_step_weights", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    scale = 1.0 / math.sqrt(model.cfg.d_model // model.cfg.n_head)
    t = lambda lin, c=1.0, dt=dtype: ((lin.weight.detach() * c).t().contiguous().to(dt), (lin.bias.detach() * c).to(dt))  # noqa: E731
    n = lambda ln: (ln.weight.detach(), ln.bias.detach())  # noqa: E731
    layers = []
    for layer in model.dec_layers:
        sa, ca, ff = layer.self_attn, layer.cross_attn, layer.ff
        qkv = (torch.cat([sa.W_q.weight * scale, sa.W_k.weight, sa.W_v.weight]).detach().t().contiguous().to(dtype),
               torch.cat([sa.W_q.bias * scale, sa.W_k.bias, sa.W_v.bias]).detach().to(dtype))
        layers.append((n(layer.norm1), qkv, t(sa.W_o), n(layer.norm2), t(ca.W_q, scale), t(ca.W_o), n(layer.norm3),
                       t(ff.linear1), t(ff.linear2)))
    bound = {"layers": layers, "out": None if model.copy is not None else t(model.out, dt=out_dtype)}
    model._fast_step_weights = (key, bound)
    return bound


def init(model, memory: dict, capacity: int = 32, beams: int = 1) -> dict:
    """The state before step 0 for A = len(memory) sentences of ``beams`` rows each: bound weights,
    cross-attention keys/values (once per sentence), the mask bias, empty caches. ``memory`` is per sentence
    (beam search does not repeat it)."""
    cfg = model.cfg
    A, S = memory["mask"].shape
    nh, hs = cfg.n_head, cfg.d_model // cfg.n_head
    cross = []
    for layer in model.dec_layers:
        k, v = layer.cross_attn.kv(memory["enc"])  # each (A, nh, S, hs)
        cross.append((k.transpose(-2, -1).reshape(A * nh, hs, S), v.reshape(A * nh, S, hs)))  # contiguous copies
    device = memory["enc"].device.type
    amp = torch.is_autocast_enabled(device)
    dt = torch.get_autocast_dtype(device) if amp else memory["enc"].dtype
    out_dt = None if amp else getattr(model, "decode_output_dtype", None)  # outside autocast: the model's choice
    bias = torch.zeros((A, S), dtype=dt, device=memory["mask"].device).masked_fill(~memory["mask"], float("-inf"))
    bias = bias[:, None, None, :].expand(A, nh, 1, S).reshape(A * nh, 1, S)
    R = A * beams
    cache = [(memory["enc"].new_empty(capacity, R, nh, hs, dtype=dt), memory["enc"].new_empty(capacity, R, nh, hs, dtype=dt))
             for _ in model.dec_layers]  # time-major: the filled slots [:t] are one contiguous block
    return {"fast": bind(model, dt, out_dt), "memory": memory, "cross": cross, "bias": bias, "cache": cache, "t": 0,
            "beams": beams, "need_attn": False}


def _grow(cache: list, t: int) -> list:
    """Caches with room for slot ``t``: capacity doubled when full."""
    if t < cache[0][0].size(0):
        return cache
    grown = []
    for k, v in cache:
        K, V = k.new_empty(2 * k.size(0), *k.shape[1:]), v.new_empty(2 * v.size(0), *v.shape[1:])
        K[:t].copy_(k[:t])
        V[:t].copy_(v[:t])
        grown.append((K, V))
    return grown


def step(model, state: dict, last_tokens: Tensor):
    """last_tokens (R,) -> log_probs (R, V) fp32, the new state, None (no attention map on this path)."""
    cfg = model.cfg
    t, C, nh, G = state["t"], cfg.d_model, cfg.n_head, state["beams"]
    hs, eps, pre = C // nh, model.dec_layers[0].norm1.eps, cfg.norm_first
    x = model.embed(model.tgt_embed, last_tokens.unsqueeze(1), start=t)[:, 0]  # (R, C); dropout is off in eval
    R = x.size(0)
    A = R // G
    cache = _grow(state["cache"], t)
    relu = cfg.activation == "relu"
    for (n1, qkv, so, n2, cq, co, n3, f1, f2), (K, V), (ck, cv) in zip(state["fast"]["layers"], cache, state["cross"]):
        h = F.layer_norm(x, (C,), *n1, eps) if pre else x
        q, k, v = torch.addmm(qkv[1], h, qkv[0]).view(R, 3, nh, hs).unbind(1)  # 3 x (R, nh, hs); q is scaled
        K[t].copy_(k)
        V[t].copy_(v)
        keys = K[: t + 1].view(t + 1, R * nh, hs).permute(1, 2, 0)  # (R*nh, hs, t+1), strided: no copy
        w = torch.softmax(torch.bmm(q.reshape(R * nh, 1, hs), keys), -1)  # (R*nh, 1, t+1)
        y = torch.bmm(w, V[: t + 1].view(t + 1, R * nh, hs).permute(1, 0, 2))  # (R*nh, 1, hs)
        a = torch.addmm(so[1], y.view(R, C), so[0])  # (R, C): heads side by side
        x = x + a if pre else F.layer_norm(x + a, (C,), *n1, eps)
        h = F.layer_norm(x, (C,), *n2, eps) if pre else x
        q = torch.addmm(cq[1], h, cq[0]).view(A, G, nh, hs).transpose(1, 2).reshape(A * nh, G, hs)  # scaled
        w = torch.softmax(torch.baddbmm(state["bias"], q, ck), -1, dtype=torch.float32)  # (A*nh, G, S)
        y = torch.bmm(w.to(cv.dtype), cv).view(A, nh, G, hs).transpose(1, 2).reshape(R, C)  # (R, C)
        a = torch.addmm(co[1], y, co[0])
        x = x + a if pre else F.layer_norm(x + a, (C,), *n2, eps)
        h = F.layer_norm(x, (C,), *n3, eps) if pre else x
        u = torch.addmm(f1[1], h, f1[0])
        u = u.relu_() if relu else F.gelu(u)
        a = torch.addmm(f2[1], u, f2[0])
        x = x + a if pre else F.layer_norm(x + a, (C,), *n3, eps)
    if pre:
        x = model.dec_norm(x)
    out = state["fast"]["out"]
    if out is not None:
        logits = torch.addmm(out[1], x.to(out[0].dtype), out[0])  # (R, V)
    else:  # the copy head's log P (beams as positions of their sentence)
        logits = model.output(x.view(A, G, C), state["memory"]).view(R, -1)
    return F.log_softmax(logits.float(), dim=-1), dict(state, cache=cache, t=t + 1), None


def select(state: dict, rows: Tensor) -> dict:
    """Rows ``rows`` (R' <= R) of the caches' filled slots. Where at most half of them move (beam search keeps
    survivors in their parent's row and ended sentences' places are filled from the end: decoding.keep_rows,
    decoding.fill_holes), only those are copied, in place, and the buffers are narrowed to R' rows; otherwise
    one copy of what is filled, straight into a new time-major buffer. The memory and cross keys/values are
    :func:`select_sentences`'."""
    t, n = state["t"], rows.numel()
    changed = (rows != torch.arange(n, device=rows.device)).nonzero().squeeze(1)  # (m,)
    if changed.numel() * 2 <= n:
        sources = rows.index_select(0, changed)
        for k, v in state["cache"]:  # gather first, then write: a changed row may be another's source
            k[:t].index_copy_(1, changed, k[:t].index_select(1, sources))
            v[:t].index_copy_(1, changed, v[:t].index_select(1, sources))
        return dict(state, cache=[(k[:, :n], v[:, :n]) for k, v in state["cache"]])

    def pick(x: Tensor) -> Tensor:
        out = x.new_empty(x.size(0), n, *x.shape[2:])
        torch.index_select(x[:t], 1, rows, out=out[:t])
        return out

    return dict(state, cache=[(pick(k), pick(v)) for k, v in state["cache"]])


def select_sentences(state: dict, rows: Tensor) -> dict:
    """Keep rows ``rows`` (R',) of everything, memory and cross keys/values included. The rows must come in
    whole sentences of ``beams`` rows each (as beam search drops ended sentences): ``rows.view(-1, G) // G``
    names one sentence per line."""
    G = state["beams"]
    sent = rows.view(-1, G) // G if rows.numel() % G == 0 else None  # (A', G)
    if sent is None or not bool((sent == sent[:, :1]).all()):
        raise ValueError(f"select_rows: rows must come in whole sentences of {G} beams; got {rows.tolist()}")
    sent = sent[:, 0]  # (A',)
    A = state["memory"]["mask"].size(0)
    nh = state["bias"].size(0) // A

    def per_sentence(x: Tensor) -> Tensor:  # (A*nh, ...) -> (A'*nh, ...)
        return x.view(A, nh, *x.shape[1:]).index_select(0, sent).view(-1, *x.shape[1:])

    new = select(state, rows)
    new["memory"] = select_memory(state["memory"], sent)
    new["cross"] = [(per_sentence(k), per_sentence(v)) for k, v in state["cross"]]
    new["bias"] = per_sentence(state["bias"])
    return new

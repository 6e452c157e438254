"""Greedy and batched beam search over any encoder-decoder that implements four methods:

    memory = model.encode(src, src_mask)            dict of batch-first tensors (or None values)
    state  = model.init_state(memory, need_attn)    everything the decoder carries between steps
    log_probs, state, attn = model.step(state, last_tokens)   (B,) -> (B, V), state, (B, S) or None
    state  = model.reorder(state, beam_indices)     keep rows beam_indices (B',) of the carried state
    state  = model.select_rows(state, rows)         optional: keep rows of everything, memory included
    state  = model.init_beams(memory, K, need_attn) optional: the state for K rows per sentence (row r is
                                                    sentence r // K), instead of init_state on K repeats

Each step feeds one token; the model carries its hidden state (RNN) or key/value cache
(Transformer), so no prefix is recomputed. ``reorder`` only ever moves rows within the beams of
one sentence, so models need not reorder the memory; ``select_rows`` (where a model has it) lets
beam search drop the rows of sentences that have ended.

Beam search keeps K hypotheses per sentence. At each step the K*V continuations are scored by
their summed log-probability; of the best 2K, those ending in <eos> within the top K become
finished hypotheses (score / lp(length), GNMT length penalty lp(n) = ((5 + n) / 6) ** alpha) and
the best K others continue. A sentence is done once it has K finished hypotheses, reaches its
maximum length ``max_len_a * source_length + max_len_b``, or is :func:`settled` (no live hypothesis
can still enter its n-best: stopping returns what decoding on would). With K = 1 this is exactly
greedy search.

``no_repeat_ngram`` = n > 0 forbids any n-gram from occurring twice in one output (as Hugging Face's
``no_repeat_ngram_size``): a token that would complete an n-gram already in the hypothesis gets
probability 0. Summaries of from-scratch models tend to loop ("A and B will meet. A and B will meet.");
n = 3 is the usual setting for summarisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, without <sos> and <eos>
    score: float  # length-normalised log-probability (beam) or summed log-probability (greedy)
    attn: Tensor | None = field(default=None, repr=False)  # (len(tokens)+1, S) or None


KEEP_ROWS_MIN = 64  # rows from which beam search reorders survivors by keep_rows: its ten small ops take ~60 us
# a step on two cores, what a full copy of a 3-layer, 256-wide cache costs at 10-20 rows and 20 steps


def max_lengths(src_mask: Tensor, max_len_a: float, max_len_b: int, cap: int | None = None) -> Tensor:
    """Per-sentence maximum output length (B,) long: a * source length + b, at least 1."""
    n = (src_mask.sum(1).float() * max_len_a + max_len_b).long().clamp(min=1)
    return n.clamp(max=cap) if cap is not None else n


def select_memory(memory: dict, rows: Tensor) -> dict:
    """Rows ``rows`` (R',) of every tensor in a batch-first memory dict (non-tensors kept)."""
    return {key: (v.index_select(0, rows) if torch.is_tensor(v) else v) for key, v in memory.items()}


def expand_memory(memory: dict, k: int) -> dict:
    """Repeat every batch row of the memory k times: (B, ...) -> (B*k, ...)."""
    return {key: (v.repeat_interleave(k, 0) if torch.is_tensor(v) else v) for key, v in memory.items()}


def block_repeats(log_probs: Tensor, history: Tensor, n: int) -> Tensor:
    """log_probs (R, V) with -inf where a token would repeat an n-gram of its row's history (R, t)."""
    if n <= 0 or history.size(1) < n:
        return log_probs
    windows = history.unfold(1, n, 1)  # (R, t - n + 1, n): every n-gram so far
    prefix = history[:, history.size(1) - n + 1 :]  # (R, n - 1): the n-1 tokens the next one extends
    seen = (windows[:, :, : n - 1] == prefix.unsqueeze(1)).all(-1)  # (R, W) n-grams that start like the next
    banned = torch.zeros_like(log_probs).scatter_add_(1, windows[:, :, n - 1], seen.to(log_probs.dtype)) > 0
    return log_probs.masked_fill(banned, float("-inf"))


@torch.no_grad()
def greedy(model, src: Tensor, src_mask: Tensor, sos_id: int, eos_id: int, max_len_a: float = 1.5,
           max_len_b: int = 10, max_len_cap: int | None = None, return_attn: bool = False,
           no_repeat_ngram: int = 0) -> list[Hypothesis]:
    """Pick the most probable token at every step. src (B, S), src_mask (B, S) bool True = real.

    Returns one :class:`Hypothesis` per sentence (score = summed log-probability).
    """
    B = src.size(0)
    limit = max_lengths(src_mask, max_len_a, max_len_b, max_len_cap)  # (B,)
    state = model.init_state(model.encode(src, src_mask), need_attn=return_attn)
    tokens = torch.full((B,), sos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    score = torch.zeros(B, device=src.device)
    out, attns = [], []
    for t in range(int(limit.max())):
        log_probs, state, attn = model.step(state, tokens)  # (B, V)
        if no_repeat_ngram and out:
            log_probs = block_repeats(log_probs, torch.stack(out, 1), no_repeat_ngram)
        lp, tokens = log_probs.max(-1)  # (B,)
        score += lp.masked_fill(done, 0.0)
        out.append(tokens.masked_fill(done, eos_id))
        if attn is not None:
            attns.append(attn)
        done |= (tokens == eos_id) | (t + 1 >= limit)
        if bool(done.all()):
            break
    seq = torch.stack(out, 1).tolist()  # (B, T)
    attn_all = torch.stack(attns, 1) if attns else None  # (B, T, S)
    hyps = []
    for b in range(B):
        toks = seq[b][: int(limit[b])]
        n = toks.index(eos_id) if eos_id in toks else len(toks)
        a = attn_all[b, : min(n + 1, len(toks))] if attn_all is not None else None
        hyps.append(Hypothesis(toks[:n], float(score[b]), a))
    return hyps


def keep_rows(parents: Tensor) -> Tensor:
    """An order of each sentence's K survivors that leaves as many as possible in their parent's row.

    parents (A, K): the beam (row within its sentence) each survivor continues. Returns order (A, K), a
    permutation per sentence: row k takes survivor order[a, k]. The first survivor of each parent takes the
    parent's own row; the others take the rows whose beams left no survivor, in order. The rows to reorder
    then differ from themselves only where a beam ended and a sibling took its place, so a model whose
    ``reorder`` copies only changed rows (the Transformer's cache) moves a fraction of its cache each step."""
    A, K = parents.shape
    earlier = torch.ones(K, K, dtype=torch.bool, device=parents.device).tril(-1)  # (K, K) j' < j
    first = ~((parents[:, :, None] == parents[:, None, :]) & earlier).any(-1)  # (A, K) first child of its parent
    claimed = torch.zeros(A, K, dtype=torch.long, device=parents.device).scatter_add_(1, parents, first.long()) > 0
    free = torch.sort(claimed.to(torch.int8), dim=1, stable=True).indices  # (A, K): unclaimed rows first, in order
    rank = (~first).long().cumsum(1) - 1  # (A, K): the j-th later child takes the j-th free row
    dest = torch.where(first, parents, free.gather(1, rank.clamp(min=0)))  # (A, K) the row each survivor takes
    return torch.empty_like(dest).scatter_(1, dest, torch.arange(K, device=parents.device).expand(A, K))


def fill_holes(keep: list[int]) -> list[int]:
    """The positions ``keep`` (ascending) of the sentences that go on, in the order that moves the fewest:
    each one below ``len(keep)`` stays where it is, the ones beyond fill the places of those that ended (so a
    model that copies only moved rows, as the Transformer's cache does, moves K rows per ended sentence)."""
    n, kept = len(keep), set(keep)
    order = list(range(n))
    for hole, a in zip((h for h in range(n) if h not in kept), (a for a in keep if a >= n)):
        order[hole] = a
    return order


def _lp(n: int, alpha: float) -> float:
    """GNMT length penalty lp(n) = ((5 + n) / 6) ** alpha."""
    return ((5.0 + n) / 6.0) ** alpha


def settled(finished: list, live_best: float, t: int, limit: int, alpha: float, n_best: int) -> bool:
    """Whether no live hypothesis can still enter a sentence's ``n_best`` best: its ``n_best``-th best
    finished score is at least the best a live beam (summed log-probability ``live_best`` after step ``t``)
    could reach at any length it may still end at (log-probabilities only fall, so the bound is
    ``live_best / lp(n)`` at the extreme ``n``). Stopping then returns what decoding on would."""
    if len(finished) < n_best:
        return False
    if live_best == float("-inf"):
        return True
    kth = sorted((h.score for h in finished), reverse=True)[n_best - 1]
    return kth >= max(live_best / _lp(t + 2, alpha), live_best / _lp(limit, alpha))


@torch.no_grad()
def beam_search(model, src: Tensor, src_mask: Tensor, sos_id: int, eos_id: int, beam: int = 5,
                length_penalty: float = 0.6, n_best: int = 1, max_len_a: float = 1.5, max_len_b: int = 10,
                max_len_cap: int | None = None, return_attn: bool = False,
                no_repeat_ngram: int = 0) -> list[list[Hypothesis]]:
    """Batched beam search. Returns, per sentence, the ``n_best`` hypotheses best first.

    A sentence stops at K finished hypotheses, at its length limit, or once :func:`settled` (no live beam
    can change its ``n_best`` best). Models with ``select_rows(state, rows)`` (any rows, memory included)
    then drop its rows, so the batch shrinks as its sentences end; the others carry them to the end."""
    if n_best > beam:
        raise ValueError(f"n_best ({n_best}) cannot exceed the beam width ({beam})")
    B, K, dev = src.size(0), beam, src.device
    limits = max_lengths(src_mask, max_len_a, max_len_b, max_len_cap).tolist()  # per sentence
    memory = model.encode(src, src_mask)
    if hasattr(model, "init_beams"):  # the model repeats per beam only what it must
        state = model.init_beams(memory, K, need_attn=return_attn)
    else:
        state = model.init_state(expand_memory(memory, K), need_attn=return_attn)
    shrink = hasattr(model, "select_rows")
    active = list(range(B))  # the sentences whose rows are in the batch, in row order
    tokens = torch.full((B * K,), sos_id, dtype=torch.long, device=dev)
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # all beams start identical: keep one so the first step does not pick duplicates
    history = torch.empty(B, K, 0, dtype=torch.long, device=dev)  # (A, K, t)
    attn_hist = None  # (A, K, t, S)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B

    for t in range(max(limits)):
        log_probs, state, attn = model.step(state, tokens)  # (A*K, V)
        A, V = len(active), log_probs.size(-1)
        if no_repeat_ngram:
            log_probs = block_repeats(log_probs, history.reshape(A * K, -1), no_repeat_ngram)
        cand = log_probs.view(A, K, V).add_(scores.unsqueeze(-1))  # (A, K, V), in place: log_probs is not read again
        top_scores, top_idx = cand.view(A, K * V).topk(2 * K, dim=1)  # (A, 2K)
        top_beam, top_tok = top_idx // V, top_idx % V  # (A, 2K) each
        is_eos = top_tok == eos_id
        if attn is not None:
            attn = attn.view(A, K, -1)  # (A, K, S)
        # finished hypotheses: <eos> among the top K candidates
        for a, j in (is_eos[:, :K] & torch.isfinite(top_scores[:, :K])).nonzero().tolist():
            b = active[a]
            if done[b]:
                continue
            k = int(top_beam[a, j])
            h = None
            if attn is not None:
                prev = attn_hist[a, k] if attn_hist is not None else attn.new_zeros(0, attn.size(-1))
                h = torch.cat([prev, attn[a, k : k + 1]], 0)
            n = history.size(2) + 1  # generated tokens including <eos>
            finished[b].append(Hypothesis(history[a, k].tolist(), float(top_scores[a, j]) / _lp(n, length_penalty), h))
        # continuing hypotheses: the best K candidates that are not <eos>
        cont = top_scores.masked_fill(is_eos, float("-inf"))
        scores, pick = cont.topk(K, dim=1)  # (A, K)
        if A * K >= KEEP_ROWS_MIN:  # survivors stay in their parent's row where they can
            order = keep_rows(top_beam.gather(1, pick))
            scores, pick = scores.gather(1, order), pick.gather(1, order)
        beam_src = top_beam.gather(1, pick)  # (A, K) beam each survivor came from
        tokens = top_tok.gather(1, pick)  # (A, K)
        history = torch.cat([history.gather(1, beam_src.unsqueeze(-1).expand_as(history)), tokens.unsqueeze(-1)], 2)
        if attn is not None:
            prev = attn_hist.gather(1, beam_src[:, :, None, None].expand_as(attn_hist)) if attn_hist is not None else None
            new = attn.gather(1, beam_src.unsqueeze(-1).expand_as(attn)).unsqueeze(2)  # (A, K, 1, S)
            attn_hist = new if prev is None else torch.cat([prev, new], 2)
        best_live = scores.max(1).values.tolist()  # each sentence's best live score
        for a, b in enumerate(active):
            if done[b]:
                continue
            if len(finished[b]) >= K or (t + 1 < limits[b] and settled(finished[b], best_live[a], t, limits[b],
                                                                         length_penalty, n_best)):
                done[b] = True
            elif t + 1 >= limits[b]:  # out of length: the live beams end here
                n = history.size(2)
                for k in range(K):
                    if torch.isfinite(scores[a, k]):
                        h = attn_hist[a, k] if attn_hist is not None else None
                        finished[b].append(Hypothesis(history[a, k].tolist(), float(scores[a, k]) / _lp(n, length_penalty), h))
                done[b] = True
        if all(done):
            break
        rows = torch.arange(A, device=dev).unsqueeze(1) * K + beam_src  # (A, K): the rows each survivor continues
        keep = fill_holes([a for a, b in enumerate(active) if not done[b]])
        if shrink and len(keep) < A:  # drop the ended sentences' rows, memory included
            idx = torch.tensor(keep, device=dev)
            rows, scores, tokens, history = rows[idx], scores[idx], tokens[idx], history[idx]
            attn_hist = attn_hist[idx] if attn_hist is not None else None
            active = [active[a] for a in keep]
            state = model.select_rows(state, rows.view(-1))
        else:
            state = model.reorder(state, rows.view(-1))
        tokens = tokens.view(-1)
    return [sorted(f, key=lambda h: -h.score)[:n_best] for f in finished]

"""Translation through ``encoder.onnx`` + ``decoder.onnx``: greedy and beam search in numpy.

Both searches are ``seqlab.models.decoding``'s, step for step (the same length limits, the GNMT
length penalty, the same rule for finished hypotheses), so they return seqlab's tokens. What the
decoder carries between steps is named in the manifest (``carry``: input -> the output that feeds
it next, and the batch axis that beam search reorders).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .runtime import Runner, check_texts, pad_right, tokenizer

log = logging.getLogger(__name__)


def top_stable(x: np.ndarray, n: int) -> np.ndarray:
    """Indices (A, n) of each row's n largest values, largest first and ties by lower index: the first n
    of ``np.argsort(-x, axis=1, kind="stable")`` without sorting whole rows (a beam step's rows hold
    K x vocabulary scores; sorting them all was most of a batch's time)."""
    A, N = x.shape
    if n >= N:
        return np.argsort(-x, axis=1, kind="stable")[:, :n]
    part = np.argpartition(-x, n - 1, axis=1)[:, :n]
    kth = np.take_along_axis(x, part, 1).min(1)  # (A,) each row's n-th largest value
    out = np.empty((A, n), np.int64)
    for a in range(A):
        c = np.flatnonzero(x[a] >= kth[a])  # every index that can be among the n, in index order
        out[a] = c[np.argsort(-x[a, c], kind="stable")[:n]]
    return out


def _lp(n: int, alpha: float) -> float:
    """GNMT length penalty lp(n) = ((5 + n) / 6) ** alpha."""
    return ((5.0 + n) / 6.0) ** alpha


def _settled(finished: list, live_best: float, t: int, limit: int, alpha: float, n_best: int) -> bool:
    """seqlab.models.decoding.settled (restated here: this module runs without torch): no live beam can
    still enter the ``n_best`` best."""
    if len(finished) < n_best:
        return False
    if live_best == -np.inf:
        return True
    kth = sorted((h.score for h in finished), reverse=True)[n_best - 1]
    return kth >= max(live_best / _lp(t + 2, alpha), live_best / _lp(limit, alpha))


@dataclass
class Hypothesis:
    tokens: list[int]  # generated ids, without <sos> and <eos>
    score: float  # length-normalised log-probability (beam) or summed log-probability (greedy)


class OnnxSeq2Seq(Runner):
    task = "seq2seq"

    def __init__(self, path, manifest, threads=None):
        super().__init__(path, manifest, threads)
        self.settings = manifest["seq2seq"]
        self.src_tok = tokenizer(path, manifest["tokenizers"].get("src"))
        self.tgt_tok = tokenizer(path, manifest["tokenizers"].get("tgt"))

    # ---- the incremental decoding protocol over the two graphs -----------------------------------
    def encode(self, src: np.ndarray, src_mask: np.ndarray) -> dict:
        """Run the encoder graph: {name: array} plus src_mask and src (the memory every step reads; the decoder
        graph takes the names it has inputs for: src only with a copy head)."""
        return {**self.run("encoder", {"src": src, "src_mask": src_mask}), "src_mask": src_mask, "src": src}

    def init_state(self, memory: dict) -> dict:
        """The carried arrays before step 0 (bridged states, empty caches, zero input feed) and the step."""
        B = memory["src_mask"].shape[0]
        state = {}
        for name, init in self.settings["init"].items():
            if isinstance(init, str):  # an encoder output, e.g. h0
                state[name] = memory[init]
            else:  # zeros of a per-row shape; batch on the carry axis
                shape = list(init)
                shape.insert(self.settings["carry"][name][1], B)
                state[name] = np.zeros(shape, np.float32)
        return {"memory": memory, "carry": state, "t": 0}

    def step(self, state: dict, last_tokens: np.ndarray):
        """last_tokens (B,) -> log_probs (B, V), the new state."""
        B = last_tokens.shape[0]
        feeds = {**state["memory"], **state["carry"], "last_tokens": last_tokens.astype(np.int64),
                 "position": np.full(B, state["t"], np.int64)}
        out = self.run("decoder", feeds)
        carry = {name: out[src] for name, (src, _) in self.settings["carry"].items()}
        return out["log_probs"], {"memory": state["memory"], "carry": carry, "t": state["t"] + 1}

    def reorder(self, state: dict, rows: np.ndarray) -> dict:
        carry = {name: np.take(v, rows, axis=self.settings["carry"][name][1]) for name, v in state["carry"].items()}
        return {**state, "carry": carry}

    def expand(self, memory: dict, k: int) -> dict:
        """Repeat every sentence's memory k times (its beams), on each array's batch axis."""
        axes = self.settings["memory_axes"]
        return {n: np.repeat(v, k, axis=axes.get(n, 0)) for n, v in memory.items()}

    # ---- searches (seqlab.models.decoding, in numpy) -----------------------------------------------
    def _limits(self, src_mask: np.ndarray) -> np.ndarray:
        s = self.settings
        cap = s["max_tgt_len"] + 1
        if s.get("max_positions"):
            cap = min(cap, s["max_positions"] - 1)
        n = (src_mask.sum(1).astype(np.float32) * np.float32(s["max_len_a"]) + s["max_len_b"]).astype(np.int64)
        return np.clip(n, 1, cap)

    def greedy(self, src: np.ndarray, src_mask: np.ndarray) -> list[Hypothesis]:
        s = self.settings
        B = src.shape[0]
        limit = self._limits(src_mask)
        memory = self.encode(src, src_mask)
        state = self.init_state(memory)
        tokens = np.full(B, s["sos_id"], np.int64)
        done = np.zeros(B, bool)
        score = np.zeros(B, np.float32)
        out = []
        for t in range(int(limit.max())):
            log_probs, state = self.step(state, tokens)
            tokens = log_probs.argmax(-1)
            lp = log_probs[np.arange(B), tokens]
            score += np.where(done, 0.0, lp).astype(np.float32)
            out.append(np.where(done, s["eos_id"], tokens))
            done |= (tokens == s["eos_id"]) | (t + 1 >= limit)
            if done.all():
                break
        seq = np.stack(out, 1).tolist()
        hyps = []
        for b in range(B):
            toks = seq[b][: int(limit[b])]
            n = toks.index(s["eos_id"]) if s["eos_id"] in toks else len(toks)
            hyps.append(Hypothesis(toks[:n], float(score[b])))
        return hyps

    def select_rows(self, state: dict, rows: np.ndarray) -> dict:
        """Keep rows ``rows`` of the carried arrays and of the memory (beam search drops ended sentences)."""
        axes = self.settings["memory_axes"]
        memory = {n: np.take(v, rows, axis=axes.get(n, 0)) for n, v in state["memory"].items()}
        return {**self.reorder(state, rows), "memory": memory}

    def beam_search(self, src: np.ndarray, src_mask: np.ndarray, beam: int = 5, n_best: int = 1) -> list[list[Hypothesis]]:
        s = self.settings
        B, K, eos = src.shape[0], beam, s["eos_id"]
        alpha = s["length_penalty"]
        limits = self._limits(src_mask).tolist()
        state = self.init_state(self.expand(self.encode(src, src_mask), K))
        active = list(range(B))  # the sentences whose rows are in the batch, in row order
        tokens = np.full(B * K, s["sos_id"], np.int64)
        scores = np.full((B, K), -np.inf, np.float32)
        scores[:, 0] = 0.0
        history = np.zeros((B, K, 0), np.int64)
        finished: list[list[Hypothesis]] = [[] for _ in range(B)]
        done = [False] * B
        lp = lambda n: _lp(n, alpha)  # noqa: E731

        for t in range(max(limits)):
            log_probs, state = self.step(state, tokens)
            A, V = len(active), log_probs.shape[-1]
            cand = (scores[:, :, None] + log_probs.reshape(A, K, V)).reshape(A, K * V)
            top_idx = top_stable(cand, 2 * K)  # (A, 2K), as topk
            top_scores = np.take_along_axis(cand, top_idx, 1)
            top_beam, top_tok = top_idx // V, top_idx % V
            is_eos = top_tok == eos
            for a, j in zip(*np.nonzero(is_eos[:, :K] & np.isfinite(top_scores[:, :K]))):
                b = active[a]
                if done[b]:
                    continue
                k = int(top_beam[a, j])
                n = history.shape[2] + 1
                finished[b].append(Hypothesis(history[a, k].tolist(), float(top_scores[a, j]) / lp(n)))
            cont = np.where(is_eos, -np.inf, top_scores)
            pick = np.argsort(-cont, axis=1, kind="stable")[:, :K]
            scores = np.take_along_axis(cont, pick, 1)
            beam_src = np.take_along_axis(top_beam, pick, 1)
            tokens = np.take_along_axis(top_tok, pick, 1)
            history = np.concatenate([np.take_along_axis(history, beam_src[:, :, None], 1), tokens[:, :, None]], 2)
            for a, b in enumerate(active):
                if done[b]:
                    continue
                if len(finished[b]) >= K or (t + 1 < limits[b] and _settled(finished[b], float(scores[a, 0]), t,
                                                                             limits[b], alpha, n_best)):
                    done[b] = True
                elif t + 1 >= limits[b]:
                    for k in range(K):
                        if np.isfinite(scores[a, k]):
                            finished[b].append(Hypothesis(history[a, k].tolist(), float(scores[a, k]) / lp(history.shape[2])))
                    done[b] = True
            if all(done):
                break
            rows = np.arange(A)[:, None] * K + beam_src
            keep = [a for a, b in enumerate(active) if not done[b]]
            if len(keep) < A:  # drop the ended sentences' rows, memory included
                rows, scores, tokens, history = rows[keep], scores[keep], tokens[keep], history[keep]
                active = [active[a] for a in keep]
                state = self.select_rows(state, rows.reshape(-1))
            else:
                state = self.reorder(state, rows.reshape(-1))
            tokens = tokens.reshape(-1)
        return [sorted(f, key=lambda h: -h.score)[:n_best] for f in finished]

    # ---- text in, text out -----------------------------------------------------------------------
    def decode_ids(self, sources: list[list[int]], beam: int = 1, n_best: int = 1,
                   batch_size: int = 64) -> list[list[Hypothesis]]:
        """Hypotheses (best first) per source id list, batched by length like ``seqlab``'s decode."""
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        out: list = [None] * len(sources)
        for k in range(0, len(order), batch_size):
            idx = order[k: k + batch_size]
            src, mask = pad_right([sources[i] for i in idx], self.settings["pad_id"])
            hyps = ([[h] for h in self.greedy(src, mask)] if beam == 1 else self.beam_search(src, mask, beam, n_best))
            for i, h in zip(idx, hyps):
                out[i] = h
        return out

    def predict(self, texts: list[str] | str, beam: int | None = None, n_best: int = 1, batch_size: int = 64) -> list[dict]:
        """``[{"translation", "score", "truncated", "n_best"?}]`` in input order, as ``seqlab.load(run).predict``."""
        from ..errors import UserError

        texts = check_texts(texts)
        beam = beam or self.settings["beam"]
        if beam < 1 or n_best < 1 or n_best > beam:
            raise UserError(f"--beam must be ≥ 1 and --n-best between 1 and the beam width; found beam={beam}, n_best={n_best}")
        m = self.settings["max_src_len"]
        ids = self.src_tok.encode_batch([t.strip() for t in texts])
        truncated = [len(x) > m for x in ids]
        if any(truncated):
            log.warning("truncated %d input(s) to the model's max_src_len=%d tokens", sum(truncated), m)
        hyps = self.decode_ids([x[:m] or [self.settings["src_unk_id"]] for x in ids], beam, n_best, batch_size)
        out = []
        for hs, tr in zip(hyps, truncated):
            rec = {"translation": self.tgt_tok.decode(hs[0].tokens), "score": round(hs[0].score, 4), "truncated": tr}
            if n_best > 1:
                rec["n_best"] = [{"translation": self.tgt_tok.decode(h.tokens), "score": round(h.score, 4)} for h in hs]
            out.append(rec)
        return out

    translate = predict

"""Generation through ``decoder.onnx`` with the cache (GPT keys/values) or state (RNN) carried in numpy.

The loop is seqlab's (``seqlab.models.sampling.generate_stream``): prompts left-padded, one prefill
call, then one token per call; a GPT whose context fills up slides its window like ``GPT.decode``
(the oldest quarter dropped, the rest re-encoded). Greedy decoding gives seqlab's tokens; sampling
uses numpy's generator, so a seed gives other draws than torch's.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import UserError
from .runtime import Runner, check_texts, softmax, tokenizer

log = logging.getLogger(__name__)


class _GPTCache:
    """Keys/values (n_layer, B, nh, S, hs), the token in every slot, and each row's left padding."""

    def __init__(self, runner: "OnnxLM", capacity: int):
        s = runner.settings
        self.runner, self.capacity = runner, capacity
        self.k = self.v = np.zeros((s["n_layer"], 0, s["n_head"], 0, s["head_size"]), np.float32)
        self.tokens = np.zeros((0, 0), np.int64)  # (B, S)
        self.n_pad = None  # (B,) int64

    @property
    def length(self) -> int:
        return self.tokens.shape[1]

    def feed(self, ids: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Append ids (B, T); ``mask`` (B, T) only on an empty cache (left padding). Returns logits (B, V)."""
        B, T = ids.shape
        s = self.runner.settings
        if self.length == 0:
            self.k = self.v = np.zeros((s["n_layer"], B, s["n_head"], 0, s["head_size"]), np.float32)
            self.tokens = np.zeros((B, 0), np.int64)
            self.n_pad = (~mask).sum(1).astype(np.int64) if mask is not None else np.zeros(B, np.int64)
        slot = np.arange(self.length, self.length + T)  # (T,)
        pos = np.maximum(slot[None, :] - self.n_pad[:, None], 0).astype(np.int64)  # (B, T)
        keys = np.arange(self.length + T)
        real = keys[None, :] >= self.n_pad[:, None]  # (B, S): left padding is not real
        out = self.runner.run("decoder", {"input_ids": ids.astype(np.int64), "position_ids": pos,
                                          "attention_mask": real, "past_keys": self.k, "past_values": self.v})
        self.k, self.v = out["present_keys"], out["present_values"]
        self.tokens = np.concatenate([self.tokens, ids], 1)
        return out["logits"][:, -1]

    def slide(self) -> None:
        """Drop the oldest quarter of the context and re-encode the rest from position 0 (``GPT._slide``)."""
        keep = self.capacity - max(1, self.capacity // 4)
        ids = self.tokens[:, self.capacity - keep:]
        n_pad = np.maximum(self.n_pad - (self.capacity - keep), 0)
        mask = np.arange(keep)[None, :] >= n_pad[:, None]
        self.tokens = np.zeros((0, 0), np.int64)
        self.feed(ids, mask)


class OnnxLM(Runner):
    task = "lm"

    def __init__(self, path, manifest, threads=None):
        super().__init__(path, manifest, threads)
        self.settings = manifest["lm"]
        self.tokenizer = tokenizer(path, manifest["tokenizers"].get("tokenizer"))

    # ---- the graph, one call ---------------------------------------------------------------------
    @property
    def context_size(self) -> int | None:
        return self.settings.get("block_size")

    def _rnn_state(self, B: int) -> dict:
        s = self.settings
        z = np.zeros((s["n_layer"], B, s["hidden"]), np.float32)
        return {"h0": z, "c0": z.copy()} if s["cell"] == "lstm" else {"h0": z}

    def _rnn_call(self, ids: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:
        out = self.run("decoder", {"input_ids": ids.astype(np.int64), **state})
        new = {"h0": out["h"]}
        if "c" in out:
            new["c0"] = out["c"]
        return out["logits"], new

    def prefill(self, ids: np.ndarray, mask: np.ndarray | None, max_new_tokens: int):
        """Left-padded prompts (B, T) -> next-token logits (B, V) and the carried cache/state."""
        B, T = ids.shape
        if self.settings["kind"] == "gpt":
            cache = _GPTCache(self, min(self.settings["block_size"], T + max_new_tokens))
            return cache.feed(ids, mask), cache
        if mask is None:
            logits, state = self._rnn_call(ids, self._rnn_state(B))
            return logits[:, -1], state
        n_pad = (~mask).sum(1)
        logits = np.zeros((B, self.settings["vocab_size"]), np.float32)
        state = self._rnn_state(B)
        for pad in np.unique(n_pad):  # rows with the same padding read only their real tokens
            rows = np.nonzero(n_pad == pad)[0]
            lg, st = self._rnn_call(ids[rows, pad:], self._rnn_state(len(rows)))
            logits[rows] = lg[:, -1]
            for k, v in st.items():
                state[k][:, rows] = v
        return logits, state

    def decode(self, token: np.ndarray, state):
        """One token per row (B,) -> next-token logits (B, V); the cache/state advances."""
        if self.settings["kind"] == "gpt":
            if state.length == state.capacity:
                state.slide()
            return state.feed(token[:, None].astype(np.int64)), state
        logits, new = self._rnn_call(token[:, None], state)
        return logits[:, -1], new

    # ---- text in, text out -----------------------------------------------------------------------
    def encode_prompt(self, prompt: str) -> list[int]:
        tok = self.tokenizer
        if tok is None:
            raise UserError(f"{self.path}: this export has no tokenizer.json, so it cannot read text prompts")
        if prompt == "":
            nl = tok.encode("\n")
            return nl if nl and nl[0] != tok.unk_id else [tok.eos_id]
        ids = tok.encode(prompt)
        if not ids or all(i == tok.unk_id for i in ids):
            raise UserError(f"the prompt {prompt!r} has nothing this model knows (every token is outside its vocabulary)")
        return ids

    def generate_ids(self, prompts: list[list[int]], max_new_tokens: int, greedy: bool = False,
                     temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                     num_samples: int = 1, seed: int | None = None, eos_id: int | None = None) -> list[list[int]]:
        """New token ids per row (prompt-major, ``num_samples`` rows per prompt); a row ends after eos."""
        if temperature <= 0 or not 0 < top_p <= 1 or top_k < 0 or repetition_penalty <= 0 or num_samples < 1:
            raise UserError("expected temperature > 0, top_p in (0, 1], top_k >= 0, repetition_penalty > 0, "
                            "num_samples >= 1")
        if not prompts or any(len(p) == 0 for p in prompts):
            raise UserError("every prompt needs at least one token")
        ctx = self.context_size
        if ctx is not None and max(len(p) for p in prompts) > ctx:
            prompts = [p[-ctx:] for p in prompts]
        prompts = [p for p in prompts for _ in range(num_samples)]
        B, T = len(prompts), max(len(p) for p in prompts)
        ids = np.full((B, T), self.settings["pad_id"], np.int64)
        mask = np.zeros((B, T), bool)
        for b, p in enumerate(prompts):
            ids[b, T - len(p):], mask[b, T - len(p):] = p, True
        rng = np.random.default_rng(seed)
        seen = None
        if repetition_penalty != 1.0:
            seen = np.zeros((B, self.settings["vocab_size"]), bool)
            for b, p in enumerate(prompts):
                seen[b, p] = True
        out: list[list[int]] = [[] for _ in range(B)]
        if max_new_tokens == 0:
            return out
        running = np.ones(B, bool)
        logits, state = self.prefill(ids, None if mask.all() else mask, max_new_tokens)
        for step in range(max_new_tokens):
            x = logits.astype(np.float32)
            if seen is not None:
                x = np.where(seen, np.where(x > 0, x / repetition_penalty, x * repetition_penalty), x)
            if greedy:
                tok = x.argmax(-1)
            else:
                tok = _sample(x / temperature, top_k, top_p, rng)
            if seen is not None:
                seen[np.arange(B), tok] = True
            for b in np.nonzero(running)[0]:
                out[b].append(int(tok[b]))
                if eos_id is not None and tok[b] == eos_id:
                    running[b] = False
            if not running.any() or step == max_new_tokens - 1:
                break
            logits, state = self.decode(tok.astype(np.int64), state)
        return out

    def generate(self, prompts: list[str] | str = "", max_new_tokens: int = 200, *, greedy: bool = False,
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, repetition_penalty: float = 1.0,
                 stop: list[str] | str | None = None, num_samples: int = 1, seed: int | None = None) -> list[dict]:
        """Continue each prompt; ``[{"prompt", "sample", "text", "new_tokens", "stop_reason"}]`` as seqlab's."""
        if isinstance(prompts, str):
            prompts = [prompts]
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        eos = self.tokenizer.eos_id if self.tokenizer is not None else None
        rows = self.generate_ids([self.encode_prompt(p) for p in prompts], max_new_tokens, greedy=greedy,
                                 temperature=temperature, top_k=top_k, top_p=top_p,
                                 repetition_penalty=repetition_penalty, num_samples=num_samples, seed=seed, eos_id=eos)
        done = []
        for r, toks in enumerate(rows):
            reason = "max_new_tokens"
            if eos is not None and toks and toks[-1] == eos:
                toks, reason = toks[:-1], "eos"
            text = self.tokenizer.decode(toks)
            cut = min((text.find(s) for s in stops if s in text), default=-1)
            if cut >= 0:
                text, reason = text[:cut], "stop"
            done.append({"prompt": prompts[r // num_samples], "sample": r % num_samples, "text": text,
                         "new_tokens": len(toks), "stop_reason": reason})
        return done

    def predict(self, texts: list[str], max_new_tokens: int | None = None) -> list[dict]:
        """A greedy continuation of ``max_new_tokens`` (50) tokens per text (as ``seqlab predict`` on an lm run)."""
        return self.generate(check_texts(texts, "prompt"), max_new_tokens=max_new_tokens or 50, greedy=True)


def _sample(logits: np.ndarray, top_k: int, top_p: float, rng) -> np.ndarray:
    """One draw per row from softmax(logits) after top-k and top-p (nucleus) filtering."""
    x = logits.astype(np.float64)
    if 0 < top_k < x.shape[-1]:
        kth = np.sort(x, -1)[:, -top_k][:, None]
        x = np.where(x < kth, -np.inf, x)
    if top_p < 1.0:
        order = np.argsort(-x, -1, kind="stable")
        p = softmax(np.take_along_axis(x, order, -1))
        drop_sorted = (p.cumsum(-1) - p) >= top_p
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, -1)
        x = np.where(drop, -np.inf, x)
    probs = softmax(x)
    return np.array([rng.choice(len(p), p=p) for p in probs], dtype=np.int64)

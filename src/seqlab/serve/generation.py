"""Generation for lm runs: each request on its own thread and its own copy of the model, pieces handed to
the event loop as they are produced, and a cancel flag that stops the generation when the client leaves.

Why copies: a loaded LM's decoder binds its key/value cache to the model object (``GPTDecoder``), so two
generations must never share one. The server loads each lm run ``Limits.gen_streams`` times (one copy
per concurrent generation); a request waits for a free copy.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import AsyncIterator

from ..errors import UserError
from ..models.sampling import GenerationConfig
from .errors import ApiError
from .limits import Limits
from .schemas import GenerateRequest
from .served import check_texts

log = logging.getLogger(__name__)


def generation_args(req: GenerateRequest, limits: Limits) -> tuple[list[str], GenerationConfig, list[str]]:
    """(prompts, config, stop strings) of a request, checked against the server's limits."""
    if req.prompt is not None and req.prompts is not None:
        raise ApiError(422, "invalid_request", "expected either prompt (one string) or prompts (a list); found both")
    prompts = req.prompts if req.prompts is not None else [req.prompt if req.prompt is not None else ""]
    check_texts(prompts, limits, "prompts", allow_empty=True)
    max_new = req.max_new_tokens if req.max_new_tokens is not None else min(200, limits.max_new_tokens)
    if max_new > limits.max_new_tokens:
        raise ApiError(422, "invalid_request", f"expected max_new_tokens <= {limits.max_new_tokens} (the server's cap, "
                                               f"--max-new-tokens); found {max_new}")
    if req.num_samples > limits.max_num_samples:
        raise ApiError(422, "invalid_request", f"expected num_samples <= {limits.max_num_samples} (the server's cap); "
                                               f"found {req.num_samples}")
    stops = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
    if any(s == "" for s in stops):
        raise ApiError(422, "invalid_request", "expected non-empty stop strings; found an empty one")
    if len(stops) > 16 or any(len(s) > 200 for s in stops):
        raise ApiError(422, "invalid_request", f"expected at most 16 stop strings of at most 200 characters; found "
                                               f"{len(stops)}, the longest {max(map(len, stops))} characters")
    try:
        cfg = GenerationConfig(max_new_tokens=max_new, greedy=req.greedy, temperature=req.temperature,
                               top_k=req.top_k, top_p=req.top_p, repetition_penalty=req.repetition_penalty,
                               num_samples=req.num_samples, seed=req.seed)
    except ValueError as e:
        raise ApiError(422, "invalid_request", str(e)) from None
    return prompts, cfg, stops


class Generation:
    """One running generation: ``await start()`` (raises on a bad prompt), then ``async for`` its pieces."""

    def __init__(self, pool: "GenerationPool", prompts, cfg, stops, precision):
        self.pool, self.args = pool, (prompts, cfg, stops, precision)
        self.cancel = threading.Event()
        self.cancelled = False
        self._loop = asyncio.get_running_loop()
        self._q: asyncio.Queue = asyncio.Queue()
        self._thread = threading.Thread(target=self._work, daemon=True, name=f"gen-{pool.name}")

    def _put(self, msg):
        try:
            self._loop.call_soon_threadsafe(self._q.put_nowait, msg)
        except RuntimeError:  # the event loop is gone (server shutting down)
            self.cancel.set()

    def _work(self):
        prompts, cfg, stops, precision = self.args
        replica = self.pool.free.get()
        try:
            try:
                it = replica.generate_stream(prompts, cfg, stops, precision=precision)  # checks the prompts
            except BaseException as e:  # noqa: BLE001 - reported to the request
                self._put(("error", e))
                return
            self._put(("started", None))
            for piece in it:
                if self.cancel.is_set():
                    it.close()
                    self.cancelled = True
                    self.pool.on_cancel()
                    return
                self._put(("piece", piece))
        except BaseException as e:  # noqa: BLE001
            log.exception("generation failed")
            self._put(("error", e))
        finally:
            self.pool.free.put(replica)
            self.pool.release()
            self._put(("end", None))

    async def start(self):
        self._thread.start()
        kind, value = await self._q.get()
        if kind == "error":
            raise value
        if kind == "end":
            raise RuntimeError("generation ended before it started")

    async def pieces(self) -> AsyncIterator[dict]:
        """``{"row", "text"}`` pieces, then the ``{"done": ...}`` record; stops the thread if abandoned."""
        try:
            while True:
                kind, value = await self._q.get()
                if kind == "piece":
                    yield value
                elif kind == "error":
                    raise value
                else:  # end
                    return
        finally:
            self.cancel.set()  # the client left (or we are done): a running generation stops at its next piece


class GenerationPool:
    """The copies of one lm run; ``Limits.gen_streams`` generations run at once, the rest wait."""

    def __init__(self, name: str, replicas: list, on_cancel=lambda: None):
        self.name = name
        self.free: queue.Queue = queue.Queue()
        for r in replicas:
            self.free.put(r)
        self.on_cancel = on_cancel
        self._lock = threading.Lock()
        self.pending = 0  # generations running or waiting for a copy

    def release(self):
        with self._lock:
            self.pending -= 1

    async def open(self, req: GenerateRequest, limits: Limits) -> Generation:
        prompts, cfg, stops = generation_args(req, limits)
        with self._lock:
            if self.pending >= limits.max_pending:
                raise ApiError(429, "busy", f"expected at most {limits.max_pending} generations of {self.name} running or "
                                            "waiting; the server is at that limit (try again shortly)")
            self.pending += 1
        gen = Generation(self, prompts, cfg, stops, req.precision)
        await gen.start()  # a bad prompt raises here, before any response is sent
        return gen


def warm(replica) -> None:
    """Prepare the decoder once (``auto`` measures fp32 vs bf16) and run two tokens."""
    try:
        replica.generate("", max_new_tokens=2, greedy=True)
    except UserError as e:  # e.g. an imported checkpoint without tokenizer.json: it cannot serve text
        raise UserError(f"{replica.path}: cannot generate text ({e})") from None

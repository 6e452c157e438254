"""Dynamic micro-batching: requests that arrive together run as one batch on one worker thread.

A request is a key (the options that must match to share a batch, e.g. the beam width) and a list of
inputs. The worker takes the oldest request, then gathers more with the same key until the batch holds
``max_batch`` inputs or ``max_wait_ms`` has passed since it took the first; requests with another key wait
for the next round, in arrival order. ``run(key, inputs) -> results`` is called once per batch and must
return one result per input, in order. If a batch fails, each request in it is run alone, so one bad
input fails only its own request (its exception reaches its caller) and never its neighbours.

Each request's results are those of running it alone exactly when ``run`` treats its inputs
independently (the models pad per batch and never let padding change a result; tests/test_serve_api.py
checks this on real runs).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

log = logging.getLogger(__name__)


@dataclass
class _Request:
    key: Hashable
    items: list
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """One worker thread running ``run(key, items)`` on gathered requests."""

    def __init__(self, run: Callable[[Hashable, list], list], max_batch: int = 32, max_wait_ms: float = 5.0,
                 name: str = "batcher", on_batch: Callable[[int], None] | None = None):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0; got {max_batch}, {max_wait_ms}")
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: queue.Queue = queue.Queue()
        self._held: deque[_Request] = deque()  # taken from the queue but of another key than the batch
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, key: Hashable, items: list) -> Future:
        """A future of ``run``'s results for ``items`` (a list, in order)."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        req = _Request(key, list(items))
        self._queue.put(req)
        return req.future

    def close(self, timeout: float | None = 10.0):
        """Finish the requests already submitted, then stop the worker."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)

    # ---- the worker
    def _next(self, timeout: float | None) -> _Request | None | bool:
        """The next request (held ones first); None = closing; False = none before the timeout."""
        if self._held:
            return self._held.popleft()
        try:
            if timeout is None:
                return self._queue.get()
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return False

    def _loop(self):
        stopping = False
        while True:
            if stopping and not self._held and self._queue.empty():
                return
            first = self._next(None if not stopping else 0)
            if first is None:
                stopping = True
                continue
            if first is False:
                return
            batch, n = [first], len(first.items)
            deadline = time.perf_counter() + self.max_wait
            others: list[_Request] = []
            held_pending = list(self._held)  # same-key requests already held join first
            self._held.clear()
            for r in held_pending:
                if r.key == first.key and n + len(r.items) <= self.max_batch:
                    batch.append(r)
                    n += len(r.items)
                else:
                    others.append(r)
            while n < self.max_batch and not stopping:
                r = self._next(0 if stopping else deadline - time.perf_counter())
                if r is False:
                    break
                if r is None:
                    stopping = True
                    break
                if r.key == first.key and n + len(r.items) <= self.max_batch:
                    batch.append(r)
                    n += len(r.items)
                else:
                    others.append(r)
                    if r.key == first.key:  # would overflow this batch: it starts the next one
                        break
            self._held.extend(others)
            self._run(batch, n)

    def _run(self, batch: list[_Request], n: int):
        if self.on_batch:
            try:
                self.on_batch(n)
            except Exception:  # noqa: BLE001 - a metrics hook must never stop the worker
                log.exception("the batch hook failed")
        items = [x for r in batch for x in r.items]
        try:
            results = self.run(batch[0].key, items)
            if len(results) != len(items):
                raise RuntimeError(f"run returned {len(results)} results for {len(items)} inputs")
        except BaseException as e:  # noqa: BLE001 - reported to the callers
            if len(batch) == 1:
                _settle(batch[0].future, exc=e)
                return
            log.info("a batch of %d requests failed (%s); running them one by one", len(batch), type(e).__name__)
            for r in batch:
                self._run([r], len(r.items))
            return
        i = 0
        for r in batch:
            _settle(r.future, result=results[i: i + len(r.items)])
            i += len(r.items)


def _settle(fut: Future, result: Any = None, exc: BaseException | None = None):
    if fut.set_running_or_notify_cancel():
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

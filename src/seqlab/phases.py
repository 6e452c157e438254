"""Named phases of a command, each timed and logged, with a sign of life when one runs long.

    from seqlab.phases import phase, phase_times

    with phase("read data"):
        table = read_table(path)
    with phase("tokenise", total=len(texts)) as p:
        for chunk in chunks:
            ...
            p.advance(len(chunk))           # optional: "tokenise 40,000/200,000" in the progress line
    phase_times()                           # {"read data": 0.8, "tokenise": 12.4}

Every phase logs ``phase NAME: 1.23 s`` at INFO when it ends (``-q`` hides it). A phase that is
still running after ``show_after`` seconds (5 by default) gets a spinner line on stderr, updated a
few times a second from a daemon thread, and erased when the phase ends; it is shown only when
stderr is a terminal and logging is at INFO (so ``-q``, pipes and tests stay quiet). Durations add up
per name in :func:`phase_times`, so a run can report where its time went (``summary.json``). Phases
nest; an exception ends the phase (logged with its time) and propagates unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time

log = logging.getLogger("seqlab")

SHOW_AFTER_S = 5.0  # seconds before a running phase shows a spinner
_times: dict[str, float] = {}
_lock = threading.Lock()


class Phase:
    """A running phase: ``advance(n)`` moves its count, ``elapsed`` its seconds so far."""

    def __init__(self, name: str, total: int | None):
        self.name, self.total, self.done = name, total, 0
        self.t0 = time.perf_counter()

    def advance(self, n: int = 1) -> None:
        self.done += n

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def line(self, frame: str) -> str:
        count = f" {self.done:,}/{self.total:,}" if self.total else (f" {self.done:,}" if self.done else "")
        return f"{frame} {self.name}{count} ({self.elapsed:.0f} s)"


def _spinner(p: Phase, stop: threading.Event, show_after: float) -> None:
    if stop.wait(show_after):
        return
    frames = "|/-\\"
    i, width = 0, 0
    while not stop.wait(0.25):
        text = p.line(frames[i % 4])
        sys.stderr.write("\r" + text.ljust(width))
        sys.stderr.flush()
        width, i = len(text), i + 1
    sys.stderr.write("\r" + " " * width + "\r")
    sys.stderr.flush()


def _tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _interactive() -> bool:
    try:
        return sys.stderr.isatty() and logging.getLogger("seqlab").isEnabledFor(logging.INFO)
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def phase(name: str, total: int | None = None, show_after: float = SHOW_AFTER_S, show: bool | None = None):
    """Time the block as phase ``name``; see the module docstring. ``show``: force the spinner on a
    terminal (True) or off (False); None = when stderr is a terminal and seqlab logs at INFO."""
    p = Phase(name, total)
    stop = threading.Event()
    spinner = None
    if _interactive() if show is None else (show and _tty()):
        spinner = threading.Thread(target=_spinner, args=(p, stop, show_after), daemon=True)
        spinner.start()
    failed = False
    try:
        yield p
    except BaseException:
        failed = True
        raise
    finally:
        stop.set()
        if spinner is not None:
            spinner.join(timeout=1.0)
        dt = p.elapsed
        with _lock:
            _times[name] = _times.get(name, 0.0) + dt
        log.info("phase %s: %.2f s%s", name, dt, " (failed)" if failed else "")


def phase_times(reset: bool = False) -> dict[str, float]:
    """Seconds spent per phase name since the process started (or the last reset), rounded to 0.01 s."""
    with _lock:
        out = {k: round(v, 2) for k, v in _times.items()}
        if reset:
            _times.clear()
    return out

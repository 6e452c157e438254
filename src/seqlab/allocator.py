"""Run the ``seqlab`` command under another memory allocator (``SEQLAB_ALLOCATOR=tcmalloc|jemalloc``).

glibc's malloc serves every allocation over 32 MiB with a fresh ``mmap`` and unmaps it on free (that limit is
the most ``M_MMAP_THRESHOLD`` may be set to), so a training step whose logits, gradients or attention scores pass
it gets new zero-filled pages, one page fault per 4 KiB, every step; smaller blocks stay in heaps that fragment
over varying batch shapes. tcmalloc and jemalloc keep freed memory in size classes for reuse. PyTorch's CPU
performance guide recommends them, and PyTorch's own CPU launcher (``python -m torch.backends.xeon.run_cpu``)
preloads them the same way: ``LD_PRELOAD`` has to be set before the process starts, so the command starts itself
again, once, with the same command line.

``SEQLAB_ALLOCATOR``: ``auto`` (the default: tcmalloc where its library is installed, else glibc's), ``tcmalloc``
(Debian/Ubuntu: ``apt-get install libtcmalloc-minimal4``), ``jemalloc`` (``libjemalloc2``) or ``system``
(glibc's); a library named but not found is an error that says what to install. Measured (RESULTS.md #18, two
cores): tcmalloc gave 1.00-1.17x the tokens/s with 13% less peak memory on the Multi30k recipe, 1.09-1.11x with
8% less on the default GPT, 1.30-1.36x with 43% less on SAMSum; jemalloc 8-17% less memory but 0.61-0.96x the
speed, so it is opt-in. An
allocator already in ``LD_PRELOAD`` is left as it is. Linux only; elsewhere nothing happens. Only the
command-line entry points (``seqlab``, ``python -m seqlab``) call :func:`reexec`; importing seqlab changes
nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "SEQLAB_ALLOCATOR"
LIBRARIES = {"tcmalloc": ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4"), "jemalloc": ("libjemalloc.so.2",)}
PACKAGES = {"tcmalloc": "libtcmalloc-minimal4", "jemalloc": "libjemalloc2"}
CHOICES = ("auto", "system", *LIBRARIES)
AUTO = "tcmalloc"  # what auto picks when its library is installed
_DONE = "_SEQLAB_ALLOCATOR_DONE"  # set in the restarted process: never restart twice


def search_dirs() -> list[Path]:
    """Where Debian/Ubuntu, Fedora, Homebrew-on-Linux and conda put the libraries."""
    return [Path(sys.prefix) / "lib", Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib/aarch64-linux-gnu"),
            Path("/usr/lib64"), Path("/usr/lib"), Path("/usr/local/lib"), Path("/home/linuxbrew/.linuxbrew/lib")]


def find(name: str) -> str | None:
    """The path of allocator ``name``'s shared library, or None."""
    for d in search_dirs():
        for lib in LIBRARIES[name]:
            if (d / lib).is_file():
                return str(d / lib)
    return None


def choice() -> str:
    """``SEQLAB_ALLOCATOR``, checked; raises ValueError with the one-line reason when it is not a choice."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{ENV} must be one of {', '.join(CHOICES)}; got {os.environ[ENV]!r} "
                         f"(unset it for the default, auto)")
    return value


def in_use() -> str:
    """The allocator this process runs: ``tcmalloc`` or ``jemalloc`` when its library is mapped, else ``system``."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return "system"
    return next((name for name in LIBRARIES if f"lib{name}" in maps), "system")


def reexec() -> None:
    """Start this command again under the allocator ``SEQLAB_ALLOCATOR`` names (same interpreter, same command
    line, ``LD_PRELOAD`` extended) when it is not in use yet; return otherwise. Raises ValueError for a bad
    ``SEQLAB_ALLOCATOR`` or a library that is not installed."""
    want = choice()
    if want == "system" or not sys.platform.startswith("linux") or os.environ.get(_DONE):
        return
    preload = os.environ.get("LD_PRELOAD", "")
    if "malloc" in preload or in_use() != "system":
        return  # an allocator is preloaded already (this one, or the user's own): theirs
    lib = find(AUTO if want == "auto" else want)
    if lib is None:
        if want == "auto":
            return
        raise ValueError(f"{ENV}={want} but {' or '.join(LIBRARIES[want])} is in none of "
                         f"{', '.join(str(d) for d in search_dirs())}; install it (Debian/Ubuntu: apt-get install "
                         f"{PACKAGES[want]}) or unset {ENV}")
    env = dict(os.environ, LD_PRELOAD=f"{lib}:{preload}" if preload else lib, **{_DONE: "1"})
    env.setdefault("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", str(1 << 60))  # no stderr line per allocation over 1 GiB
    argv = [sys.executable, *(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])[1:]]  # the same line
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError:
        return  # could not start again: run on as we are

"""Compile seqlab's C kernels on first use; cached per source, compiler, flags and CPU.

A kernel is one C file in this package, compiled with the system C compiler (``$CC``, else ``cc``) for the
CPU it runs on (``-march=native``) into ``<cache>/native/<name>-<hash>.so`` (cache: ``$SEQLAB_CACHE`` or
``~/.cache/seqlab``). The hash covers the source and the package's headers, the compiler's version, the
flags and the CPU's feature flags, so an edited source, another compiler or another machine builds afresh. Each build goes to a
temporary file renamed into place, so concurrent processes never load a half-written library.

No compiler, a failed compile, or ``SEQLAB_NATIVE=0`` in the environment: :func:`load` returns None, says
why once in the log, and callers use their PyTorch path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..paths import cache_dir

logger = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).parent
FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-fno-math-errno", "-pthread", "-fPIC", "-shared")


def native_enabled() -> bool:
    return os.environ.get("SEQLAB_NATIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _compiler() -> tuple[str, str] | None:
    cc = os.environ.get("CC") or "cc"
    path = shutil.which(cc)
    if path is None:
        return None
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return path, version.splitlines()[0] if version else ""


def library_path(name: str, defines: tuple[str, ...] = (), cc: tuple[str, str] | None = None) -> Path | None:
    """Where the compiled ``name`` (with ``-D`` ``defines``) lives in the cache; None without a compiler.
    ``cc``: the compiler's (path, version) when already known."""
    cc = cc or _compiler()
    if cc is None:
        return None
    source = b"".join([(SOURCE_DIR / f"{name}.c").read_bytes()]  # the kernel and the headers it may include
                      + [h.read_bytes() for h in sorted(SOURCE_DIR.glob("*.h"))])
    key = hashlib.sha256(b"\0".join([source, cc[0].encode(), cc[1].encode(), " ".join(FLAGS + defines).encode(),
                                     _cpu_flags().encode()])).hexdigest()[:16]
    return cache_dir() / "native" / f"{name}-{key}.so"


def _build(cc: str, name: str, defines: tuple[str, ...], out: Path) -> str | None:
    """Compile with ``cc`` into ``out``; returns None on success, else the reason. A compiler that rejects
    ``-march=native`` (some on ARM) gets a second try without it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}-", suffix=".so", dir=out.parent)
    os.close(fd)
    why = None
    try:
        for flags in (FLAGS, tuple(f for f in FLAGS if f != "-march=native")):
            cmd = [cc, *flags, *(f"-D{d}" for d in defines), str(SOURCE_DIR / f"{name}.c"), "-o", tmp, "-lm"]
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.SubprocessError) as e:
                return f"`{' '.join(cmd)}` failed: {e}"
            if r.returncode == 0:
                os.replace(tmp, out)
                return None
            why = why or f"`{' '.join(cmd)}` failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}"
        return why
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.lru_cache(maxsize=None)
def load(name: str, defines: tuple[str, ...] = ()) -> ctypes.CDLL | None:
    """The compiled kernel library ``name`` (``-D`` each of ``defines``), built on first use; None (and a
    log line saying why) when it cannot be had here."""
    if not native_enabled():
        logger.info("native kernel %s: off (SEQLAB_NATIVE=0)", name)
        return None
    cc = _compiler()
    if cc is None:
        logger.info("native kernel %s: no C compiler (set CC or install cc); using PyTorch", name)
        return None
    path = library_path(name, defines, cc)
    if not path.exists():
        why = _build(cc[0], name, defines, path)
        if why is not None:
            logger.warning("native kernel %s not built, using PyTorch: %s", name, why)
            return None
    try:
        return ctypes.CDLL(str(path))
    except OSError as e:
        logger.warning("native kernel %s not loaded, using PyTorch: %s", name, e)
        return None

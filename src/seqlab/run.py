"""The run directory: everything ``seqlab train`` writes and ``seqlab.load`` reads back.

Layout (see docs/design.md)::

    RUN/.seqlab-run  config.json  meta.json  tokenizer*.json  model.safetensors
        state.safetensors  metrics.jsonl  summary.json  curves.png

Every file is written atomically (a temporary file in the same folder, then ``os.replace``), so an
interrupted write never leaves a half file that a later ``--resume`` or ``load`` would trip on; the
file gets the mode the umask allows, like any other file the user creates.

``.seqlab-run`` marks the folder as a seqlab run and lists the files seqlab wrote into it (the
manifest). ``--overwrite`` replaces only a folder recognised as a run (that marker, or a
``config.json`` naming a task, for runs written before the marker existed) and deletes only the
files in the manifest or with the names seqlab gives its files; anything else is left alone, and a
non-empty folder that is not a run is refused. The old run is only set aside (``.seqlab-replaced/``)
until the new one saves its first model, and put back if it fails before that. The resume state (``state.safetensors``) holds
tensors and JSON, never pickle (see :mod:`seqlab.statefile`).

In a run of several processes (torchrun) only rank 0 writes: on the other ranks ``write_json``,
``append_jsonl`` and ``save_weights`` do nothing, and ``create`` checks and clears the folder on rank 0
while the others wait for its verdict. The folder must be one that every rank can read (a shared
filesystem on several machines).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from . import statefile
from .errors import UserError
from .train import distributed

log = logging.getLogger(__name__)
LOAD_CHUNK_BYTES = 32 << 20  # Run.load_weights_into reads at most this much of a tensor per mapping
MARKER = ".seqlab-run"
REPLACED = ".seqlab-replaced"  # where --overwrite keeps the old run until the new one has a model
_REPLACING: dict[Path, "RunDir"] = {}  # runs whose old files wait in REPLACED, by resolved path
# the names seqlab gives the files of a run: what --overwrite may delete in a run without a manifest
RUN_FILES = {
    MARKER, "config.json", "meta.json", "tokenizer.json", "tokenizer.src.json", "tokenizer.tgt.json",
    "model.safetensors", "last.safetensors", "ema.safetensors", "state.safetensors", "state.pt",
    "metrics.jsonl", "summary.json", "best_metrics.json", "test_metrics.json", "curves.png",
    "confusion.png", "bleu_by_length.png", "forecast_test.png", "attention.png", "forecast.png",
}


def _unreadable(p: Path, e: Exception) -> UserError:
    return UserError(f"{p}: not a readable safetensors file ({type(e).__name__}: {str(e)[:120]}); the run is "
                     "damaged: train it again, or restore the file from a copy")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, write) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except FileNotFoundError:
        raise UserError(f"{path}: the folder {path.parent} does not exist") from None
    except OSError as e:  # permission denied, a read-only disk
        raise UserError(f"{path}: cannot write into {path.parent} ({e.strerror or type(e).__name__}); "
                        "choose a folder you can write to") from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the user's usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def is_run_folder(p: Path) -> bool:
    """Whether ``p`` holds a seqlab run: the marker file, or a config.json naming a task."""
    if (p / MARKER).is_file():
        return True
    cfg = p / "config.json"
    if not cfg.is_file():
        return False
    try:
        obj = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(obj, dict) and isinstance(obj.get("task"), str)


def _listing(p: Path, limit: int = 6) -> str:
    names = sorted(f.name + ("/" if f.is_dir() else "") for f in p.iterdir())
    more = f", ... ({len(names)} entries)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


class RunDir:
    """A folder holding one training run."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._manifest: set[str] | None = None  # names written, once the marker is known to exist

    # ---- creation ----
    @classmethod
    def create(cls, path: str | Path, overwrite: bool = False, resume: bool = False) -> "RunDir":
        return distributed.on_main(lambda: cls._create(path, overwrite, resume))

    @classmethod
    def _create(cls, path: str | Path, overwrite: bool, resume: bool) -> "RunDir":
        p = Path(path)
        if p.exists() and not p.is_dir():
            raise UserError(f"--out {p}: exists and is a file; choose a folder name")
        if resume:
            if not (p / "config.json").is_file():
                raise UserError(f"--resume: {p} holds no run to resume (no config.json); drop --resume to start one")
            return cls(p)
        try:
            if p.is_dir() and any(p.iterdir()):
                if not overwrite:
                    raise UserError(f"--out {p}: folder exists and is not empty; use --overwrite to replace it, --resume to continue it, or another --out")
                if not is_run_folder(p):
                    raise UserError(
                        f"--out {p}: --overwrite only replaces a seqlab run, and this folder is not one (no {MARKER} "
                        f"or config.json with a task); found: {_listing(p)}; choose another --out, or empty the folder yourself")
                backup = cls._clear(p)
            else:
                backup = None
            p.mkdir(parents=True, exist_ok=True)
            run = cls(p)
            run._write_marker(set())
            if backup is not None:
                _REPLACING[p.resolve()] = run
        except OSError as e:  # permission denied, a read-only disk, a parent that is a file
            raise UserError(f"--out {p}: cannot write there ({e.strerror or type(e).__name__}: {e.filename or p}); "
                            "choose a folder you can write to") from None
        return run

    @staticmethod
    def _seqlab_files(p: Path) -> list[Path]:
        """The files in run folder ``p`` that seqlab wrote: its manifest, else the names of run files."""
        names = set(RUN_FILES)
        try:
            names |= set(json.loads((p / MARKER).read_text(encoding="utf-8")).get("files", []))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError):
            pass
        return [f for f in p.iterdir() if f.name in names and "/" not in f.name and (f.is_file() or f.is_symlink())]

    @classmethod
    def _clear(cls, p: Path) -> Path:
        """Set the old run in ``p`` aside in ``p/.seqlab-replaced/``; returns that folder.

        The old files are deleted only once the new run saves its first model (see
        :meth:`save_weights`); until then :func:`restore_replaced` puts them back, which the CLI does
        when the new run fails before that (a bad flag, a crash, Ctrl-C).
        """
        backup = p / REPLACED
        files = cls._seqlab_files(p)
        if backup.is_dir():  # an earlier --overwrite never got to its first model: the backup is the last good run
            for f in files:
                f.unlink()
        else:
            backup.mkdir()
            for f in files:
                os.replace(f, backup / f.name)
        kept = sorted(f.name for f in p.iterdir() if f.name != REPLACED and not f.name.startswith(f".{MARKER}"))
        if kept:
            log.info("--overwrite: kept %d file(s) seqlab did not write: %s", len(kept), ", ".join(kept[:8]))
        return backup

    def _write_marker(self, files: set[str]) -> None:
        from . import __version__

        body = {"seqlab": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": sorted(files)}
        _atomic_write(self.path / MARKER, lambda tmp: Path(tmp).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8"))
        self._manifest = set(files)

    def _register(self, name: str) -> None:
        """Add ``name`` to the manifest of files seqlab wrote (no-op for runs without a marker)."""
        if self._manifest is None:
            marker = self.path / MARKER
            if not marker.is_file():
                return
            try:
                self._manifest = set(json.loads(marker.read_text(encoding="utf-8")).get("files", []))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError):
                self._manifest = set()
        if name in self._manifest:
            return
        try:
            body = json.loads((self.path / MARKER).read_text(encoding="utf-8"))
            body["files"] = sorted(self._manifest | {name})
            _atomic_write(self.path / MARKER, lambda tmp: Path(tmp).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8"))
            self._manifest.add(name)
        except (OSError, UserError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, TypeError):
            pass  # a read-only run folder: nothing is written there anyway

    def restore_replaced(self) -> bool:
        """Put back the run that --overwrite set aside (the new one never saved a model); True if it did."""
        backup = self.path / REPLACED
        _REPLACING.pop(self.path.resolve(), None)
        if not backup.is_dir() or (self.path / "model.safetensors").is_file():
            return False
        for f in self._seqlab_files(self.path):
            f.unlink()
        for f in backup.iterdir():
            os.replace(f, self.path / f.name)
        backup.rmdir()
        log.warning("%s: the new run stopped before saving a model; the previous run is back in place", self.path)
        return True

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        p = Path(path)
        if not p.is_dir():
            raise UserError(f"{p}: no such run directory; expected the --out folder of `seqlab train`")
        if not (p / "config.json").is_file():
            raise UserError(f"{p}: not a seqlab run (no config.json); expected the --out folder of `seqlab train`")
        if not (p / "model.safetensors").is_file():
            if (p / REPLACED).is_dir():
                raise UserError(f"{p}: an --overwrite stopped before the new run saved a model; the previous run is in "
                                f"{p / REPLACED}: move its files back into {p} to use it")
            raise UserError(f"{p}: the run has no model.safetensors yet; did training finish its first evaluation?")
        return cls(p)

    def file(self, name: str) -> Path:
        """The path of run file ``name``; the name joins the run's manifest (files --overwrite may replace)."""
        self._register(name)
        return self.path / name

    # ---- JSON ----
    def write_json(self, name: str, obj: Any) -> None:
        if not distributed.is_main():
            return
        text = json.dumps(obj, indent=2, ensure_ascii=False, default=_jsonable)
        _atomic_write(self.file(name), lambda tmp: Path(tmp).write_text(text + "\n", encoding="utf-8"))

    def read_json(self, name: str) -> Any:
        p = self.path / name
        if not p.is_file():
            raise UserError(f"{self.path}: missing {name}; the run directory is incomplete")
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"{p}: not valid JSON ({e.msg}); the run directory is damaged") from None
        except UnicodeDecodeError:
            raise UserError(f"{p}: not UTF-8 text; the run directory is damaged") from None

    def append_jsonl(self, name: str, obj: dict) -> None:
        if not distributed.is_main():
            return
        with open(self.file(name), "a", encoding="utf-8") as f:
            f.write(json.dumps(obj, ensure_ascii=False, default=_jsonable) + "\n")

    def truncate_jsonl(self, name: str, keep) -> None:
        """Rewrite run file ``name`` (JSON lines) with only the records for which ``keep(record)`` is true."""
        p = self.path / name
        if not distributed.is_main() or not p.is_file():
            return
        lines = p.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() and keep(json.loads(line))]
        if len(kept) != len(lines):
            _atomic_write(self.file(name), lambda tmp: Path(tmp).write_text("".join(x + "\n" for x in kept), encoding="utf-8"))

    # ---- tensors ----
    def save_weights(self, name: str, state: dict[str, torch.Tensor]) -> None:
        if not distributed.is_main():
            return
        # safetensors refuses shared storage (tied embeddings): store contiguous copies
        seen, clean = {}, {}
        for k, v in state.items():
            key = (v.data_ptr(), v.shape, v.stride())
            clean[k] = v.detach().clone().contiguous() if key in seen else v.detach().contiguous()
            seen[key] = k
        _atomic_write(self.file(name), lambda tmp: save_file(clean, tmp))
        if name == "model.safetensors":
            self._commit_replacement()

    def _commit_replacement(self) -> None:
        """The new run has a model: the old run set aside by --overwrite can go."""
        if _REPLACING.pop(self.path.resolve(), None) is not None or (self.path / REPLACED).is_dir():
            shutil.rmtree(self.path / REPLACED, ignore_errors=True)

    def load_weights(self, name: str = "model.safetensors") -> dict[str, torch.Tensor]:
        p = self.path / name
        if not p.is_file():
            raise UserError(f"{self.path}: missing {name}")
        try:
            return load_file(str(p))
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for a damaged file
            raise _unreadable(p, e) from None

    def load_weights_into(self, module: torch.nn.Module, name: str = "model.safetensors") -> None:
        """Copy ``name``'s tensors into ``module``'s parameters and buffers, strictly (every key and shape must
        match, as ``load_state_dict`` checks), a slice of at most LOAD_CHUNK_BYTES at a time: the file is
        never in memory whole beside the model, so loading peaks near the model's own size instead of
        twice it (safetensors maps the file, and mapped pages count as resident until it is closed, so
        each slice is read through its own short-lived mapping)."""
        p = self.path / name
        if not p.is_file():
            raise UserError(f"{self.path}: missing {name}")

        def misfit(what: str) -> UserError:
            return UserError(f"{self.path}: {name} does not fit the model config.json describes ({what[:200]}); the "
                             "weights and config.json come from different runs, or one was edited")

        try:
            with safe_open(str(p), framework="pt") as f:
                shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for a damaged file
            raise _unreadable(p, e) from None
        target = module.state_dict(keep_vars=True)
        missing, unexpected = [k for k in target if k not in shapes], [k for k in shapes if k not in target]
        if missing or unexpected:
            raise misfit("; ".join(f"{what} key(s): {', '.join(repr(k) for k in keys[:3])}"
                                   for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys))
        for k, shape in shapes.items():
            dst = target[k]
            if tuple(dst.shape) != shape:
                raise misfit(f"size mismatch for {k}: the file holds shape {list(shape)}, the model {list(dst.shape)}")
        with torch.no_grad():
            for k, shape in shapes.items():
                dst = target[k]
                row = max(1, dst[0].numel() * dst.element_size()) if dst.dim() else 1
                step = max(1, LOAD_CHUNK_BYTES // row)
                for a in range(0, shape[0] if shape else 1, step):
                    try:
                        with safe_open(str(p), framework="pt") as f:
                            part = f.get_slice(k)[a:a + step] if shape else f.get_tensor(k)
                    except Exception as e:  # noqa: BLE001
                        raise _unreadable(p, e) from None
                    (dst[a:a + step] if shape else dst).copy_(part)

    def save_state(self, state: dict) -> None:
        """The resume state: tensors in safetensors, the rest as JSON in its header (no pickle)."""
        _atomic_write(self.file("state.safetensors"), lambda tmp: statefile.save(tmp, state))

    def load_state(self) -> dict | None:
        """The state saved by :meth:`save_state`, or None when the run has none.

        A ``state.pt`` (a pickle, written by older seqlab versions) is never opened: unpickling a file
        can run any code it names.
        """
        p = self.path / "state.safetensors"
        if p.is_file():
            return statefile.load(p)
        if (self.path / "state.pt").is_file():
            raise UserError(
                f"{self.path}: this run was written by an older seqlab; its resume state (state.pt, a pickle) "
                "cannot be read safely, so it is not opened; start a new run (another --out, or --overwrite), "
                "or use the trained model as it is (predict/evaluate still work)")
        return None


def restore_replaced() -> list[Path]:
    """Restore every run this process set aside with --overwrite whose replacement never saved a model.

    The CLI calls this when a command fails or is interrupted; it also runs at interpreter exit.
    """
    done = []
    for path, run in list(_REPLACING.items()):
        try:
            if run.restore_replaced():
                done.append(path)
        except OSError as e:
            log.warning("%s: could not put the previous run back (%s); its files are in %s", path, e, path / REPLACED)
    return done


atexit.register(restore_replaced)


def _jsonable(o):
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")

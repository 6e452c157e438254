"""Resume state without pickle: tensors in a safetensors file, everything else as JSON in its header.

``--resume`` needs the optimizer's moments, the step counters and every random generator's state.
Pickle (``torch.load(weights_only=False)``) would store all of that in one call, and would also run
whatever code a crafted file asks for. Here a nested state of dicts, lists, tuples, numbers,
strings, numpy arrays and tensors is split in two:

- every tensor goes into the safetensors file under a generated key (``t0``, ``t1``, ...);
- the rest becomes one JSON document, stored as the safetensors header's ``seqlab_state``
  metadata, in which a tensor is ``{"__tensor__": "t0"}``, a tuple ``{"__tuple__": [...]}``, a
  dict with non-string keys (the optimizer's ``{0: {...}}``) ``{"__items__": [[key, value], ...]}``
  and a numpy array ``{"__ndarray__": [...], "dtype": "uint32"}``.

Reading it back only ever builds those plain types (numpy dtypes from a short allow-list): one file,
written atomically by the caller, that nothing can make execute code. Floats survive JSON exactly
(``repr`` round-trips), including inf and nan.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .errors import UserError

KEY = "seqlab_state"
_NP_DTYPES = {"uint32", "uint8", "int64", "int32", "float64", "float32", "bool"}


def encode(obj: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """``obj`` as a JSON-able tree plus the tensors it referred to."""
    tensors: dict[str, torch.Tensor] = {}

    seen: dict[tuple, str] = {}  # one key per tensor view (tied weights appear twice in a state_dict)
    storages: set[int] = set()

    def enc(o):
        if isinstance(o, torch.Tensor):
            view = (o.untyped_storage().data_ptr(), o.storage_offset(), tuple(o.shape), o.stride(), o.dtype, o.device)
            if view in seen:
                return {"__tensor__": seen[view]}
            key = seen[view] = f"t{len(tensors)}"
            t = o.detach().to("cpu").contiguous()
            if t.untyped_storage().data_ptr() in storages:  # safetensors refuses two keys over one storage
                t = t.clone()
            storages.add(t.untyped_storage().data_ptr())
            tensors[key] = t
            return {"__tensor__": key}
        if isinstance(o, np.ndarray):
            if o.dtype.name not in _NP_DTYPES:
                raise TypeError(f"resume state: numpy dtype {o.dtype} is not storable")
            return {"__ndarray__": o.tolist(), "dtype": o.dtype.name}
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in o):
                return {k: enc(v) for k, v in o.items()}
            return {"__items__": [[enc(k), enc(v)] for k, v in o.items()]}
        if isinstance(o, tuple):
            return {"__tuple__": [enc(v) for v in o]}
        if isinstance(o, list):
            return [enc(v) for v in o]
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        raise TypeError(f"resume state: cannot store a {type(o).__name__}")

    return enc(obj), tensors


def decode(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`encode`; builds only dicts, lists, tuples, scalars, arrays and tensors."""

    def dec(o):
        if isinstance(o, list):
            return [dec(v) for v in o]
        if not isinstance(o, dict):
            return o
        if "__tensor__" in o:
            return tensors[o["__tensor__"]]
        if "__tuple__" in o:
            return tuple(dec(v) for v in o["__tuple__"])
        if "__items__" in o:
            return {_hashable(dec(k)): dec(v) for k, v in o["__items__"]}
        if "__ndarray__" in o:
            if o.get("dtype") not in _NP_DTYPES:
                raise ValueError(f"numpy dtype {o.get('dtype')!r} is not allowed")
            return np.asarray(o["__ndarray__"], dtype=o["dtype"])
        return {k: dec(v) for k, v in o.items()}

    return dec(tree)


def _hashable(k):
    return tuple(k) if isinstance(k, list) else k


def save(path: str | Path, state: dict) -> None:
    """Write ``state`` to ``path`` (a safetensors file; the caller makes it atomic)."""
    tree, tensors = encode(state)
    save_file(tensors, str(path), metadata={KEY: json.dumps(tree, allow_nan=True)})


def load(path: str | Path) -> dict:
    """Read a state written by :func:`save`; a damaged file is a UserError."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if KEY not in meta:
            raise ValueError(f"no {KEY} entry in its header")
        return decode(json.loads(meta[KEY]), tensors)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types
        raise UserError(f"{path}: the resume state is damaged ({type(e).__name__}: {e}); "
                        "start a new run, or load the trained model (model.safetensors) without --resume") from None

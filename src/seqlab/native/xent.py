"""ctypes binding of xent.c: label-smoothed cross-entropy rows, forward and backward, fp32 or bf16 logits.

:func:`available` says whether the kernel could be built here; seqlab/train/xent.py uses it when it is and
its PyTorch slices otherwise (the same numbers to float rounding: tests/test_xent.py)."""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from .build import load

_P, _I64, _F = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float


def _library():
    lib = load("xent")
    if lib is not None and not hasattr(lib, "_seqlab_typed"):
        lib.seqlab_xent_forward.argtypes = [_P, ctypes.c_int, _I64, _I64, _I64, _P, _F, _P, _P, _P, ctypes.c_int]
        lib.seqlab_xent_backward.argtypes = [_P, ctypes.c_int, _I64, _I64, _I64, _P, _F, _P, _P, _P, _P, ctypes.c_int]
        lib.seqlab_xent_forward.restype = lib.seqlab_xent_backward.restype = ctypes.c_int
        lib._seqlab_typed = True
    return lib


def takes(logits: Tensor) -> bool:
    """Whether the kernel can run these logits (N, V): on the CPU, fp32 or bf16, columns contiguous, and built."""
    return (logits.device.type == "cpu" and logits.dtype in (torch.float32, torch.bfloat16)
            and logits.dim() == 2 and (logits.stride(1) == 1 or logits.shape[1] == 1) and _library() is not None)


def _args(logits: Tensor, target: Tensor):
    threads = max(1, torch.get_num_threads())
    scratch = torch.empty(threads * logits.shape[1] if logits.dtype == torch.bfloat16 else 1, dtype=torch.float32)
    return (logits.data_ptr(), int(logits.dtype == torch.bfloat16), logits.shape[0], logits.shape[1], logits.stride(0),
            target.data_ptr()), scratch, threads


def forward(logits: Tensor, target: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """(lse, loss), each fp32 (N,), for logits (N, V) and target (N,) int64 contiguous, every target in [0, V)."""
    head, scratch, threads = _args(logits, target)
    lse = torch.empty(logits.shape[0], dtype=torch.float32)
    loss = torch.empty(logits.shape[0], dtype=torch.float32)
    _library().seqlab_xent_forward(*head, eps, lse.data_ptr(), loss.data_ptr(), scratch.data_ptr(), threads)
    return lse, loss


def backward(logits: Tensor, target: Tensor, eps: float, lse: Tensor, w: Tensor) -> Tensor:
    """The gradient (N, V) in the logits' dtype for per-row weights ``w`` fp32 (N,) (0 = the row is ignored)."""
    head, scratch, threads = _args(logits, target)
    grad = torch.empty(logits.shape, dtype=logits.dtype)
    _library().seqlab_xent_backward(*head, eps, lse.data_ptr(), w.contiguous().data_ptr(), grad.data_ptr(),
                                    scratch.data_ptr(), threads)
    return grad

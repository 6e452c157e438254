"""Forecasters to ONNX: ``model.onnx``, x (B, L, C) float32 scaled -> y (B, H, C_target) float32 scaled.

Every forecast model but the baselines (which need no graph: they copy the input) is traced once with
a fixed lookback L and horizon H (the run's) and a dynamic batch. The scaler (per-channel mean and
std fitted on the training rows) sits in the manifest: inputs are ``(v - mean) / std`` and outputs are
turned back with ``y * std + mean`` over the first C_target channels, as ``seqlab.load(run).forecast``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from ..errors import UserError
from .common import base_manifest, io, onnx_export, quantize, write_manifest

BASELINES = ("naive", "seasonal_naive")


def check_exportable(loaded) -> None:
    name = loaded.config.get("model_name")
    if name in BASELINES:
        raise UserError(f"model {name} is a baseline: it copies the last observed values and has no weights, so "
                        "there is nothing to export (ONNX export covers the trained forecast models)")


def export(loaded, out: Path, precision: str = "fp32") -> dict:
    """Write ``model.onnx`` and the manifest (with the scaler and columns); returns the manifest."""
    module = copy.deepcopy(loaded.module).cpu().float().eval()
    data = loaded.config["data"]
    meta = base_manifest(loaded, precision)["meta"]
    L, H = int(data["lookback"]), int(data["horizon"])
    C, n_t = len(meta["columns"]), int(meta["n_targets"])
    inputs = [io("x", ["batch", L, C], "float32", "the last L rows of every column, scaled: (v - mean) / std")]
    outputs = [io("y", ["batch", H, n_t], "float32", "the next H rows of the target columns, scaled")]
    x = torch.randn(2, L, C)
    onnx_export(module, (x,), out / "model.onnx", inputs, outputs, {"x": {0: "batch"}, "y": {0: "batch"}})
    if precision == "int8":
        quantize(out / "model.onnx")
    manifest = base_manifest(loaded, precision)
    manifest["graphs"]["model"] = {"file": "model.onnx", "inputs": inputs, "outputs": outputs}
    manifest["tokenizers"] = {}
    manifest["forecast"] = {"lookback": L, "horizon": H, "columns": meta["columns"], "targets": meta["targets"],
                            "n_targets": n_t, "scaler": meta["scaler"], "freq": meta.get("freq")}
    (out / "scaler.json").write_text(json.dumps(meta["scaler"]) + "\n", encoding="utf-8")
    write_manifest(out, manifest)
    return manifest

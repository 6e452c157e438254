"""Export a trained run to formats that run without seqlab: ONNX (``seqlab.onnx.load`` or any ONNX
Runtime) and the Hugging Face layout (``transformers.AutoModel*.from_pretrained``).

    export_run(run_dir, "onnx", out_dir, precision="fp32" | "int8", overwrite=False) -> manifest dict

One small module per concern: ``onnx_classify``, ``onnx_forecast``, ``onnx_seq2seq``, ``onnx_lm`` and
``hf``; ``common`` holds the folder, manifest and exporter helpers.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .common import MANIFEST

FORMATS = ("onnx", "hf")
PRECISIONS = ("fp32", "int8")

# task -> module name under seqlab.export, for --format onnx
ONNX_EXPORTERS = {"classify": "onnx_classify", "forecast": "onnx_forecast", "seq2seq": "onnx_seq2seq", "lm": "onnx_lm"}


def export_run(run_dir, fmt: str, out, precision: str = "fp32", overwrite: bool = False) -> dict:
    """Export the run in ``run_dir`` to ``out``; returns the manifest (ONNX) or a summary (HF)."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    if precision not in PRECISIONS:
        raise UserError(f"--precision {precision}: expected one of {', '.join(PRECISIONS)}")
    import importlib

    from .. import load
    from .common import prepare_out

    loaded = load(run_dir, device="cpu")
    if fmt == "hf":
        from . import hf

        if precision != "fp32":
            raise UserError("--precision int8 applies to ONNX exports; the Hugging Face format holds fp32 weights")
        hf.check_exportable(loaded)
        return hf.export(loaded, prepare_out(out, overwrite))
    mod = ONNX_EXPORTERS.get(loaded.task)
    if mod is None:
        raise UserError(f"{run_dir}: a {loaded.task} run has no ONNX export (ONNX covers classify, forecast, seq2seq "
                        f"and lm runs; an mlm run exports to Hugging Face's BertForMaskedLM with --format hf)")
    exporter = importlib.import_module(f"{__name__}.{mod}")
    exporter.check_exportable(loaded)
    return exporter.export(loaded, prepare_out(out, overwrite), precision)


__all__ = ["export_run", "FORMATS", "PRECISIONS", "MANIFEST"]

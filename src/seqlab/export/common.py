"""What every exporter shares: the output folder, the manifest, the tokenizer files, torch.onnx.export.

An export folder holds the graph(s), the run's tokenizer file(s) copied as they are, and
``seqlab_export.json``, the manifest that names every graph input and output (shape, dtype, meaning)
and carries the run's task, model, config and whatever the loader needs (labels, scaler, lengths).
The manifest is how ``seqlab.onnx.load`` reads a folder and how ``--overwrite`` recognises one.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from ..errors import UserError

log = logging.getLogger(__name__)

MANIFEST = "seqlab_export.json"
OPSET = 17  # ONNX opset of every graph (LayerNormalization needs >= 17)


def prepare_out(out: str | Path, overwrite: bool) -> Path:
    """Create ``out`` (empty) or clear an earlier seqlab export there with ``overwrite``.

    A non-empty folder that is not a seqlab export (no seqlab_export.json) is never touched."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is a file; expected a folder for the export")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"--out {out}: folder exists and is not empty; use --overwrite to replace an earlier "
                            "export there, or choose another --out")
        if not (out / MANIFEST).is_file():
            raise UserError(f"--out {out}: folder is not empty and holds no {MANIFEST}, so it is not a seqlab "
                            "export; --overwrite only replaces an earlier export (choose another --out)")
        for f in out.iterdir():
            if f.is_dir():
                shutil.rmtree(f)
            else:
                f.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_manifest(out: Path, manifest: dict) -> None:
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def copy_tokenizers(run_path: Path, out: Path) -> dict[str, str]:
    """Copy tokenizer*.json from the run; returns {role: file} (role tokenizer | src | tgt)."""
    files = {}
    for name, role in (("tokenizer.json", "tokenizer"), ("tokenizer.src.json", "src"), ("tokenizer.tgt.json", "tgt")):
        if (run_path / name).is_file():
            shutil.copyfile(run_path / name, out / name)
            files[role] = name
    return files


def io(name: str, shape: list, dtype: str, meaning: str) -> dict:
    """One graph input or output as the manifest describes it."""
    return {"name": name, "shape": shape, "dtype": dtype, "meaning": meaning}


def base_manifest(loaded, precision: str) -> dict:
    from .. import __version__

    meta_path = Path(loaded.path) / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return {"format": "onnx", "seqlab_version": __version__, "task": loaded.task,
            "model_name": loaded.config.get("model_name"), "precision": precision, "run": str(Path(loaded.path).resolve()),
            "config": loaded.config, "meta": meta, "graphs": {}}


def onnx_export(module, args: tuple, path: Path, inputs: list[dict], outputs: list[dict], dynamic: dict) -> None:
    """``torch.onnx.export`` with the TorchScript exporter (``dynamo=False``): it keeps dynamic batch and
    length axes through recurrent layers, packed sequences included, which the dynamo exporter does not."""
    import warnings

    import torch

    names_in = [x["name"] for x in inputs]
    names_out = [x["name"] for x in outputs]
    axes = {n: dynamic[n] for n in names_in + names_out if n in dynamic}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # torch.nn.TransformerEncoderLayer's eval fast path is one fused op ONNX does not have: trace the plain ops
    torch.backends.mha.set_fastpath_enabled(False)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, args, str(path), dynamo=False, input_names=names_in, output_names=names_out,
                              dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True)
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)
    import onnx

    kept = {i.name for i in onnx.load(str(path), load_external_data=False).graph.input}
    inputs[:] = [x for x in inputs if x["name"] in kept]  # the manifest lists the inputs the graph reads


def quantize(path: Path) -> None:
    """Replace the fp32 graph at ``path`` by its int8 dynamic quantization (weights int8, activations
    quantized per batch at run time: onnxruntime's ``quantize_dynamic``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_suffix(".int8.onnx")
    quantize_dynamic(str(path), str(tmp), weight_type=QuantType.QInt8)
    tmp.replace(path)

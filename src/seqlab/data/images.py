"""Image inputs for captioning: picture files, ``.npy`` feature vectors, and caption tables that name them.

- **PNG / JPEG** (any format Pillow reads): converted to RGB and resized to ``size`` x ``size`` (bilinear),
  returned as uint8 (size, size, 3). Pillow comes with matplotlib.
- **``.npy``** feature vectors, one file per example: read with ``numpy.load(allow_pickle=False)``
  (a file can never run code), shape (F,) or (K, F) (K region vectors), any real dtype, as float32.
- **a captions table** (CSV, TSV or JSONL): an image column (``image``, ``file``, ``path``, ``filename``)
  with paths relative to the table's folder, and a caption column (``caption``, ``text``, ``sentence``).
  An image may appear on several rows (several reference captions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UserError
from .readers import pick_column, read_table

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
IMAGE_COLS = ("image", "file", "path", "filename", "image_path", "img")
CAPTION_COLS = ("caption", "text", "sentence", "description", "tgt", "target")


def is_feature_file(path: str | Path) -> bool:
    return str(path).lower().endswith(".npy")


def read_image(path: str | Path, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB pixels of a picture file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"expected an image file; found no file at {path} (check the path)")
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a matplotlib dependency
        raise UserError("reading images needs Pillow (pip install pillow)") from None
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"{path}: not an image Pillow can read ({e}); expected PNG or JPEG") from None


def read_features(path: str | Path, dim: int | None = None) -> np.ndarray:
    """A feature vector (F,) or region vectors (K, F), float32; ``dim`` checks F."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"expected a .npy feature file; found no file at {path} (check the path)")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise UserError(f"{path}: not a plain numeric .npy array ({e}); object arrays are refused (no pickle)") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read as .npy ({e})") from None
    if x.dtype.kind not in "fiu" or x.ndim not in (1, 2) or x.size == 0:
        raise UserError(f"{path}: expected a numeric array of shape (F,) or (K, F); found dtype {x.dtype}, shape {x.shape}")
    if dim is not None and x.shape[-1] != dim:
        raise UserError(f"{path}: feature vectors of width {x.shape[-1]}; the model reads width {dim}")
    if not np.isfinite(x).all():
        raise UserError(f"{path}: contains NaN or infinite values")
    return x.astype(np.float32)


def read_caption_table(path: str | Path, image_col: str | None = None, caption_col: str | None = None,
                       need_captions: bool = True) -> tuple[list[Path], list[str]]:
    """(image paths, captions) from a table whose paths are relative to the table's own folder."""
    path = Path(path)
    table = read_table(path, wanted=(image_col or "", caption_col or "", *IMAGE_COLS, *CAPTION_COLS))
    icol = pick_column(table, image_col, IMAGE_COLS, "image", "--set data.image_col")
    ccol = None
    if need_captions or caption_col or any(c.lower() in CAPTION_COLS for c in table.columns):
        ccol = pick_column(table, caption_col, CAPTION_COLS, "caption", "--set data.caption_col")
    base = path.parent
    images = [(base / p.strip()) if not Path(p.strip()).is_absolute() else Path(p.strip()) for p in table.column(icol)]
    captions = [c.strip() for c in table.column(ccol)] if ccol else [""] * len(images)
    missing = [str(p) for p in images if not p.is_file()]
    if missing:
        raise UserError(f"{path}: {len(missing)} image file(s) named in column {icol} do not exist, e.g. {missing[0]}")
    return images, captions


def load_inputs(paths: list[Path], encoder: str, size: int, feature_dim: int | None = None) -> np.ndarray:
    """Stack the inputs of a model: images (N, size, size, 3) uint8, or features (N, F) / (N, K, F) float32."""
    if encoder == "features":
        bad = [p for p in paths if not is_feature_file(p)]
        if bad:
            raise UserError(f"{bad[0]}: this model reads .npy feature vectors (model.encoder=features), not image files")
        feats = [read_features(p, feature_dim) for p in paths]
        shapes = {f.shape for f in feats}
        if len(shapes) > 1:
            raise UserError(f"feature files have different shapes {sorted(shapes)[:3]}; every example needs the same")
        return np.stack(feats)
    bad = [p for p in paths if is_feature_file(p)]
    if bad:
        raise UserError(f"{bad[0]}: a .npy feature file, but this model reads images (train with --set model.encoder=features)")
    return np.stack([read_image(p, size) for p in paths])

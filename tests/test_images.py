"""Image and feature readers for captioning: PNG/JPEG resized to RGB uint8, .npy without pickle, caption tables."""

import numpy as np
import pytest
from PIL import Image

from seqlab.data.images import load_inputs, read_caption_table, read_features, read_image
from seqlab.errors import UserError


def test_png_and_jpeg(tmp_path):
    px = np.zeros((20, 30, 3), dtype=np.uint8)
    px[:, :15] = (255, 0, 0)
    Image.fromarray(px).save(tmp_path / "a.png")
    Image.fromarray(px).convert("L").save(tmp_path / "g.jpg")
    a = read_image(tmp_path / "a.png", 16)
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert a[8, 2].tolist() == [255, 0, 0] and a[8, 14].tolist() == [0, 0, 0]
    g = read_image(tmp_path / "g.jpg", 16)  # greyscale becomes RGB
    assert g.shape == (16, 16, 3)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="not an image"):
        read_image(tmp_path / "bad.png", 16)


def test_npy_features(tmp_path):
    np.save(tmp_path / "f.npy", np.arange(6, dtype=np.float64))
    assert read_features(tmp_path / "f.npy", 6).dtype == np.float32
    with pytest.raises(UserError, match="width 6"):
        read_features(tmp_path / "f.npy", 5)
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="no pickle"):
        read_features(tmp_path / "o.npy")


def test_caption_table(tmp_path):
    (tmp_path / "img").mkdir()
    for name in ("x.png", "y.png"):
        Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(tmp_path / "img" / name)
    (tmp_path / "caps.csv").write_text("image,caption\nimg/x.png,a grey square\nimg/y.png,another grey square\nimg/x.png,grey\n")
    paths, caps = read_caption_table(tmp_path / "caps.csv")
    assert [p.name for p in paths] == ["x.png", "y.png", "x.png"] and caps[0] == "a grey square"
    assert load_inputs(paths, "cnn", 8).shape == (3, 8, 8, 3)
    (tmp_path / "bad.csv").write_text("image,caption\nimg/z.png,none\n")
    with pytest.raises(UserError, match="do not exist"):
        read_caption_table(tmp_path / "bad.csv")

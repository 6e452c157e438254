import gzip
import hashlib
import zipfile

import pytest

from seqlab.data import datasets
from seqlab.data.datasets import Dataset, RemoteFile
from seqlab.data.sources import parse_source
from seqlab.errors import UserError

from conftest import SHARED_DATA


def _fake(monkeypatch, tmp_path, payload: bytes, kind: str, plain: bytes, mirror_bytes: bytes | None = None):
    """Register a dataset 'toy' whose upstream is a local file:// URL made here."""
    if kind == "gz":
        src = tmp_path / "up.txt.gz"
        src.write_bytes(gzip.compress(payload))
    elif kind == "zip":
        src = tmp_path / "up.zip"
        with zipfile.ZipFile(src, "w") as z:
            z.writestr("TOY/train.tsv", payload)
    else:
        src = tmp_path / "up.txt"
        src.write_bytes(payload)
    mirror_sha = hashlib.sha256(mirror_bytes or b"").hexdigest()
    rf = RemoteFile("toy/train.tsv", mirror_sha, src.as_uri(), hashlib.sha256(plain).hexdigest(),
                    "TOY/train.tsv" if kind == "zip" else None)
    monkeypatch.setitem(datasets.DATASETS, "toy", Dataset("toy", "classify", "toy", {"train": rf}))
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SEQLAB_DATA_MIRROR", raising=False)


@pytest.mark.parametrize("kind", ["plain", "gz", "zip"])
def test_download_verifies_and_caches(monkeypatch, tmp_path, kind):
    data = b"sentence\tlabel\ngood\t1\n"
    _fake(monkeypatch, tmp_path, data, kind, data)
    p = datasets.fetch("toy", "train")
    assert p.read_bytes() == data and p.parent == tmp_path / "cache" / "toy"
    # the second call uses the cache even if the upstream disappears
    for f in tmp_path.glob("up.*"):
        f.unlink()
    datasets._verified.clear()
    assert datasets.fetch("toy", "train") == p


def test_checksum_mismatch_is_refused(monkeypatch, tmp_path):
    _fake(monkeypatch, tmp_path, b"tampered\n", "plain", b"original\n")
    with pytest.raises(UserError, match="refusing to use it"):
        datasets.fetch("toy", "train")
    assert not (tmp_path / "cache" / "toy" / "up.txt").exists()


def test_mirror_is_used_and_checked(monkeypatch, tmp_path):
    data = b"sentence\tlabel\nok\t1\n"
    _fake(monkeypatch, tmp_path, data, "plain", data, mirror_bytes=data)
    (tmp_path / "mirror" / "toy").mkdir(parents=True)
    (tmp_path / "mirror" / "toy" / "train.tsv").write_bytes(data)
    monkeypatch.setenv("SEQLAB_DATA_MIRROR", str(tmp_path / "mirror"))
    assert datasets.fetch("toy", "train") == tmp_path / "mirror" / "toy" / "train.tsv"
    (tmp_path / "mirror" / "toy" / "train.tsv").write_bytes(data + b"x\t0\n")
    datasets._verified.clear()
    with pytest.raises(UserError, match="does not match"):
        datasets.fetch("toy", "train")


def test_no_network_message(monkeypatch, tmp_path):
    monkeypatch.delenv("SEQLAB_DATA_MIRROR", raising=False)
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path))
    rf = RemoteFile("toy/x", "0", (tmp_path / "missing.txt").as_uri(), "0")
    monkeypatch.setitem(datasets.DATASETS, "toy", Dataset("toy", "classify", "toy", {"train": rf}))
    with pytest.raises(UserError, match="SEQLAB_DATA_MIRROR"):
        datasets.fetch("toy", "train")


def test_parse_source_kinds(tmp_path):
    assert parse_source("builtin:longrange?distance=7").params == {"distance": "7"}
    s = parse_source("multi30k:de-en?split=val")
    assert (s.kind, s.name, s.config, s.split) == ("dataset", "multi30k", "de-en", "val")
    with pytest.raises(UserError, match="configuration"):
        parse_source("multi30k:xx-yy")
    with pytest.raises(UserError, match="unknown built-in"):
        parse_source("builtin:nope")
    with pytest.raises(UserError, match="no such file"):
        parse_source(str(tmp_path / "none.csv"))


@pytest.mark.skipif(not (SHARED_DATA / "sst2" / "dev.tsv").is_file(), reason="shared benchmark data not present")
def test_shared_mirror_checksums(monkeypatch):
    monkeypatch.setenv("SEQLAB_DATA_MIRROR", str(SHARED_DATA))
    for name, ds in datasets.DATASETS.items():
        for key in ds.files:
            assert datasets.fetch(name, key).is_file()

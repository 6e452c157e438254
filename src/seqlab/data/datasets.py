"""The public datasets seqlab knows by name, and the code that fetches them.

Each file has two homes:

- a **mirror**: the folder named by ``SEQLAB_DATA_MIRROR``, laid out like ``shared/data``
  (``sst2/train.tsv.gz``, ``nsmc/ratings_train.txt.gz``, ...). When the variable is set the
  mirror is used and the network never is; the file's sha256 is checked.
- the **network**: the upstream URL (a zip member, a gzip or a plain file), downloaded once into
  the cache folder (``SEQLAB_CACHE``, default ``~/.cache/seqlab``), decompressed, and checked
  against the sha256 of its plain content before it is moved into place.

A checksum mismatch is an error, never a warning: the numbers in benchmarks/RESULTS.md only mean
something on the exact bytes they were measured on.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..paths import cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteFile:
    mirror: str  # path below SEQLAB_DATA_MIRROR
    mirror_sha256: str  # sha256 of the mirror file as stored (compressed if it is .gz)
    url: str  # upstream location; "" = no public copy of these exact bytes (mirror only)
    plain_sha256: str  # sha256 of the uncompressed content
    member: str | None = None  # file inside a zip at ``url``


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str
    description: str
    files: dict[str, RemoteFile]
    configs: tuple[str, ...] = ()  # e.g. language pairs for multi30k
    splits: dict[str, str] = field(default_factory=dict)  # role (train/valid/test) -> split name
    nested: bool = False  # training examples are phrases nested in sentences (SST-2): see data.valid_split=whole


_GLUE = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
_NSMC = "https://raw.githubusercontent.com/e9t/nsmc/master/"
_M30K = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"

_M30K_SHA = {  # (gz file, uncompressed content)
    "train.en": ("d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f", "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6"),
    "train.de": ("726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6", "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72"),
    "train.fr": ("622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c", "5925a3c18f1587b6b54b87743106e6e8ab93618edb6f65d19eac0621f853a10d"),
    "val.en": ("14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28", "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227"),
    "val.de": ("f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a", "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660"),
    "val.fr": ("ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9", "5304e444d842e962b2dda4d816b70b22a1765b15401642b7ca37a67477e708dc"),
    "test_2016_flickr.en": ("611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9", "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182"),
    "test_2016_flickr.de": ("9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8", "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16"),
    "test_2016_flickr.fr": ("6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90", "cb3160d69b002bb638e66cc7612fcd56cb0af82eadc9c142dedc438afb885ef6"),
}

# SAMSum as JSON Lines converted byte-for-byte from the Hugging Face ``save_to_disk`` Arrow files (see
# shared/data/samsum/SOURCE.md). No public URL serves these JSONL files, so the dataset is mirror-only:
# the upstream is corpus.7z (arXiv:1911.12237), in another container. License CC BY-NC-ND 4.0.
_SAMSUM = {  # split -> (mirror file, sha256 as stored, sha256 uncompressed)
    "train": ("samsum/train.jsonl.gz", "40f10111cf15b4cfd5e7d82775994d520df91650f3288f81266a42ab168a1252",
              "86941cc00f67f59ea6f68290df34152f51fdcf545056ab7e6dfc4ea9e9c407bc"),
    "valid": ("samsum/valid.jsonl", "0c72c0a12da3f4e7544abe3caf4f206555713160d94d25802e7ca0eb43de3e0b",
              "0c72c0a12da3f4e7544abe3caf4f206555713160d94d25802e7ca0eb43de3e0b"),
    "test": ("samsum/test.jsonl", "bac9728a3f358493da3b2ca075f381e638702e278cf6ad057685aadaffaf78b5",
             "bac9728a3f358493da3b2ca075f381e638702e278cf6ad057685aadaffaf78b5"),
}

DATASETS: dict[str, Dataset] = {
    "sst2": Dataset(
        "sst2", "classify", "SST-2 movie-review sentiment (en, GLUE): 67,349 train sentences/phrases, 872 dev; dev is the test split",
        {
            "train": RemoteFile("sst2/train.tsv.gz", "1c4843303462f8f93e006ff618a9e61d207468cafd030046d7d7fd6b78af342b",
                                _GLUE, "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1", "SST-2/train.tsv"),
            "dev": RemoteFile("sst2/dev.tsv", "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
                              _GLUE, "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0", "SST-2/dev.tsv"),
        },
        splits={"train": "train", "test": "dev"},
        nested=True,
    ),
    "nsmc": Dataset(
        "nsmc", "classify", "NSMC Naver movie-review sentiment (ko): 150,000 train / 50,000 test reviews",
        {
            "train": RemoteFile("nsmc/ratings_train.txt.gz", "913454a06707fbb227eeb6027146c3672d5fc8b93918e7b4570e3b18eb886346",
                                _NSMC + "ratings_train.txt", "e03b7d14e9e41be8d464a28057cd25d7396c53e67aa7fd5f7e552c59b0ee2940"),
            "test": RemoteFile("nsmc/ratings_test.txt.gz", "09d3165d0f347ed02020d8e7bc0930ae2749d6b7204b610c597a35b9bcff983f",
                               _NSMC + "ratings_test.txt", "8ac9f64052f11dbf6ae0acb5e038f03d90a76f0eda7820cfb3a92d02edfcebda"),
        },
        splits={"train": "train", "test": "test"},
    ),
    "multi30k": Dataset(
        "multi30k", "seq2seq", "Multi30k image-caption translation (en/de/fr): 29,000 train, 1,014 val, 1,000 test_2016_flickr",
        {k: RemoteFile(f"multi30k/{k}.gz", gz, f"{_M30K}{k}.gz", plain) for k, (gz, plain) in _M30K_SHA.items()},
        configs=("de-en", "en-de", "fr-en", "en-fr", "de-fr", "fr-de"),
        splits={"train": "train", "valid": "val", "test": "test_2016_flickr"},
    ),
    "samsum": Dataset(
        "samsum", "seq2seq", "SAMSum chat dialogues -> one-paragraph summaries (en, CC BY-NC-ND 4.0, non-commercial): "
        "14,732 train, 818 valid, 819 test; mirror only (SEQLAB_DATA_MIRROR)",
        {k: RemoteFile(m, gz, "", plain) for k, (m, gz, plain) in _SAMSUM.items()},
        splits={"train": "train", "valid": "valid", "test": "test"},
    ),
    "tinyshakespeare": Dataset(
        "tinyshakespeare", "lm", "tiny Shakespeare (karpathy/char-rnn): 1,115,394 characters; the last 10% is validation",
        {"train": RemoteFile("tinyshakespeare/input.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                             "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                             "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")},
        splits={"train": "train"},
    ),
    "etth1": Dataset(
        "etth1", "forecast", "ETTh1 electricity-transformer temperature, hourly, 7 columns, 17,420 rows (2016-07 to 2018-06)",
        {"train": RemoteFile("ett/ETTh1.csv", "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066",
                             "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/main/ETT-small/ETTh1.csv",
                             "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066")},
        splits={"train": "train"},
    ),
}


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))} (see `seqlab datasets`)")
    return DATASETS[name]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_verified: set[Path] = set()


def fetch(dataset: str, key: str) -> Path:
    """Local path of one file of a known dataset: the mirror if set, else the cache (downloading once)."""
    ds = get(dataset)
    if key not in ds.files:
        raise UserError(f"dataset {dataset} has no file {key!r}; it has: {', '.join(ds.files)}")
    rf = ds.files[key]
    mirror = os.environ.get("SEQLAB_DATA_MIRROR")
    if mirror:
        p = Path(mirror) / rf.mirror
        if not p.is_file():
            raise UserError(f"SEQLAB_DATA_MIRROR={mirror}: expected {rf.mirror} there for dataset {dataset}; not found")
        if p not in _verified:
            got = _sha256(p)
            if got != rf.mirror_sha256:
                raise UserError(f"{p}: sha256 {got[:12]}… does not match the expected {rf.mirror_sha256[:12]}…; the mirror copy differs from the published file")
            _verified.add(p)
        return p
    if not rf.url:
        raise UserError(f"dataset {dataset} has no public download of these exact files; set SEQLAB_DATA_MIRROR to a "
                        f"folder that holds {rf.mirror} (laid out like shared/data; see its SOURCE.md)")
    name = Path(rf.member or rf.url).name
    if name.endswith(".gz"):
        name = name[:-3]
    dest = cache_dir() / dataset / name
    if dest.is_file() and (dest in _verified or _sha256(dest) == rf.plain_sha256):
        _verified.add(dest)
        return dest
    return _download(rf, dest, dataset)


def _download(rf: RemoteFile, dest: Path, dataset: str) -> Path:
    log.info("downloading %s -> %s", rf.url, dest)
    try:
        with urllib.request.urlopen(rf.url, timeout=60) as resp:
            payload = resp.read()
    except Exception as e:  # noqa: BLE001 - any network failure becomes one user-facing line
        raise UserError(
            f"could not download dataset {dataset} from {rf.url} ({type(e).__name__}: {e}); "
            f"without network, set SEQLAB_DATA_MIRROR to a folder that holds {rf.mirror}"
        ) from None
    if rf.member:
        with zipfile.ZipFile(io.BytesIO(payload)) as z:
            payload = z.read(rf.member)
    elif rf.url.endswith(".gz"):
        payload = gzip.decompress(payload)
    got = hashlib.sha256(payload).hexdigest()
    if got != rf.plain_sha256:
        raise UserError(f"{rf.url}: downloaded content has sha256 {got[:12]}…, expected {rf.plain_sha256[:12]}…; refusing to use it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as f:
        f.write(payload)
    shutil.move(tmp, dest)
    _verified.add(dest)
    return dest

"""Every figure seqlab draws. Matplotlib with the Agg backend, written to a path the caller names."""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path

import matplotlib

from .errors import UserError

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

log = logging.getLogger("seqlab")

# Families that cover Hangul (and most CJK), in order of preference; the first one installed is used.
CJK_FAMILIES = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "NanumBarunGothic", "Malgun Gothic",
                "Apple SD Gothic Neo", "AppleGothic", "Source Han Sans K", "Source Han Sans KR", "UnDotum",
                "Noto Sans CJK JP", "Noto Sans CJK SC", "WenQuanYi Zen Hei")
_CJK_FILE = re.compile(r"(NotoSansCJK|NotoSansKR|Nanum|malgun|AppleSDGothic|SourceHanSans|UnDotum|wqy)", re.I)
_CJK = re.compile(r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u9fff\uac00-\ud7af]")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family used for Korean/CJK labels: ``$SEQLAB_FONT`` (a .ttf/.otf path) or the first installed of CJK_FAMILIES."""
    path = os.environ.get("SEQLAB_FONT")
    if path:
        if not Path(path).is_file():
            log.warning("SEQLAB_FONT=%s is not a file; looking for an installed Korean font instead", path)
        else:
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    found = _installed_cjk()
    if found is None and not _rebuilt:
        # a font installed after matplotlib built its cache stays invisible until the cache is rebuilt
        log.info("no Korean/CJK font in matplotlib's font cache; rebuilding the cache once to look again")
        _rebuild_font_cache()
        found = _installed_cjk()
        log.info("after rebuilding the font cache: %s", found or "still no Korean/CJK font")
    return found


def _installed_cjk() -> str | None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FAMILIES if name in installed), None)
    if found is None:  # matplotlib's font cache predates the font's installation: add the files themselves
        for path in font_manager.findSystemFonts():
            if _CJK_FILE.search(Path(path).name):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        installed = {f.name for f in font_manager.fontManager.ttflist}
        found = next((name for name in CJK_FAMILIES if name in installed), None)
    return found


_rebuilt = False  # the cache is rebuilt at most once per process


def _rebuild_font_cache() -> None:
    """Rescan the system's fonts and rewrite matplotlib's cache (what deleting ~/.cache/matplotlib does)."""
    global _rebuilt
    _rebuilt = True
    try:
        fresh = font_manager._load_fontmanager(try_read_cache=False)  # private but stable since matplotlib 3.2
    except (AttributeError, TypeError, OSError) as e:
        log.info("could not rebuild matplotlib's font cache (%s); delete ~/.cache/matplotlib by hand", e)
        return
    vars(font_manager.fontManager).update(vars(fresh))  # in place, as matplotlib's own findfont does: others hold this instance


def _use_fonts_for(labels) -> None:
    """Let matplotlib fall back to a CJK font when any label has Hangul/CJK characters; warn once if there is none."""
    if not any(_CJK.search(str(t)) for t in labels):
        return
    family = cjk_font()
    if family is None:
        if not getattr(_use_fonts_for, "warned", False):
            log.warning("no Korean/CJK font found, so Hangul labels in plots show as boxes; install one "
                        "(e.g. fonts-nanum or Noto Sans CJK) or set SEQLAB_FONT=/path/to/font.ttf")
            _use_fonts_for.warned = True
        return
    families = list(plt.rcParams["font.family"])
    if family not in families:
        plt.rcParams["font.family"] = [*families, family] if families != ["sans-serif"] else ["DejaVu Sans", family]


def _save(fig, path, caption: str | None = None) -> Path:
    """Write ``fig`` to ``path`` (PNG unless the suffix says otherwise), with ``caption`` in small grey
    text under the axes; an unwritable path is a UserError."""
    path = Path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "is a folder", str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # missing glyphs were reported once by _use_fonts_for, not once per character
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
            fig.tight_layout()
            if caption:
                fig.text(0.01, 0.0, caption, fontsize=7.5, color="dimgray", ha="left", va="top", wrap=True)
            fig.savefig(path, dpi=110, bbox_inches="tight" if caption else None)
    except OSError as e:  # permission denied, a folder in the way, a parent that is a file
        raise UserError(f"{path}: cannot write the plot there ({e.strerror or type(e).__name__}); "
                        "name a .png file in a folder you can write to") from None
    except ValueError as e:  # an unknown image format from the suffix
        raise UserError(f"{path}: cannot write the plot ({e}); use a .png, .pdf or .svg file name") from None
    finally:
        plt.close(fig)
    return path


def training_curves(metrics_jsonl, path, metric: str) -> Path:
    """Training loss and the validation metric against optimizer steps."""
    rows = [json.loads(line) for line in Path(metrics_jsonl).read_text(encoding="utf-8").splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.4))
    ax[0].plot(steps, [r["train_loss"] for r in rows], marker="o", label="train loss")
    if all("loss" in r for r in rows):
        ax[0].plot(steps, [r["loss"] for r in rows], marker="o", label="valid loss")
    ax[0].set_xlabel("step")
    ax[0].set_title("loss")
    ax[0].legend()
    ax[1].plot(steps, [r.get(metric) for r in rows], marker="o", color="tab:green")
    ax[1].set_xlabel("step")
    ax[1].set_title(f"valid {metric}")
    return _save(fig, path)


def confusion_matrix(matrix, labels, path, title="confusion matrix") -> Path:
    """Rows: true label; columns: predicted label; cells: counts."""
    _use_fonts_for([*labels, title])
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * n, 1.0 + 0.5 * n))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = max((max(r) for r in matrix), default=1) or 1
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(matrix[i][j]), ha="center", va="center", color="white" if matrix[i][j] > top / 2 else "black", fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")


def lines(xs, series: dict[str, list], path, xlabel: str, ylabel: str, title: str, hline: float | None = None,
          caption: str | None = None) -> Path:
    """One line per named series over shared x values (e.g. accuracy against distance).

    Each series gets its own marker and dash pattern and a small horizontal offset, so series with
    equal values (two models both at 1.0) stay visible side by side instead of hiding each other.
    """
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    k = len(series)
    labels = [str(x) for x in xs]
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    pos = list(xs) if numeric else list(range(len(xs)))  # categories (e.g. "1-10") at 0, 1, 2, ...
    span = (max(pos) - min(pos)) if len(pos) > 1 else 1.0
    for i, (name, ys) in enumerate(series.items()):
        dx = (i - (k - 1) / 2) * 0.025 * span if k > 1 else 0.0  # a nudge of 2.5% of the x range per series
        ax.plot([x + dx for x in pos], ys, marker=MARKERS[i % len(MARKERS)], ls=LINESTYLES[i % len(LINESTYLES)],
                markersize=7, alpha=0.9, label=name)
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=1, label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_xticks(pos, labels)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path, caption)


def heatmap(weights, xlabels, ylabels, path, title="attention", xlabel="source", ylabel="target",
            caption: str | None = "each row: how much one target token attends to each source token (a row sums to 1)",
            colorbar_label: str = "attention weight") -> Path:
    """A matrix of weights (rows: ylabels, columns: xlabels), e.g. attention of target over source tokens,
    with a colour bar and a one-line caption saying how to read it."""
    _use_fonts_for([*xlabels, *ylabels, title, caption or ""])
    fig, ax = plt.subplots(figsize=(2.6 + 0.42 * len(xlabels), 1.6 + 0.38 * len(ylabels)))
    im = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.03).set_label(colorbar_label, fontsize=8)
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(ylabels)), ylabels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save(fig, path, caption)


def forecast(hist_times, history, times, pred, path, names, actual=None, title="forecast", season: int | None = None) -> Path:
    """History (T, C), forecast (H, C) and optionally what happened (H, C), one panel per target.

    ``season``: also draw the two baselines every forecast is judged against, computed from the
    history shown: naive (the last value, repeated) and seasonal naive (the last ``season`` values,
    repeated).
    """
    import numpy as np

    k = len(names)
    H = len(times)
    fig, axes = plt.subplots(k, 1, figsize=(8, 2.6 * k + 0.6), squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        ax.plot(hist_times, history[:, j], color="tab:blue", lw=1.2, label="history")
        if actual is not None:
            ax.plot(times, actual[:, j], color="black", lw=1.4, marker=".", markersize=4, label="actual")
        if season:
            s = max(1, min(int(season), len(history)))
            ax.plot(times, np.repeat(history[-1, j], H), color="tab:grey", ls=":", lw=1.3, label="naive")
            ax.plot(times, np.resize(history[-s:, j], H), color="tab:green", ls="--", lw=1.2, label=f"seasonal naive ({s})")
        ax.plot(times, pred[:, j], color="tab:orange", lw=1.8, label="forecast")
        ax.axvline(hist_times[-1], color="grey", ls="--", lw=1)
        ax.set_ylabel(names[j])
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(title)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=3 if season else 1)
    fig.autofmt_xdate()
    return _save(fig, path)

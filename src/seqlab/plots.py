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


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # missing glyphs were reported once by _use_fonts_for, not once per character
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
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


def lines(xs, series: dict[str, list], path, xlabel: str, ylabel: str, title: str, hline: float | None = None) -> Path:
    """One line per named series over shared x values (e.g. accuracy against distance)."""
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name, ys in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=1, label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def heatmap(weights, xlabels, ylabels, path, title="attention", xlabel="source", ylabel="target") -> Path:
    """A matrix of weights (rows: ylabels, columns: xlabels), e.g. attention of target over source tokens."""
    _use_fonts_for([*xlabels, *ylabels, title])
    fig, ax = plt.subplots(figsize=(1.5 + 0.42 * len(xlabels), 1.2 + 0.38 * len(ylabels)))
    ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0)
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(ylabels)), ylabels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return _save(fig, path)


def forecast(hist_times, history, times, pred, path, names, actual=None, title="forecast") -> Path:
    """History (T, C), forecast (H, C) and optionally what happened (H, C), one panel per target."""
    k = len(names)
    fig, axes = plt.subplots(k, 1, figsize=(8, 2.6 * k + 0.6), squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        ax.plot(hist_times, history[:, j], color="tab:blue", lw=1.2, label="history")
        if actual is not None:
            ax.plot(times, actual[:, j], color="black", lw=1.2, label="actual")
        ax.plot(times, pred[:, j], color="tab:orange", lw=1.6, label="forecast")
        ax.axvline(hist_times[-1], color="grey", ls="--", lw=1)
        ax.set_ylabel(names[j])
        ax.grid(alpha=0.3)
    axes[0, 0].set_title(title)
    axes[0, 0].legend(loc="upper left")
    fig.autofmt_xdate()
    return _save(fig, path)

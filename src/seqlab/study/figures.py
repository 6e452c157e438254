"""The studies' figures: every one has a title, the notes' claim in Korean above it, axis labels with
units, and a legend. Fonts for Hangul come from seqlab.plots (Noto Sans CJK, Nanum, ... or SEQLAB_FONT)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from ..plots import _save, _use_fonts_for, plt

_HANGUL = re.compile(r"[\uac00-\ud7af]")


def _claim(claim_ko: str) -> str:
    """The claim as a suptitle, wrapped to fit (Hangul is about twice as wide as Latin letters)."""
    return textwrap.fill(f"「{claim_ko}」", 48 if _HANGUL.search(claim_ko) else 90)


def _frame(title: str, claim_ko: str, size=(6.8, 4.2)):
    _use_fonts_for([claim_ko, title])
    lines_ = _claim(claim_ko).count("\n")
    fig, ax = plt.subplots(figsize=(size[0], size[1] + 0.2 * lines_))
    fig.suptitle(_claim(claim_ko), fontsize=9, color="dimgray")
    ax.set_title(title, fontsize=11)
    return fig, ax


def lines(path: Path, series: dict[str, tuple[list, list]], title: str, xlabel: str, ylabel: str, claim_ko: str,
          logy: bool = False, hline: float | None = None, hline_label: str = "chance", note: str | None = None) -> Path:
    """One line per series; ``series`` maps a legend label to (xs, ys)."""
    fig, ax = _frame(title, claim_ko)
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", ms=3, label=label)
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=1, label=hline_label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if note:
        ax.text(0.01, 0.01, note, transform=ax.transAxes, fontsize=7, color="dimgray", va="bottom")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def bars(path: Path, values: dict[str, float], title: str, ylabel: str, claim_ko: str, xlabel: str = "",
         hline: float | None = None, hline_label: str = "chance") -> Path:
    """One bar per label (e.g. accuracy per tokenizer)."""
    fig, ax = _frame(title, claim_ko)
    _use_fonts_for(list(values))
    names = list(values)
    ax.bar(names, [values[k] for k in names], color=[f"C{i}" for i in range(len(names))], label=ylabel)
    for i, k in enumerate(names):
        ax.text(i, values[k], f"{values[k]:.3g}", ha="center", va="bottom", fontsize=8)
    if hline is not None:
        ax.axhline(hline, color="grey", ls="--", lw=1, label=hline_label)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    return _save(fig, path)


def heatmap(path: Path, matrix, xlabels: list[str], ylabels: list[str], title: str, xlabel: str, ylabel: str,
            claim_ko: str = "", colorbar: str = "attention weight (0-1)") -> Path:
    """A matrix with labelled rows and columns and a colour bar as its legend."""
    _use_fonts_for([*xlabels, *ylabels, title, claim_ko])
    w = 2.6 + 0.42 * len(xlabels)
    fig, ax = plt.subplots(figsize=(max(w, 4.5), 1.8 + 0.36 * len(ylabels)))
    if claim_ko:
        fig.suptitle(_claim(claim_ko), fontsize=9, color="dimgray")
    im = ax.imshow(matrix, cmap="viridis", aspect="auto", vmin=0)
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(ylabels)), ylabels, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=colorbar)
    return _save(fig, path)

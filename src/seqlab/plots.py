"""Every figure seqlab draws. Matplotlib with the Agg backend, written to a path the caller names."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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

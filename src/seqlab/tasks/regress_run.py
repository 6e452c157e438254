"""A trained regression run: predict numbers, evaluate (MAE, RMSE, R², Spearman, scatter plot).

    run = seqlab.load("runs/frames")
    run.predict([[[0.5, 0.1, 0.0], [0.6, 0.9, 0.1]]])    # [{"value": 6.42}]
    run.evaluate("builtin:frames")                         # {"mae", "rmse", "r2", "spearman", "loss", "n"}
"""

from __future__ import annotations

import logging

import torch

from ..data.batching import bucket_batches
from ..data.sources import parse_source
from ..errors import UserError
from ..metrics.regression import regression_report
from ..models.regression import Standardizer, regression_loss
from .classify_io import Encoded
from .classify_run import LoadedClassifier
from .regress_io import read_scored

log = logging.getLogger(__name__)


@torch.inference_mode()
def predict_batches(model, batches, std: Standardizer, device) -> tuple[list[list[float]], list[list[float]]]:
    """(predictions (N, K) in target units, z-score targets (N, K) or []) over batches, in batch order."""
    preds, zs = [], []
    for b in batches:
        out = model(b["ids"].to(device), b["mask"].to(device)).float().cpu()  # (B, K) z-scores
        preds += std.inverse(out).tolist()
        if "y" in b:
            zs += b["y"].tolist()
    return preds, zs


def score_batches(model, batches, std: Standardizer, device, data, names: list[str] | None = None) -> dict:
    """Validation/test metrics: MAE, RMSE, R², Spearman (target units; several targets: averaged, and per
    output) and the loss (z-scores)."""
    model.eval()
    preds, zs = predict_batches(model, batches, std, device)
    z_pred = std.transform(torch.tensor(preds))  # (N, K)
    z_true = torch.tensor(zs)  # (N, K)
    rep = regression_report(std.inverse(z_true).tolist(), preds, names)
    rep["loss"] = float(regression_loss(z_pred, z_true, data.loss, data.huber_delta))
    return rep


def scatter(y_true: list[list[float]], y_pred: list[list[float]], names: list[str], path, title: str) -> None:
    """Predicted against true, one panel per target, with the diagonal predicted = true."""
    from .. import plots

    plt = plots.plt
    K = len(names)
    fig, axes = plt.subplots(1, K, figsize=(4.4 * K, 4.4), squeeze=False)
    for k, ax in enumerate(axes[0]):
        t, p = [r[k] for r in y_true], [r[k] for r in y_pred]
        ax.scatter(t, p, s=8, alpha=0.5)
        lo, hi = min(min(t), min(p)), max(max(t), max(p))
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1, ls="--", label="predicted = true")
        ax.set_xlabel(f"true {names[k]}")
        ax.set_ylabel(f"predicted {names[k]}")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    plots._save(fig, path)


class LoadedRegressor(LoadedClassifier):
    """Classify's loaded run (inputs, encoding, columns) with numbers out instead of labels."""

    task = "regress"

    def __init__(self, run, module, config, meta, comp, tok, device="auto"):
        meta = {**meta, "labels": ["value"]}
        super().__init__(run, module, config, meta, comp, tok, device)
        self.std = Standardizer.from_state(meta["target"])
        self.targets: list[str] = meta.get("targets") or ["value"]

    def _batches(self, enc: Encoded, ys: list[list[float]] | None = None) -> tuple[list[dict], list[list[int]]]:
        pad_id = self.tokenizer.pad_id if self.tokenizer else 0
        order = bucket_batches(enc.lengths, 256, shuffle=False)
        out = []
        for idx in order:
            b = enc.batch(idx, pad_id, self._min_len)
            if ys is not None:
                b["y"] = self.std.transform(torch.tensor([ys[i] for i in idx]))
            else:
                b.pop("y")
            out.append(b)
        return out, order

    def predict(self, texts, batch_size: int = 256) -> list[dict]:
        """``[{"value": float}]`` in input order, in the target's units (several targets: ``{"values": {name: x}}``)."""
        texts = self._check_inputs([texts] if isinstance(texts, str) else texts)
        batches, order = self._batches(self._encode(texts))
        preds, _ = predict_batches(self.module, batches, self.std, self.device)
        out = [None] * len(texts)
        for i, p in zip((i for idx in order for i in idx), preds):
            out[i] = ({"value": round(float(p[0]), 6)} if len(p) == 1 else
                      {"values": {n: round(float(v), 6) for n, v in zip(self.targets, p)}})
        return out  # type: ignore[return-value]

    def evaluate(self, src: str, write: bool = False, **columns) -> dict:
        """MAE, RMSE, R², Spearman and loss on scored data ``src``; with ``write``, also scatter.png."""
        data = self.comp.data
        if columns:
            import dataclasses

            data = dataclasses.replace(data, **columns)
        ex, ys, names = read_scored(parse_source(src, "--data"), data, "test", self.comp.train.seed)
        if len(names) != len(self.targets):
            raise UserError(f"{src}: {len(names)} target column(s) ({', '.join(names)}); this run predicts "
                            f"{len(self.targets)} ({', '.join(self.targets)})")
        batches, order = self._batches(self._encode(ex.inputs), ys)
        metrics = score_batches(self.module, batches, self.std, self.device, data,
                                self.targets if len(self.targets) > 1 else None)
        if write:
            self.run.write_json("test_metrics.json", metrics)
            preds, _ = predict_batches(self.module, batches, self.std, self.device)
            y_sorted = [ys[i] for idx in order for i in idx]
            scatter(y_sorted, preds, self.targets, self.run.file("scatter.png"),
                    f"{self.model_name}: R² {metrics['r2']:.3f}, RMSE {metrics['rmse']:.3f} (n={metrics['n']})")
        return metrics

    def format_prediction(self, inp, pred: dict) -> str:
        shown = inp if isinstance(inp, str) else f"<sequence of {len(inp)} steps>"
        value = f"{pred['value']:.4f}" if "value" in pred else " ".join(f"{k}={v:.4f}" for k, v in pred["values"].items())
        return f"{value}\t{shown}"

    def format_metrics(self, metrics: dict) -> list[str]:
        return [f"{k:>12}  {v:.4f}" if isinstance(v, float) else f"{k:>12}  {v}" for k, v in metrics.items()
                if isinstance(v, (int, float))]

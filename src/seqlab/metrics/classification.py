"""Classification metrics computed from label indices (no scikit-learn needed for these few lines)."""

from __future__ import annotations


def classification_report(y_true: list[int], y_pred: list[int], labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    ``confusion[i][j]`` counts examples of true class ``i`` predicted as class ``j``.
    """
    k = len(labels)
    cm = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred):
        cm[t][p] += 1
    n = len(y_true)
    per_class, f1s = {}, []
    for i, name in enumerate(labels):
        tp = cm[i][i]
        pred = sum(cm[r][i] for r in range(k))
        true = sum(cm[i])
        prec = tp / pred if pred else 0.0
        rec = tp / true if true else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[name] = {"precision": prec, "recall": rec, "f1": f1, "support": true}
        if true:
            f1s.append(f1)
    return {
        "accuracy": sum(cm[i][i] for i in range(k)) / n if n else 0.0,
        "macro_f1": sum(f1s) / len(f1s) if f1s else 0.0,
        "per_class": per_class,
        "confusion": cm,
        "labels": labels,
        "n": n,
    }

"""Metrics, one module per kind of output: classification (accuracy, macro-F1, confusion), translation
(sacreBLEU BLEU and chrF, exact match, BLEU by source length), rouge (ROUGE-1/2/L/Lsum, LEAD-3 and LONGEST-3),
regression (MAE, RMSE, R², Spearman), forecast (MSE/MAE/MAPE/sMAPE/MASE, losses)."""

from .classification import classification_report

__all__ = ["classification_report"]

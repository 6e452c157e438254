"""Defaults of a new seq2seq Transformer run that depend on its data and on ``--time-budget``.

``seqlab train seq2seq --data FILE --time-budget 60`` should spend the hour the user gave and regularise the
model for the amount of data it has, as the small-data translation recipes do (fairseq's IWSLT preset,
Sennrich & Zhang 2019); RESULTS #18 measures both on Multi30k against the previous defaults.

- **Train until the budget ends.** With a time budget and no ``--epochs``, the epochs are
  :data:`BUDGET_EPOCHS`: the learning-rate schedule spans the budget (the engine's progress is the larger of
  steps and time) and early stopping (``train.patience``) still ends a run that stopped improving. Before, a
  Transformer run stopped after its default 20 epochs (~40 minutes on two cores for Multi30k).
- **Dropout for the data's size.** Under :data:`SMALL_PAIRS` training pairs the Transformer's dropout is
  :data:`SMALL_DATA_DROPOUT` (0.3, fairseq's IWSLT recipe at 160k pairs) instead of its 0.1 (the WMT base
  model's, for millions of pairs).
- **A moving average of the weights** (``train.ema`` = :data:`EMA`, Polyak averaging, about the last
  1,000 steps) for runs that train to their budget's end: evaluation and the saved model use the average.

Each applies only where the user did not set that value (``--epochs``, ``--set model.dropout=…``,
``--set train.ema=…``); a resumed run keeps its saved settings. ``apply`` returns what it chose, for meta.json.
"""

from __future__ import annotations

import dataclasses
import logging

log = logging.getLogger(__name__)

BUDGET_EPOCHS = 100_000  # epochs of a budgeted run without --epochs: the budget (or early stopping) ends it
SMALL_PAIRS = 200_000  # fewer training pairs than this get SMALL_DATA_DROPOUT
SMALL_DATA_DROPOUT = 0.3
EMA = 0.999


def apply(comp, req, n_pairs: int) -> dict:
    """Set the data- and budget-dependent defaults on ``comp`` in place (Transformer runs only); returns the
    values chosen ({} when none applied)."""
    chosen: dict = {}
    if comp.model_name != "transformer":
        return chosen
    train, model = comp.train, comp.model
    if train.time_budget and not req.given("train", "epochs"):
        chosen["train.epochs"] = BUDGET_EPOCHS
        train = dataclasses.replace(train, epochs=BUDGET_EPOCHS)
        if not req.given("train", "ema"):
            chosen["train.ema"] = EMA
            train = dataclasses.replace(train, ema=EMA)
    if n_pairs < SMALL_PAIRS and not req.given("model", "dropout"):
        chosen["model.dropout"] = SMALL_DATA_DROPOUT
        model = dataclasses.replace(model, dropout=SMALL_DATA_DROPOUT)
    if chosen:
        log.info("defaults for %d training pairs%s: %s", n_pairs,
                 f" and a {train.time_budget:g}-minute budget" if train.time_budget else "",
                 ", ".join(f"{k}={v}" for k, v in chosen.items()))
    comp.train, comp.model = train, model
    return chosen

"""Forecasting models: every one maps a lookback window x (B, L, C) to y (B, H, C_target).

The registry (name -> (ConfigClass, ModelClass), plus PRESETS of config values per name) used by ``tasks/forecast.py``; explicit, no scanning.
"""

from .baselines import BaselineConfig, Naive, SeasonalNaive
from .linear import DLinear, Linear, LinearConfig, NLinear
from .patchtst import PatchTST, PatchTSTConfig
from .recurrent import RecurrentConfig, RecurrentForecaster
from .sparse import SparseTSF, SparseTSFConfig
from .transformer import TimeTransformer, TimeTransformerConfig

MODELS = {
    "linear": (LinearConfig, Linear),
    "nlinear": (LinearConfig, NLinear),
    "dlinear": (LinearConfig, DLinear),
    "sparsetsf": (SparseTSFConfig, SparseTSF),
    "patchtst": (PatchTSTConfig, PatchTST),
    "transformer": (TimeTransformerConfig, TimeTransformer),
    "rnn": (RecurrentConfig, RecurrentForecaster),
    "lstm": (RecurrentConfig, RecurrentForecaster),
    "gru": (RecurrentConfig, RecurrentForecaster),
    "lstm_seq2seq": (RecurrentConfig, RecurrentForecaster),
    "gru_seq2seq": (RecurrentConfig, RecurrentForecaster),
    "naive": (BaselineConfig, Naive),
    "seasonal_naive": (BaselineConfig, SeasonalNaive),
}
# config values a registry name fixes on top of its ConfigClass defaults
PRESETS = {
    "rnn": {"cell": "rnn"},
    "lstm": {"cell": "lstm"},
    "gru": {"cell": "gru"},
    "lstm_seq2seq": {"cell": "lstm", "decoder": "seq2seq"},
    "gru_seq2seq": {"cell": "gru", "decoder": "seq2seq"},
}
BASELINES = ("naive", "seasonal_naive")


def build(name: str, **config):
    """(config, model) for a registry name; ``config`` overrides the defaults and the preset."""
    cls, model_cls = MODELS[name]
    cfg = cls(**{**PRESETS.get(name, {}), **config})
    return cfg, model_cls.from_config(cfg)

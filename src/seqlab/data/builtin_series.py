"""Generated time series for forecasting demos and tests (``builtin:sine``, ``builtin:seasonal``,
``builtin:random_walk``). Each returns a DataFrame with a ``date`` column and numeric columns,
exactly what a user's CSV would give, so the whole pipeline runs on them unchanged.

    make_series("seasonal", n=2000, seed=0)   # hourly: trend + daily + weekly cycle + noise
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import UserError


def sine(n: int = 2000, seed: int = 0, noise: float = 0.05, period: int = 24) -> pd.DataFrame:
    """Hourly ``value`` = sin(2 pi t / period) + 0.5 sin(2 pi t / (3.5 period)) + noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    v = np.sin(2 * np.pi * t / period) + 0.5 * np.sin(2 * np.pi * t / (3.5 * period))
    v = v + noise * rng.standard_normal(n)
    return pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n, freq="h"), "value": v})


def seasonal(n: int = 3000, seed: int = 0, noise: float = 0.3, trend: float = 0.002) -> pd.DataFrame:
    """Hourly load-like series: ``load`` (target) with a linear trend, a daily and a weekly
    cycle and noise, plus ``temp`` (a covariate that leads the daily cycle by 3 hours)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    daily = np.sin(2 * np.pi * t / 24)
    weekly = 0.5 * np.sin(2 * np.pi * t / 168)
    load = 10 + trend * t + 2 * daily + weekly + noise * rng.standard_normal(n)
    temp = 15 + 5 * np.sin(2 * np.pi * (t + 3) / 24) + 0.5 * rng.standard_normal(n)
    return pd.DataFrame({"date": pd.date_range("2021-01-01", periods=n, freq="h"),
                         "load": load, "temp": temp})


def random_walk(n: int = 1500, seed: int = 0, drift: float = 0.0003, vol: float = 0.015,
                start: float = 100.0) -> pd.DataFrame:
    """A stock-like daily ``close`` price on business days: a geometric random walk
    (log-returns drift + vol * N(0, 1)), and ``volume``. The naive forecast is optimal here."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(drift + vol * rng.standard_normal(n)))
    volume = rng.lognormal(13, 0.3, n).round()
    return pd.DataFrame({"date": pd.bdate_range("2015-01-02", periods=n), "close": close, "volume": volume})


SERIES = {"sine": sine, "seasonal": seasonal, "random_walk": random_walk}


def make_series(name: str, **params) -> pd.DataFrame:
    """A generated series by name; params are the generator's keyword arguments (strings allowed)."""
    if name not in SERIES:
        raise UserError(f"expected a built-in series among {', '.join(SERIES)}; found {name!r}")
    fn = SERIES[name]
    defaults = fn.__defaults__ or ()
    names = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    types = dict(zip(names[len(names) - len(defaults):], (type(d) for d in defaults)))
    kwargs = {}
    for k, v in params.items():
        if k not in types:
            raise UserError(f"expected parameters of builtin:{name} among {', '.join(types)}; found {k!r}")
        try:
            kwargs[k] = types[k](v)
        except ValueError:
            raise UserError(f"expected {k}={types[k].__name__} for builtin:{name}; found {v!r}") from None
    if kwargs.get("n", 100) < 10:
        raise UserError(f"expected n >= 10 for builtin:{name}; found {kwargs['n']}")
    return fn(**kwargs)

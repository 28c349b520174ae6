"""Weekly forecasts of a panel of series, each series' model chosen by backtest.

Candidates (:data:`MODELS`):

* ``seasonal_naive``: the value one season earlier (the baseline); intervals
  from the in-sample seasonal differences, ``sigma * sqrt(floor((k-1)/m) + 1)``
  at step ``k`` (Hyndman & Athanasopoulos, *Forecasting: Principles and
  Practice* 3rd ed., table 5.2), as statsforecast's ``SeasonalNaive`` computes
  them. Vectorised over series and origins.
* ``auto_ets`` / ``auto_arima``: statsforecast's ``AutoETS`` / ``AutoARIMA``
  (information-criterion search, parametric intervals). A seasonal series
  (season longer than 1, at least two seasons before the first backtest origin)
  first loses its season, a Fourier series fitted with a linear trend by least
  squares (harmonics chosen by AICc, :func:`fourier_season`); the model
  forecasts the rest and the season is added back (FPP3 §12.1 for weekly data).
  ETS's state space does not take a 52-week season (statsforecast, like R's
  ``forecast::ets``, drops seasons longer than 24); seasonal ARIMA at 52 weeks
  took about 8 s per fit here against 0.1 s without; and an STL season (52 free
  values from two or three noisy years) carried last year's noise into the
  forecast, whose intervals then covered 55-70% instead of 80% on synthetic
  series, where a few harmonics cover 80% (``tests/scoring/test_forecast.py``).
* ``lightgbm``: one global gradient-boosting model over every series (direct
  multi-step: the step is a feature). Rows are (series, origin, step); features
  are the last 13 weeks, the mean of the last 52 and the 13-week slope, each
  relative to the series' level (mean of the last 4 weeks) and scale (mean
  absolute value of the last 26), so series of any size share the model; with a
  season, also last season's value at the target week and the week of the year.
  Intervals are split-conformal: a first model trained on all but the last
  ``horizon`` weeks predicts those weeks; its errors, divided by the series'
  mean absolute week-to-week change and by each step's pooled RMS, give
  quantiles that widen the forecast of a second model trained on everything,
  by the same series and step factors. Threads:
  :func:`nbo_engine.threads.lgb_threads`.

Choice: rolling-origin backtest. There are ``n_windows`` origins ``step`` weeks
apart, the last one ``horizon`` weeks before the end; a series takes part in a
window when it has at least ``min_train`` weeks up to that origin. Each model
is refitted at every origin and scored on the next ``horizon`` weeks by MASE
(mean absolute error over every window and step, divided by the in-sample mean
absolute seasonal difference up to the series' first origin; Hyndman & Koehler
2006). Each series takes the model with the lowest MASE (ties go to the model
listed first in :data:`MODELS`), because series of counts and of money, of big
and small products, do not share their best model; a model that failed in any
of the series' windows is not eligible. Series too short for one window get the
seasonal naive forecast only; series with fewer than two seasons before their
first origin are forecast without a season (``season_length`` 1: the baseline
is then the naive forecast); both are said in ``note``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import norm

from nbo_engine.errors import ConfigError, DataValidationError
from nbo_engine.threads import lgb_threads

__all__ = [
    "BACKTEST_COLUMNS",
    "BASELINE",
    "FORECAST_COLUMNS",
    "MODELS",
    "ForecastConfig",
    "ForecastResult",
    "forecast_panel",
    "fourier_season",
]

MODELS: tuple[str, ...] = ("seasonal_naive", "auto_ets", "auto_arima", "lightgbm")
BASELINE = "seasonal_naive"
LEVELS: tuple[int, int] = (80, 95)
FORECAST_COLUMNS: tuple[str, ...] = (
    *("series", "week", "model", "mean", "lo80", "hi80", "lo95", "hi95", "chosen"),
)
BACKTEST_COLUMNS: tuple[str, ...] = (
    *("series", "model", "mase", "mae", "coverage80", "coverage95", "windows"),
    *("season_length", "chosen", "note"),
)
#: Integer settings and their allowed ranges (one error format reads them).
LIMITS: dict[str, tuple[int, int]] = {
    "horizon": (1, 104),
    "season_length": (1, 104),
    "n_windows": (1, 52),
    "step": (1, 104),
    "min_train": (8, 1040),
    "lgb_rounds": (10, 5000),
}
GAPS = ("zero", "interpolate")
N_LAGS = 13  # weeks of lags the global model sees
ANCHOR = 4  # weeks averaged into a series' level
SCALE_WEEKS = 26  # weeks whose mean absolute value scales a series
Array = NDArray[np.float64]
Out = NDArray[np.float64]  # (n_series, horizon, 5): mean, lo80, hi80, lo95, hi95


@dataclass(frozen=True)
class ForecastConfig:
    """Settings of :func:`forecast_panel` (validated on creation).

    ``horizon``, ``step`` and ``min_train`` are in weeks; ``season_length`` is
    weeks per season (52: a year); ``step`` defaults to ``horizon`` (windows
    that do not overlap). ``nonnegative`` clips forecasts and bounds at 0 (counts,
    money) and rejects negative values. ``gaps``: a week missing inside a series
    is 0 (``zero``: counts and sums) or interpolated linearly (``interpolate``:
    levels). ``n_jobs`` caps LightGBM threads (default: :func:`lgb_threads`).
    """

    horizon: int = 13
    season_length: int = 52
    n_windows: int = 3
    step: int | None = None
    min_train: int = 26
    models: tuple[str, ...] = MODELS
    nonnegative: bool = False
    gaps: str = "zero"
    seed: int = 0
    lgb_rounds: int = 200
    n_jobs: int | None = None

    def __post_init__(self) -> None:
        for name, (lo, hi) in LIMITS.items():
            value = getattr(self, name)
            if (name == "step" and value is None) or (
                isinstance(value, int)
                and not isinstance(value, bool)
                and lo <= value <= hi
            ):
                continue
            raise ConfigError(
                f"ForecastConfig.{name}: expected an int in [{lo}, {hi}], got {value!r}"
            )
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise ConfigError(
                f"ForecastConfig.models: got {list(self.models)}; expected a "
                f"non-empty subset of {', '.join(MODELS)}"
            )
        if self.gaps not in GAPS:
            raise ConfigError(
                f"ForecastConfig.gaps: expected one of {', '.join(GAPS)}, "
                f"got {self.gaps!r}"
            )

    @property
    def window_step(self) -> int:
        return self.step if self.step is not None else self.horizon

    @property
    def candidates(self) -> tuple[str, ...]:
        """Models fitted: the baseline always, then the others in MODELS order."""
        return tuple(m for m in MODELS if m == BASELINE or m in self.models)


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts of every candidate model and the backtest that chose one.

    ``forecasts``: one row per (series, week, model) with ``mean`` and the 80%
    and 95% bounds, ``chosen`` marking the series' model (:data:`FORECAST_COLUMNS`).
    ``backtest``: one row per (series, model) with MASE, MAE, interval coverage
    over the backtest windows, the windows and season length used and notes
    (:data:`BACKTEST_COLUMNS`).
    """

    forecasts: pd.DataFrame
    backtest: pd.DataFrame
    chosen: dict[str, str] = field(default_factory=dict)

    def chosen_forecasts(self) -> pd.DataFrame:
        """The rows of each series' chosen model."""
        return self.forecasts[self.forecasts["chosen"]].reset_index(drop=True)


@dataclass
class _Grid:
    """The panel as a dense matrix on one weekly grid."""

    ids: list[str]
    weeks: NDArray[np.datetime64]  # (T,) Mondays (or the panel's weekday)
    y: Array  # (S, T), NaN before each series starts
    start: NDArray[np.int64]  # (S,) first week index of each series


# ------------------------------------------------------------------ validation


def _prepare(panel: pd.DataFrame, config: ForecastConfig) -> _Grid:
    need = ("series", "week", "value")
    missing = [c for c in need if c not in panel.columns]
    if missing:
        raise DataValidationError(
            f"forecast panel: missing column(s) {', '.join(map(repr, missing))}; "
            f"columns present: {', '.join(map(str, panel.columns))}"
        )
    if len(panel) == 0:
        raise DataValidationError(
            "forecast panel: no rows; expected at least one (series, week, value)"
        )
    ids = panel["series"].astype(str).to_numpy()
    weeks = pd.to_datetime(panel["week"], errors="coerce").to_numpy("datetime64[ns]")
    values = pd.to_numeric(panel["value"], errors="coerce").to_numpy(np.float64)

    def where(i: int) -> str:
        return f"forecast panel row {i + 1} (series={ids[i]!r})"

    bad = np.flatnonzero(np.isnat(weeks))
    if bad.size:
        i = int(bad[0])
        raise DataValidationError(
            f"{where(i)}: week {panel['week'].iloc[i]!r} is not a date; "
            "expected the first day of the week, e.g. 2025-01-06"
        )
    days = weeks.astype("datetime64[D]")
    first = days.min()
    off = (days - first).astype(np.int64) % 7
    bad = np.flatnonzero(off != 0)
    if bad.size:
        i = int(bad[0])
        d, f = pd.Timestamp(days[i]), pd.Timestamp(first)
        raise DataValidationError(
            f"{where(i)}: week {d.date()} ({d.day_name()}) is not on the panel's "
            f"weekly grid, which starts on {f.day_name()} {f.date()}; expected "
            f"every week to start on a {f.day_name()}"
        )
    bad = np.flatnonzero(~np.isfinite(values) | (config.nonnegative & (values < 0)))
    if bad.size:
        i = int(bad[0])
        raw = panel["value"].iloc[i]
        shown = (
            repr(float(raw)) if isinstance(raw, int | float | np.number) else repr(raw)
        )
        raise DataValidationError(
            f"{where(i)}, week {pd.Timestamp(days[i]).date()}: value {shown}; "
            + (
                "expected a finite number >= 0 (nonnegative=True)"
                if np.isfinite(values[i])
                else "expected a finite number (leave a missing week out: the gaps "
                "rule fills it)"
            )
        )
    codes, uniq = pd.factorize(ids, sort=True)
    col = ((days - first).astype(np.int64) // 7).astype(np.int64)
    t_len = int(col.max()) + 1
    flat = codes.astype(np.int64) * t_len + col
    dup = pd.Series(flat).duplicated(keep=False).to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        n = int((flat == flat[i]).sum())
        raise DataValidationError(
            f"{where(i)}: week {pd.Timestamp(days[i]).date()} appears {n} times; "
            "expected one value per series and week"
        )
    s_len = len(uniq)
    y = np.full((s_len, t_len), np.nan)
    y[codes, col] = values
    start = np.full(s_len, t_len, dtype=np.int64)
    np.minimum.at(start, codes, col)
    before = np.arange(t_len)[None, :] < start[:, None]
    gap = np.isnan(y) & ~before
    if config.gaps == "zero":
        y[gap] = 0.0
    elif gap.any():
        # Linear in time between the neighbours; a trailing gap keeps the last value.
        y = pd.DataFrame(y.T).interpolate(limit_area=None).to_numpy().T
        y[before] = np.nan
    grid = first + np.arange(t_len).astype("timedelta64[D]") * 7
    return _Grid([str(u) for u in uniq], grid, y, start)


# ------------------------------------------------------------------ baseline


def _take(y: Array, idx: NDArray[np.int64]) -> Array:
    """``y[:, idx]`` with NaN where ``idx`` falls outside ``[0, T)``; shape
    ``(S, *idx.shape)``."""
    out = np.full((y.shape[0], *idx.shape), np.nan)
    ok = (idx >= 0) & (idx < y.shape[1])
    out[:, ok] = y[:, idx[ok]]
    return out


def _seasonal_naive(
    y: Array, start: NDArray[np.int64], origin: int, m: NDArray[np.int64], h: int
) -> Out:
    """Seasonal naive forecasts at ``origin`` for every series, (S, h, 5).

    ``m`` (S,) is each series' season length. The mean at step k is
    ``y[origin - m + 1 + (k - 1) % m]``; sigma is the RMS in-sample seasonal
    difference over ``n - m`` degrees of freedom (statsforecast's convention).
    """
    s_len = y.shape[0]
    k = np.arange(1, h + 1)
    out = np.full((s_len, h, 5), np.nan)
    rows = np.arange(s_len)
    n = origin - start + 1
    for season in np.unique(m):
        sel = rows[(m == season) & (n >= season)]
        if sel.size == 0:
            continue
        seg = y[sel, : origin + 1]
        mean = seg[:, origin - season + 1 + (k - 1) % season]
        ss = np.nansum((seg[:, season:] - seg[:, :-season]) ** 2, axis=1)
        dof = n[sel] - season
        sigma = np.where(dof > 0, np.sqrt(ss / np.maximum(dof, 1)), np.nan)
        spread = sigma[:, None] * np.sqrt(np.floor((k - 1) / season) + 1)[None, :]
        out[sel, :, 0] = mean
        for j, level in enumerate(LEVELS):
            z = norm.ppf(0.5 + level / 200)
            out[sel, :, 1 + 2 * j] = mean - z * spread
            out[sel, :, 2 + 2 * j] = mean + z * spread
    return out


# ------------------------------------------------------------------ statsforecast

_SF_FAIL = (ValueError, ZeroDivisionError, NotImplementedError, np.linalg.LinAlgError)


def _statsforecast(name: str) -> Any:
    from statsforecast.models import AutoARIMA, AutoETS

    if name == "auto_ets":
        return AutoETS(model="ZZN", season_length=1)
    return AutoARIMA(season_length=1)


def _fourier(t: Array, season: int, k: int) -> Array:
    """Harmonics ``sin/cos(2 pi j t / season)``, j = 1..k; shape (len(t), 2k)."""
    angle = 2 * np.pi * t[:, None] * np.arange(1, k + 1)[None, :] / season
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


def fourier_season(
    y: Array, season: int, h: int, max_k: int = 10
) -> tuple[Array, Array]:
    """The seasonal part of ``y`` (n,) as a Fourier series, and its next ``h`` values.

    Least squares of ``y`` on an intercept, a linear trend and ``k`` harmonics of
    period ``season``, ``k`` in ``1..min(max_k, season // 2)`` chosen by AICc
    (dynamic harmonic regression, FPP3 §10.5). Returns the harmonics' part in
    and after the sample, shapes (n,) and (h,).

    Examples
    --------
    >>> t = np.arange(104.0)
    >>> past, future = fourier_season(5 + 0.1 * t + np.sin(2 * np.pi * t / 52), 52, 2)
    >>> np.round(future, 3).tolist()
    [0.0, 0.121]
    """
    n = y.size
    t = np.arange(n + h, dtype=np.float64)
    best: tuple[float, Array] | None = None
    for k in range(1, min(max_k, season // 2) + 1):
        p = 2 + 2 * k
        if n - p - 1 <= 0:
            break
        x = np.column_stack([np.ones(n + h), t, _fourier(t, season, k)])
        coef = np.linalg.lstsq(x[:n], y, rcond=None)[0]
        rss = float(np.sum((y - x[:n] @ coef) ** 2))
        aicc = n * np.log(max(rss, 1e-300) / n) + 2 * p + 2 * p * (p + 1) / (n - p - 1)
        if best is None or aicc < best[0]:
            best = (aicc, x[:, 2:] @ coef[2:])
    part = best[1] if best is not None else np.zeros(n + h)
    return part[:n], part[n:]


def _fit_statsforecast(name: str, y: Array, h: int, season: int) -> Out:
    """One statsforecast model on one series; with a season, on ``y`` less its
    Fourier season, which is added back to the forecast and its bounds."""
    past, future = (
        fourier_season(y, season, h) if season > 1 else (np.zeros(y.size), np.zeros(h))
    )
    with warnings.catch_warnings():
        # The stepwise ARIMA search warns on candidate orders whose optimiser
        # stopped early; the order it keeps is judged by the backtest instead.
        warnings.filterwarnings(
            "ignore", message="possible convergence problem", category=UserWarning
        )
        fc = _statsforecast(name).forecast(y=y - past, h=h, level=list(LEVELS))
    out = np.empty((h, 5))
    out[:, 0] = fc["mean"] + future
    for j, level in enumerate(LEVELS):
        out[:, 1 + 2 * j] = fc[f"lo-{level}"] + future
        out[:, 2 + 2 * j] = fc[f"hi-{level}"] + future
    return out


# ------------------------------------------------------------------ LightGBM


def _design(
    y: Array,
    origins: NDArray[np.int64],
    h: int,
    season: int,
    woy: Array,
) -> tuple[Array, Array, Array, Array]:
    """Features (S, O, h, F), scaled targets (S, O, h), level and scale (S, O)."""
    lag_idx = origins[:, None] - np.arange(N_LAGS)[None, :]
    lags = _take(y, lag_idx)  # (S, O, L), lag 0 = the origin week
    level = lags[..., :ANCHOR].mean(axis=2)
    recent = _take(y, origins[:, None] - np.arange(SCALE_WEEKS)[None, :])
    longer = _take(y, origins[:, None] - np.arange(52)[None, :])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: invalid
        scale = np.nanmean(np.abs(recent), axis=2)
        long_mean = np.nanmean(longer, axis=2)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    rel = (lags - level[..., None]) / scale[..., None]
    slope = (lags[..., :ANCHOR].mean(axis=2) - lags[..., -ANCHOR:].mean(axis=2)) / (
        (N_LAGS - ANCHOR) * scale
    )
    per_origin = [
        rel,
        ((long_mean - level) / scale)[..., None],
        slope[..., None],
        np.log1p(scale)[..., None],
    ]
    steps = np.arange(1, h + 1)
    target_idx = origins[:, None] + steps[None, :]  # (O, h)
    s_len, o_len = level.shape
    base = np.concatenate(per_origin, axis=2)  # (S, O, F0)
    parts = [
        np.broadcast_to(base[:, :, None, :], (s_len, o_len, h, base.shape[2])),
        np.broadcast_to(steps[None, None, :, None], (s_len, o_len, h, 1)),
    ]
    if season > 1:
        seas = _take(y, target_idx - season)  # (S, O, h)
        then = _take(y, origins[:, None] - season - np.arange(ANCHOR)[None, :])
        then_level = then.mean(axis=2)  # last season's level at the origin
        angle = 2 * np.pi * woy[np.minimum(target_idx, woy.size - 1)]
        parts += [
            ((seas - level[..., None]) / scale[..., None])[..., None],
            ((seas - then_level[..., None]) / scale[..., None])[..., None],
            np.broadcast_to(np.sin(angle)[None, :, :, None], (s_len, o_len, h, 1)),
            np.broadcast_to(np.cos(angle)[None, :, :, None], (s_len, o_len, h, 1)),
        ]
    x = np.concatenate(parts, axis=3)
    target = (_take(y, target_idx) - level[..., None]) / scale[..., None]
    return x, target, level, scale


def _lgb_fit(x: Array, t: Array, config: ForecastConfig) -> lgb.Booster:
    params = {
        "objective": "l2",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "max_bin": 63,
        "seed": config.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
        "num_threads": lgb_threads(len(t), config.n_jobs),
    }
    return lgb.train(params, lgb.Dataset(x, t), num_boost_round=config.lgb_rounds)


def _conformal_q(z: Array, alpha: float) -> tuple[float, float]:
    """Split-conformal lower and upper quantiles of scores ``z`` at miscoverage
    ``alpha`` (finite-sample levels ``floor/ceil((n + 1) * q) / n``)."""
    n = z.size
    lo = max(math.floor((n + 1) * alpha / 2) / n, 0.0)
    hi = min(math.ceil((n + 1) * (1 - alpha / 2)) / n, 1.0)
    return (
        float(np.quantile(z, lo, method="lower")),
        float(np.quantile(z, hi, method="higher")),
    )


def _lightgbm(
    y: Array, origin: int, config: ForecastConfig, season: int, woy: Array
) -> tuple[Out, str]:
    """Global LightGBM forecasts at ``origin`` (S, h, 5), or NaN and a reason."""
    h = config.horizon
    s_len = y.shape[0]
    out = np.full((s_len, h, 5), np.nan)
    past = np.arange(N_LAGS - 1, origin, dtype=np.int64)
    x, t, _, row_scale = _design(y, past, h, season, woy)
    steps = np.arange(1, h + 1)
    target_week = past[:, None] + steps[None, :]  # (O, h)
    lag_ok = np.isfinite(x[..., :N_LAGS]).all(axis=3)
    usable = lag_ok & np.isfinite(t) & (target_week <= origin)[None]
    cal = usable & (target_week > origin - h)[None]
    proper = usable & ~cal
    if proper.sum() < 200 or cal.sum() < 50:
        return out, (
            f"too little history for the global model ({int(proper.sum())} "
            f"training rows, {int(cal.sum())} calibration rows; expected >= 200 "
            "and >= 50)"
        )
    first = _lgb_fit(x[proper], t[proper], config)
    # Errors in currency/count units, divided by the series' mean absolute
    # week-to-week change over its history (the MASE scale: estimated on every
    # week, where the calibration weeks alone were too few per series and
    # covered 65-72% at 80%) and by each step's pooled RMS (non-decreasing).
    scale_cal = np.broadcast_to(row_scale[..., None], t.shape)[cal]
    err = (t[cal] - np.asarray(first.predict(x[cal]))) * scale_cal
    k_cal = np.broadcast_to(steps[None, None, :], t.shape)[cal] - 1
    s_cal = np.broadcast_to(np.arange(s_len)[:, None, None], t.shape)[cal]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # not started: all NaN
        spread = np.nanmean(np.abs(np.diff(y[:, : origin + 1], axis=1)), axis=1)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    u = err / spread[s_cal]
    shape = np.sqrt(
        np.bincount(k_cal, u**2, minlength=h)
        / np.maximum(np.bincount(k_cal, minlength=h), 1)
    )
    shape = np.maximum.accumulate(np.where(shape > 0, shape, 1.0))
    z = u / shape[k_cal]
    model = _lgb_fit(x[usable], t[usable], config)
    xf, _, level, scale = _design(y, np.array([origin]), h, season, woy)
    ok = np.isfinite(xf[:, 0, 0, :N_LAGS]).all(axis=1)
    pred = np.asarray(model.predict(xf[ok, 0].reshape(-1, xf.shape[3]))).reshape(-1, h)
    lv, sc = level[ok, 0][:, None], scale[ok, 0][:, None]
    width = spread[ok][:, None] * shape[None, :]
    out[ok, :, 0] = lv + sc * pred
    for j, level_pct in enumerate(LEVELS):
        q_lo, q_hi = _conformal_q(z, 1 - level_pct / 100)
        out[ok, :, 1 + 2 * j] = out[ok, :, 0] + q_lo * width
        out[ok, :, 2 + 2 * j] = out[ok, :, 0] + q_hi * width
    return out, ""


# ------------------------------------------------------------------ backtest


def forecast_panel(
    panel: pd.DataFrame, config: ForecastConfig | None = None
) -> ForecastResult:
    """Forecast every series of a weekly panel and choose a model per series.

    Parameters
    ----------
    panel : frame with ``series`` (id), ``week`` (first day of the week, every
        week on one 7-day grid) and ``value`` (float, e.g. a count or currency
        units per week), one row per series and week. A series starts at its
        first row and runs to the panel's last week; missing weeks follow
        ``config.gaps``.
    config : :class:`ForecastConfig` (defaults: 13 weeks ahead, 52-week season,
        3 backtest windows).

    Returns
    -------
    :class:`ForecastResult` with ``forecasts`` (series x models x horizon rows)
    and ``backtest`` (series x models rows).

    Raises
    ------
    DataValidationError
        A column is missing, a week is not a date or off the weekly grid, a value
        is not finite (or negative with ``nonnegative``), a (series, week) repeats.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> weeks = pd.date_range("2023-01-02", periods=80, freq="7D")
    >>> panel = pd.DataFrame(
    ...     {"series": "a", "week": weeks, "value": 100 + rng.normal(0, 5, 80)}
    ... )
    >>> result = forecast_panel(
    ...     panel, ForecastConfig(models=("seasonal_naive", "auto_ets"))
    ... )
    >>> result.chosen
    {'a': 'auto_ets'}
    >>> result.backtest[["model", "windows", "season_length"]].values.tolist()
    [['seasonal_naive', 3, 1], ['auto_ets', 3, 1]]
    >>> result.forecasts.shape
    (26, 9)
    """
    config = config or ForecastConfig()
    grid = _prepare(panel, config)
    y, start = grid.y, grid.start
    s_len, t_len = y.shape
    h, m = config.horizon, config.season_length
    models = config.candidates
    w_len = config.n_windows
    origins = t_len - 1 - h - config.window_step * np.arange(w_len - 1, -1, -1)
    n_at = origins[None, :] - start[:, None] + 1  # (S, W) training weeks
    part = (origins[None, :] >= 0) & (n_at >= config.min_train)
    windows = part.sum(axis=1)
    first_w = np.where(windows > 0, part.argmax(axis=1), w_len - 1)
    train_first = np.where(windows > 0, n_at[np.arange(s_len), first_w], t_len - start)
    season = np.where(train_first >= 2 * m, m, 1).astype(np.int64)
    notes: list[list[str]] = [[] for _ in range(s_len)]
    for i in range(s_len):
        if windows[i] == 0:
            notes[i].append(
                f"too short to backtest ({t_len - start[i]} weeks; expected at least "
                f"{config.min_train + h}): seasonal naive only"
            )
        if m > 1 and season[i] == 1:
            notes[i].append(
                f"fewer than 2 seasons of history for the first fit ({train_first[i]} "
                f"< {2 * m} weeks): no season, naive baseline"
            )
    woy = _week_of_year(grid.weeks, h)
    gbm_season = m if m > 1 and t_len >= 2 * m + h else 1

    all_origins = [*[int(o) for o in origins], t_len - 1]
    active = np.concatenate([part, (windows > 0)[:, None]], axis=1)  # (S, W+1)
    active[:, -1] |= True  # the final forecast: baseline for every series
    pred = {name: np.full((w_len + 1, s_len, h, 5), np.nan) for name in models}
    failed: dict[str, dict[int, str]] = {name: {} for name in models}
    for j, origin in enumerate(all_origins):
        if origin < 0 or not active[:, j].any():
            continue
        constant = _constant(y, origin)
        pred[BASELINE][j] = _seasonal_naive(y, start, origin, season, h)
        fit_rows = active[:, j] & (windows > 0)
        for name in models:
            if name in (BASELINE, "lightgbm"):
                continue
            for i in map(int, np.flatnonzero(fit_rows & ~constant)):
                try:
                    pred[name][j, i] = _fit_statsforecast(
                        name, y[i, start[i] : origin + 1], h, int(season[i])
                    )
                except _SF_FAIL as exc:
                    week = pd.Timestamp(grid.weeks[origin]).date()
                    failed[name].setdefault(i, f"failed at origin {week}: {exc}")
        if "lightgbm" in models and fit_rows.any():
            out, reason = _lightgbm(y, origin, config, gbm_season, woy)
            pred["lightgbm"][j][fit_rows] = out[fit_rows]
            if reason:
                week = pd.Timestamp(grid.weeks[origin]).date()
                for i in map(int, np.flatnonzero(fit_rows & ~constant)):
                    failed["lightgbm"].setdefault(i, f"at origin {week}: {reason}")
        for name in models:  # a constant history has a constant future
            for i in map(int, np.flatnonzero(fit_rows & constant)):
                value = y[i, origin]
                pred[name][j, i] = [value, value, value, value, value]
    for i in map(int, np.flatnonzero(_constant(y, t_len - 1))):
        notes[i].append("constant history: every model repeats its value")
    if config.nonnegative:
        for name in models:
            np.maximum(pred[name], 0.0, out=pred[name])
    return _assemble(grid, config, pred, part, windows, season, notes, failed, origins)


def _constant(y: Array, origin: int) -> NDArray[np.bool_]:
    """Series whose values up to ``origin`` are all equal (or not started), (S,)."""
    seen = y[:, : origin + 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # not started: all NaN
        return ~(np.nanmax(seen, axis=1) > np.nanmin(seen, axis=1))


def _week_of_year(weeks: NDArray[np.datetime64], h: int) -> Array:
    """Fraction of the year at each grid week and ``h`` weeks past the end."""
    ext = weeks[0] + np.arange(weeks.size + h).astype("timedelta64[D]") * 7
    day = pd.DatetimeIndex(ext).dayofyear.to_numpy()
    return (day - 1) / 365.25


def _assemble(
    grid: _Grid,
    config: ForecastConfig,
    pred: dict[str, NDArray[np.float64]],
    part: NDArray[np.bool_],
    windows: NDArray[np.int64],
    season: NDArray[np.int64],
    notes: list[list[str]],
    failed: dict[str, dict[int, str]],
    origins: NDArray[np.int64],
) -> ForecastResult:
    y, start = grid.y, grid.start
    s_len = y.shape[0]
    h = config.horizon
    models = config.candidates
    safe = np.maximum(origins, 0)
    actual = np.stack([_take(y, o + np.arange(1, h + 1)) for o in safe])  # (W, S, h)
    first = np.where(windows > 0, part.argmax(axis=1), 0)
    scale = np.full(s_len, np.nan)
    for i in map(int, np.flatnonzero(windows > 0)):
        seg = y[i, start[i] : origins[first[i]] + 1]
        scale[i] = np.mean(np.abs(seg[season[i] :] - seg[: -season[i]]))
    rows: list[dict[str, Any]] = []
    chosen: dict[str, str] = {}
    for i, sid in enumerate(grid.ids):
        best, best_score = BASELINE, np.inf
        series_rows = []
        for name in models:
            p = pred[name][:-1, i][part[i]]  # (w, h, 5)
            a = actual[:, i][part[i]]  # (w, h)
            ok = windows[i] > 0 and bool(np.isfinite(p[..., 0]).all())
            # Eligible only with a forecast: a final fit that failed rules it out.
            final_ok = bool(np.isfinite(pred[name][-1, i, :, 0]).all())
            mae = float(np.mean(np.abs(p[..., 0] - a))) if ok else np.nan
            mase = mae / scale[i] if ok and scale[i] > 0 else np.nan
            cover = [
                float(np.mean((p[..., 1 + 2 * j] <= a) & (a <= p[..., 2 + 2 * j])))
                if ok and np.isfinite(p[..., 1 + 2 * j]).all()
                else np.nan
                for j in range(len(LEVELS))
            ]
            score = mase if np.isfinite(mase) else mae
            if ok and final_ok and score < best_score - 1e-12:
                best, best_score = name, score
            note = "; ".join(
                [
                    *notes[i],
                    *([f"{name} {failed[name][i]}"] if i in failed[name] else []),
                ]
            )
            series_rows.append(
                {
                    "series": sid,
                    "model": name,
                    "mase": mase,
                    "mae": mae,
                    "coverage80": cover[0],
                    "coverage95": cover[1],
                    "windows": int(windows[i]),
                    "season_length": int(season[i]),
                    "note": note,
                }
            )
        chosen[sid] = best
        for r in series_rows:
            r["chosen"] = r["model"] == best
        rows.extend(series_rows)
    backtest = pd.DataFrame(rows, columns=list(BACKTEST_COLUMNS))
    future = grid.weeks[-1] + np.arange(1, h + 1).astype("timedelta64[D]") * 7
    frames = []
    for name in models:
        final = pred[name][-1]  # (S, h, 5)
        keep = np.isfinite(final[..., 0]).all(axis=1)
        if name != BASELINE:
            keep &= windows > 0
        idx = np.flatnonzero(keep)
        frames.append(
            pd.DataFrame(
                {
                    "series": np.repeat(np.asarray(grid.ids, dtype=object)[idx], h),
                    "week": np.tile(future.astype("datetime64[ns]"), idx.size),
                    "model": name,
                    **{
                        c: final[idx, :, j].ravel()
                        for j, c in enumerate(("mean", "lo80", "hi80", "lo95", "hi95"))
                    },
                    "chosen": np.repeat(
                        [chosen[grid.ids[i]] == name for i in idx], h
                    ).astype(bool),
                }
            )
        )
    forecasts = pd.concat(frames, ignore_index=True)
    rank = forecasts["model"].map({name: k for k, name in enumerate(MODELS)})
    forecasts = (
        forecasts.assign(_rank=rank)
        .sort_values(["series", "_rank", "week"], kind="stable")
        .reset_index(drop=True)
    )
    return ForecastResult(forecasts[list(FORECAST_COLUMNS)], backtest, chosen)

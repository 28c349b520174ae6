"""Weekly forecasts: model choice against the truth of synthetic series, the
statistical models against statsforecast called directly, short, zero and
gappy series, invariances and error messages.
"""

from __future__ import annotations

import doctest
import importlib
from functools import cache

import numpy as np
import pandas as pd
import pytest
from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

from nbo_engine.errors import ConfigError, DataValidationError
from nbo_engine.scoring.forecast import (
    BACKTEST_COLUMNS,
    FORECAST_COLUMNS,
    MODELS,
    ForecastConfig,
    ForecastResult,
    forecast_panel,
    fourier_season,
)

SEEDS = range(3)
NOISE = 3.0
#: Series of the seasonal panel: (trend per week, phase of the yearly wave).
SHAPES = {"up": (0.15, 0.0), "down": (-0.1, 2.0)}
FAST = ForecastConfig(lgb_rounds=100)
BOUNDS = ["lo95", "lo80", "mean", "hi80", "hi95"]


def truth(weeks: int, trend: float, phase: float) -> np.ndarray:
    t = np.arange(weeks, dtype=np.float64)
    return 60 + trend * t + 10 * np.sin(2 * np.pi * t / 52 + phase)


def seasonal_panel(seed: int, weeks: int = 156) -> pd.DataFrame:
    """Three years of two series with a trend, a yearly wave and N(0, 3) noise."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2022-01-03", periods=weeks, freq="7D")
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "series": name,
                    "week": days,
                    "value": truth(weeks, *shape) + rng.normal(0, NOISE, weeks),
                }
            )
            for name, shape in SHAPES.items()
        ],
        ignore_index=True,
    )


@cache
def seasonal_run(seed: int) -> ForecastResult:
    return forecast_panel(seasonal_panel(seed), FAST)


def flat_panel(seed: int, weeks: int = 80, name: str = "a") -> pd.DataFrame:
    """A local level (random walk, sd 1) observed with N(0, 3) noise."""
    rng = np.random.default_rng(seed)
    level = 100 + np.cumsum(rng.normal(0, 1, weeks))
    days = pd.date_range("2024-01-01", periods=weeks, freq="7D")
    return pd.DataFrame(
        {"series": name, "week": days, "value": level + rng.normal(0, 3, weeks)}
    )


@pytest.fixture(params=SEEDS)
def seed(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


# ------------------------------------------------------------------ the truth


def test_chosen_model_beats_seasonal_naive_and_nears_the_noise_floor(
    seed: int,
) -> None:
    result = seasonal_run(seed)
    bt = result.backtest
    assert list(bt.columns) == list(BACKTEST_COLUMNS)
    assert set(bt["model"]) == set(MODELS)
    for name in SHAPES:
        rows = bt[bt["series"] == name].set_index("model")
        chosen = rows[rows["chosen"]].iloc[0]
        assert rows.loc["seasonal_naive", "season_length"] == 52
        assert rows["windows"].eq(3).all()
        # A 0.15/week trend moves the level ~8 units a year, so last year's
        # value misses by far more than the noise: seasonal naive scores MASE ~1,
        # every fitted model about 0.3-0.5 (measured); 0.7 leaves room.
        assert chosen["mase"] < 0.7 * rows.loc["seasonal_naive", "mase"]
        # The oracle (true trend and wave) has MAE = NOISE * sqrt(2 / pi) = 2.39.
        # Estimating trend and wave from two years costs some; 39 test weeks
        # in 3 correlated windows give the MAE a sampling sd of ~10%; measured
        # ratios 0.9-1.35.
        assert chosen["mae"] < 1.5 * NOISE * np.sqrt(2 / np.pi)
        assert chosen.name == result.chosen[name]


def test_intervals_cover_near_nominal_over_seeds() -> None:
    bt = pd.concat([seasonal_run(s).backtest for s in SEEDS])
    chosen = bt[bt["chosen"]]
    # Pooled over 3 seeds x 2 series x 39 weeks = 234 points; errors are
    # correlated within a window (one fitted level), so the effective sample is
    # nearer 18 windows x ~3: sd of a coverage ~0.05, and the bands are ~2 sd.
    assert 0.68 <= chosen["coverage80"].mean() <= 0.92
    assert 0.85 <= chosen["coverage95"].mean() <= 1.0
    for name in ("auto_ets", "auto_arima", "lightgbm"):
        rows = bt[bt["model"] == name]
        assert 0.65 <= rows["coverage80"].mean() <= 0.95, name
        assert 0.85 <= rows["coverage95"].mean() <= 1.0, name


def test_fourier_season_recovers_a_known_wave() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(156, dtype=np.float64)
    wave = 3 * np.sin(2 * np.pi * t / 52) + 2 * np.cos(4 * np.pi * t / 52)
    y = 5 + 0.1 * t + wave + rng.normal(0, 0.5, t.size)
    past, future = fourier_season(y[:143], 52, 13)
    # Each harmonic coefficient is estimated with sd ~ 0.5 * sqrt(2 / 143) =
    # 0.06, a handful of them: the wave is recovered within a few tenths.
    assert np.abs(past - wave[:143]).max() < 0.4
    assert np.abs(future - wave[143:]).max() < 0.4


# ------------------------------------------------------------------ references


def test_statistical_models_equal_statsforecast_called_directly() -> None:
    panel = flat_panel(1)
    y = panel["value"].to_numpy()
    config = ForecastConfig(
        models=("seasonal_naive", "auto_ets", "auto_arima"), season_length=1
    )
    result = forecast_panel(panel, config)
    fc = result.forecasts.set_index("model")
    for name, model in (
        ("auto_ets", AutoETS(season_length=1)),
        ("auto_arima", AutoARIMA(season_length=1)),
        ("seasonal_naive", SeasonalNaive(season_length=1)),
    ):
        ref = model.forecast(y=y, h=13, level=[80, 95])
        ours = fc.loc[name]
        for column, key in (
            ("mean", "mean"),
            ("lo80", "lo-80"),
            ("hi80", "hi-80"),
            ("lo95", "lo-95"),
            ("hi95", "hi-95"),
        ):
            # Same code on the same numbers: equal to rounding.
            np.testing.assert_allclose(ours[column], ref[key], rtol=1e-9, err_msg=name)


def test_seasonal_naive_and_its_backtest_equal_statsforecast() -> None:
    panel = seasonal_panel(0).query("series == 'up'")
    y = panel["value"].to_numpy()
    result = forecast_panel(panel, ForecastConfig(models=("seasonal_naive",)))
    ours = result.forecasts
    ref = SeasonalNaive(season_length=52).forecast(y=y, h=13, level=[80, 95])
    np.testing.assert_allclose(ours["mean"], ref["mean"], rtol=1e-12)
    np.testing.assert_allclose(ours["lo95"], ref["lo-95"], rtol=1e-12)
    np.testing.assert_allclose(ours["hi80"], ref["hi-80"], rtol=1e-12)
    # Rolling origins by hand: the last 39 weeks in three 13-week windows.
    errors, inside = [], []
    for origin in (116, 129, 142):
        fc = SeasonalNaive(season_length=52).forecast(
            y=y[: origin + 1], h=13, level=[80]
        )
        actual = y[origin + 1 : origin + 14]
        errors.append(np.abs(fc["mean"] - actual))
        inside.append((fc["lo-80"] <= actual) & (actual <= fc["hi-80"]))
    scale = np.mean(np.abs(y[52:117] - y[:65]))
    row = result.backtest.iloc[0]
    assert row["mae"] == pytest.approx(np.mean(errors), rel=1e-12)
    assert row["mase"] == pytest.approx(np.mean(errors) / scale, rel=1e-12)
    assert row["coverage80"] == pytest.approx(np.mean(inside), rel=1e-12)


# ------------------------------------------------------------------ edge cases


def test_short_series_fall_back_and_say_so() -> None:
    long = seasonal_panel(0).query("series == 'up'")
    mid = long.tail(80).assign(series="mid")  # fewer than 2 seasons
    short = long.tail(30).assign(series="short")  # not enough to backtest
    config = ForecastConfig(models=("seasonal_naive", "auto_ets"))
    result = forecast_panel(pd.concat([long, mid, short]), config)
    bt = result.backtest.set_index(["series", "model"])
    assert bt.loc[("up", "auto_ets"), "season_length"] == 52
    assert bt.loc[("mid", "auto_ets"), "season_length"] == 1
    assert "fewer than 2 seasons" in bt.loc[("mid", "auto_ets"), "note"]
    assert bt.loc[("short", "seasonal_naive"), "windows"] == 0
    assert "too short to backtest (30 weeks" in bt.loc[("short", "auto_ets"), "note"]
    assert result.chosen["short"] == "seasonal_naive"
    fc = result.forecasts
    assert set(fc.loc[fc["series"] == "short", "model"]) == {"seasonal_naive"}
    # Without a season the baseline is the naive forecast: the last value.
    naive = fc[(fc["series"] == "mid") & (fc["model"] == "seasonal_naive")]
    assert (naive["mean"] == mid["value"].iloc[-1]).all()


def test_zero_and_intermittent_series() -> None:
    rng = np.random.default_rng(2)
    days = pd.date_range("2024-01-01", periods=70, freq="7D")
    panel = pd.DataFrame(
        {
            "series": np.repeat(["zero", "rare"], 70),
            "week": np.tile(days, 2),
            "value": np.r_[np.zeros(70), rng.poisson(0.3, 70)].astype(float),
        }
    )
    result = forecast_panel(panel, ForecastConfig(nonnegative=True, lgb_rounds=50))
    fc = result.forecasts
    zero = fc[fc["series"] == "zero"]
    assert set(zero["model"]) == set(MODELS)
    assert (zero[BOUNDS].to_numpy() == 0).all()
    bt = result.backtest.set_index(["series", "model"])
    assert np.isnan(bt.loc[("zero", "auto_ets"), "mase"])
    assert "constant history" in bt.loc[("zero", "auto_ets"), "note"]
    assert result.chosen["zero"] == "seasonal_naive"
    rare = fc[fc["series"] == "rare"]
    assert np.isfinite(rare[BOUNDS].to_numpy()).all()
    assert (rare[BOUNDS].to_numpy() >= 0).all()


def test_a_model_that_cannot_fit_a_window_is_not_eligible_and_says_why() -> None:
    # 60 weeks of one series: at the first backtest origin (week 34) the global
    # model has 36 training rows, too few; at the end it has enough.
    panel = flat_panel(7, weeks=60)
    config = ForecastConfig(models=("seasonal_naive", "lightgbm"), lgb_rounds=50)
    result = forecast_panel(panel, config)
    row = result.backtest.set_index("model").loc["lightgbm"]
    assert np.isnan(row["mase"])
    assert not row["chosen"]
    assert (
        "lightgbm at origin 2024-08-19: too little history for the global model "
        "(36 training rows" in row["note"]
    )
    assert result.chosen["a"] == "seasonal_naive"
    assert (result.forecasts["model"] == "lightgbm").sum() == 13


def test_missing_weeks_are_zero_or_interpolated() -> None:
    full = flat_panel(3, weeks=60)
    holes = full.drop(index=[20, 21, 40])
    config = ForecastConfig(models=("seasonal_naive", "auto_ets"), season_length=1)
    as_zero = forecast_panel(holes, config)
    zeros = full.copy()
    zeros.loc[[20, 21, 40], "value"] = 0.0
    pd.testing.assert_frame_equal(
        as_zero.forecasts, forecast_panel(zeros, config).forecasts
    )
    interp = ForecastConfig(
        models=("seasonal_naive", "auto_ets"), season_length=1, gaps="interpolate"
    )
    lines = full.copy()
    v = full["value"]
    lines.loc[20, "value"] = v[19] + (v[22] - v[19]) / 3
    lines.loc[21, "value"] = v[19] + 2 * (v[22] - v[19]) / 3
    lines.loc[40, "value"] = (v[39] + v[41]) / 2
    pd.testing.assert_frame_equal(
        forecast_panel(holes, interp).forecasts,
        forecast_panel(lines, interp).forecasts,
    )


# ------------------------------------------------------------------ invariances


def test_frame_shapes_bounds_order_and_one_choice_per_series() -> None:
    result = seasonal_run(0)
    fc = result.forecasts
    assert list(fc.columns) == list(FORECAST_COLUMNS)
    assert len(fc) == 2 * len(MODELS) * 13
    values = fc[BOUNDS].to_numpy()
    assert (np.diff(values, axis=1) >= -1e-9).all()
    last = seasonal_panel(0)["week"].max()
    weeks = sorted(fc["week"].unique())
    assert weeks[0] == last + pd.Timedelta(days=7)
    assert len(weeks) == 13
    assert fc.groupby("series")["chosen"].sum().eq(13).all()
    assert result.chosen_forecasts()["model"].tolist() == [
        result.chosen[s] for s in result.chosen_forecasts()["series"]
    ]


def test_row_order_and_scale_do_not_change_the_answer() -> None:
    panel = pd.concat([flat_panel(5, name="a"), flat_panel(6, name="b")])
    config = ForecastConfig(
        models=("seasonal_naive", "auto_ets", "lightgbm"), lgb_rounds=50
    )
    base = forecast_panel(panel, config)
    shuffled = forecast_panel(panel.sample(frac=1.0, random_state=1), config)
    pd.testing.assert_frame_equal(base.forecasts, shuffled.forecasts)
    pd.testing.assert_frame_equal(base.backtest, shuffled.backtest)
    # Money in pence instead of pounds: the same forecasts x 100, the same MASE
    # (ETS's optimiser works on other numbers, so to 1e-4; the baseline exactly).
    pence = forecast_panel(panel.assign(value=panel["value"] * 100), config)
    for name, rtol in (("seasonal_naive", 1e-12), ("auto_ets", 1e-4)):
        a = base.forecasts[base.forecasts["model"] == name][BOUNDS].to_numpy()
        b = pence.forecasts[pence.forecasts["model"] == name][BOUNDS].to_numpy()
        np.testing.assert_allclose(b, 100 * a, rtol=rtol)
        ma = base.backtest[base.backtest["model"] == name]["mase"].to_numpy()
        mb = pence.backtest[pence.backtest["model"] == name]["mase"].to_numpy()
        np.testing.assert_allclose(mb, ma, rtol=rtol)


def test_doctests() -> None:
    for name in ("nbo_engine.scoring.forecast", "nbo_engine.jobs.forecast"):
        result = doctest.testmod(
            importlib.import_module(name), optionflags=doctest.ELLIPSIS
        )
        assert result.failed == 0, name
        assert result.attempted > 0, name


# ------------------------------------------------------------------ errors

PANEL = pd.DataFrame(
    {
        "series": ["a", "a", "b"],
        "week": ["2025-01-06", "2025-01-13", "2025-01-06"],
        "value": [1.0, 2.0, 3.0],
    }
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p.drop(columns="value"),
            r"forecast panel: missing column\(s\) 'value'; columns present: series, week",
        ),
        (lambda p: p.iloc[:0], r"forecast panel: no rows; expected at least one"),
        (
            lambda p: p.assign(week=["2025-01-06", "not a date", "2025-01-06"]),
            r"forecast panel row 2 \(series='a'\): week 'not a date' is not a date; "
            r"expected the first day of the week",
        ),
        (
            lambda p: p.assign(week=["2025-01-06", "2025-01-15", "2025-01-06"]),
            r"forecast panel row 2 \(series='a'\): week 2025-01-15 \(Wednesday\) is "
            r"not on the panel's weekly grid, which starts on Monday 2025-01-06; "
            r"expected every week to start on a Monday",
        ),
        (
            lambda p: p.assign(value=[1.0, np.nan, 3.0]),
            r"forecast panel row 2 \(series='a'\), week 2025-01-13: value nan; "
            r"expected a finite number \(leave a missing week out",
        ),
        (
            lambda p: p.assign(week=["2025-01-06", "2025-01-06", "2025-01-06"]),
            r"forecast panel row 1 \(series='a'\): week 2025-01-06 appears 2 times; "
            r"expected one value per series and week",
        ),
    ],
)
def test_panel_errors_name_row_value_and_expectation(change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataValidationError, match=message):
        forecast_panel(change(PANEL), ForecastConfig(models=("seasonal_naive",)))


def test_negative_value_is_refused_when_nonnegative() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"row 3 \(series='b'\), week 2025-01-06: value -3.0; expected a "
        r"finite number >= 0 \(nonnegative=True\)",
    ):
        forecast_panel(
            PANEL.assign(value=[1.0, 2.0, -3.0]), ForecastConfig(nonnegative=True)
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"horizon": 0},
            r"ForecastConfig.horizon: expected an int in \[1, 104\], got 0",
        ),
        (
            {"season_length": 2.5},
            r"ForecastConfig.season_length: expected an int in \[1, 104\], got 2.5",
        ),
        ({"step": 0}, r"ForecastConfig.step: expected an int in \[1, 104\], got 0"),
        (
            {"models": ("prophet",)},
            r"ForecastConfig.models: got \['prophet'\]; expected a non-empty subset "
            r"of seasonal_naive, auto_ets, auto_arima, lightgbm",
        ),
        (
            {"gaps": "ffill"},
            r"ForecastConfig.gaps: expected one of zero, interpolate, got 'ffill'",
        ),
    ],
)
def test_config_errors_give_the_range_and_value(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        ForecastConfig(**kwargs)

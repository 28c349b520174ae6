"""Machine-learned CLV: features, no leakage, accuracy against the baseline."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nbo_engine.scoring import MLCLVModel, evaluate_clv, fit_ml_clv, select_clv_model
from nbo_engine.scoring.clv_features import future_value, rfm_features
from tests.scoring.conftest import SimulatedBank

CAL = np.datetime64("2025-06-30")
HOLD = np.datetime64("2025-12-29")


@pytest.fixture(scope="module")
def log(small_sim: SimulatedBank) -> pd.DataFrame:
    return small_sim.log()


def test_features_use_only_the_past_and_labels_only_the_future(
    log: pd.DataFrame,
) -> None:
    """Rewriting every transaction after the cutoff changes no feature and
    every label; rewriting those before changes no label."""
    future = log["date"] > pd.Timestamp(CAL) + pd.Timedelta(days=1)
    changed = log.copy()
    changed.loc[future, "amount"] *= 10
    a = rfm_features(log, CAL, "W")
    b = rfm_features(changed, CAL, "W")
    pd.testing.assert_frame_equal(a, b)
    ids = np.asarray(a.index, dtype=object)
    p0, r0 = future_value(log, CAL, 182, ids, "W")
    p1, r1 = future_value(changed, CAL, 182, ids, "W")
    np.testing.assert_array_equal(p0, p1)
    np.testing.assert_allclose(r1, 10 * r0)
    past = changed.copy()
    past.loc[~future, "amount"] += 1
    np.testing.assert_allclose(future_value(past, CAL, 182, ids, "W")[1], r1)


def test_training_never_reads_past_the_cutoff(log: pd.DataFrame) -> None:
    future = log["date"] > pd.Timestamp(CAL) + pd.Timedelta(days=1)
    changed = log.copy()
    changed.loc[future, "amount"] *= 3
    a = fit_ml_clv(log, CAL, 182, freq="W", seed=1)
    b = fit_ml_clv(changed, CAL, 182, freq="W", seed=1)
    assert a.revenue_model == b.revenue_model
    assert a.purchases_model == b.purchases_model
    assert all(np.datetime64(c) + 182 <= CAL for c in a.info["training_cutoffs"])


def test_ml_beats_the_historical_average_on_the_holdout(log: pd.DataFrame) -> None:
    """On the simulated bank the ML model's holdout revenue MAE and Gini beat
    each customer's calibration rate carried forward."""
    report = evaluate_clv(log, CAL, HOLD, freq="W", models=["ml"])
    scores = {s.name: s.metrics for s in report.scores}
    ml, hist = scores["ml"], scores["historical_average"]
    assert ml["revenue_mae"] < 0.9 * hist["revenue_mae"]
    assert ml["purchases_mae"] < hist["purchases_mae"]
    assert ml["normalized_gini"] > hist["normalized_gini"]
    assert ml["spearman"] > hist["spearman"]


def test_profile_columns_and_json_round_trip(log: pd.DataFrame) -> None:
    ids = np.unique(log["customer_id"].to_numpy())
    rng = np.random.default_rng(0)
    profile = pd.DataFrame(
        {
            "age": rng.normal(45, 12, ids.size),
            "region": rng.choice(["n", "s"], ids.size),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    m = fit_ml_clv(log, CAL, 182, freq="W", profile=profile, seed=2)
    assert {"age", "region"} <= set(m.features)
    back = MLCLVModel.from_dict(json.loads(json.dumps(m.to_dict())))
    pd.testing.assert_frame_equal(
        back.predict(log, CAL, profile), m.predict(log, CAL, profile)
    )
    p = m.predict(log, CAL, profile)
    assert (p >= 0).all().all()


def test_short_history_scales_a_shorter_label_window(log: pd.DataFrame) -> None:
    """With less history than the horizon, labels cover half the history and
    predictions are scaled up to the horizon (and say so)."""
    start = log["date"].min()
    cut = np.datetime64((start + pd.Timedelta(days=120)).date())
    m = fit_ml_clv(log, cut, 365, freq="W")
    assert m.scale > 1
    assert m.info["label_days"] < 365


def test_model_choice_by_holdout(log: pd.DataFrame) -> None:
    """The chosen model is the one with the best holdout metric among the
    fitted models (never a baseline)."""
    name, report = select_clv_model(
        log, HOLD, holdout_days=182, freq="W", models=["bgnbd", "pareto_nbd"]
    )
    fitted = {
        s.name: s.metrics["revenue_mae"] for s in report.scores if s.kind != "baseline"
    }
    assert name == min(fitted, key=fitted.__getitem__)
    assert report.calibration_end == str(HOLD - 182)

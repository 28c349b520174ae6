"""Warm start from logged data and from the simulated campaign history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbo_engine.bandit import (
    LinUCB,
    LogisticTS,
    importance_weights,
    logged_from_campaign_history,
    warm_start,
)
from nbo_engine.errors import DataValidationError
from nbo_engine.simulate import OFFERS


def test_importance_weights_recover_the_population_mean() -> None:
    """A logging policy that offers arm 0 mostly to high-x customers: an
    intercept-only model fitted on them is biased; weighted by 1/propensity it
    estimates the population mean. True mean reward 0.5 + 0.3 E[x] = 0.5;
    n = 20000 rows give an sd near 0.005; we allow 0.02."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 20000)
    p0 = np.where(x > 0, 0.9, 0.1)  # propensity of arm 0
    arms = (rng.random(20000) >= p0).astype(np.int64)
    prop = np.where(arms == 0, p0, 1 - p0)
    rewards = 0.5 + 0.3 * x + rng.normal(0, 0.1, 20000)
    X = np.ones((20000, 1))
    plain = warm_start(LinUCB(2, 1), X, arms, rewards)
    weighted = warm_start(LinUCB(2, 1), X, arms, rewards, prop, max_weight=100)
    assert abs(plain.theta_[0, 0] - 0.5) > 0.1  # biased: 0.5 + 0.3 E[x | arm 0] = 0.62
    assert abs(weighted.theta_[0, 0] - 0.5) < 0.02
    # Normalised weights keep the number of observations per arm honest.
    np.testing.assert_allclose(weighted.count_, np.bincount(arms), rtol=1e-9)


def test_importance_weights_are_capped() -> None:
    prop = np.r_[np.ones(100), 0.001]  # one row would weigh 92x the mean
    w = importance_weights(prop, np.zeros(101, np.int64), 1)
    assert w.max() == 10.0


def test_campaign_history_maps_to_logged_data(small_bank: Path) -> None:
    """The simulated campaign_history (randomised control groups, logged
    treatment probabilities): treated rows become (offer, converted, p);
    the MAP of an intercept-only logistic policy warm-started on them is each
    offer's importance-weighted treated conversion rate (within 0.005: the
    nearly flat N(0, 100) prior moves the logit a little on ~100 rows)."""
    hist = pd.read_csv(small_bank / "campaign_history.csv")
    hist = hist[hist["offer_id"].isin([o.offer_id for o in OFFERS])]
    hist = hist.dropna(subset=["treated", "converted", "treatment_probability"])
    # The fixture bank is 3% dirty; ingest would quarantine these rows.
    hist = hist[hist["treatment_probability"].between(0.0, 1.0, inclusive="right")]
    hist["treated"] = hist["treated"].astype(str).str.lower().isin(["true", "1"])
    hist["converted"] = hist["converted"].astype(str).str.lower().isin(["true", "1"])
    offer_ids = [o.offer_id for o in OFFERS]
    data = logged_from_campaign_history(hist, np.ones((len(hist), 1)), offer_ids)
    assert data.contexts.shape[0] == int(hist["treated"].sum())
    pol = warm_start(
        LogisticTS(len(offer_ids), 1, prior_precision=0.01),
        data.contexts,
        data.arms,
        data.rewards,
        data.propensities,
    )
    w = importance_weights(data.propensities, data.arms, len(offer_ids))
    for k in np.unique(data.arms):
        sel = data.arms == k
        observed = np.average(data.rewards[sel], weights=w[sel])
        fitted = 1 / (1 + np.exp(-pol.mean_[k, 0]))
        assert abs(fitted - observed) < 0.005, (offer_ids[k], fitted, observed)
    with_control = logged_from_campaign_history(
        hist, np.ones((len(hist), 1)), offer_ids, control_arm=0
    )
    assert with_control.contexts.shape[0] == len(hist)
    ctrl = ~hist["treated"].to_numpy()
    np.testing.assert_allclose(
        with_control.propensities[ctrl],
        1 - hist["treatment_probability"].to_numpy()[ctrl],
    )


def test_campaign_history_errors() -> None:
    h = pd.DataFrame({"offer_id": ["zz"], "treated": [True], "converted": [False]})
    with pytest.raises(
        DataValidationError, match=r"missing column\(s\) \['treatment_probability'\]"
    ):
        logged_from_campaign_history(h, np.ones((1, 1)), ["a"])
    h["treatment_probability"] = 0.5
    with pytest.raises(DataValidationError, match=r"offer_id \['zz'\] not among"):
        logged_from_campaign_history(h, np.ones((1, 1)), ["a"])
    with pytest.raises(
        DataValidationError, match=r"expected one row per campaign_history row"
    ):
        logged_from_campaign_history(h, np.ones((2, 1)), ["zz"])

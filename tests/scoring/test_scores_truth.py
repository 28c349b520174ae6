"""Churn and propensity against the simulator's true probabilities.

The bank is simulated without dirt and read straight from its files; features
are built at three quarterly dates, models are selected over time folds, and the
out-of-time AUC at the newest labelled date is compared with the *oracle AUC*:
the AUC of the true probabilities (``truth/snapshots.parquet``) on the same
customers and the same realised outcomes. The oracle is the ceiling no model can
beat on average; the margins below are what a model that sees only observable
data loses to it on this simulator (about 0.06 for churn, measured on 20k
customers) plus sampling noise at this size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from nbo_engine.features import build_features
from nbo_engine.ingest.schemas import PRODUCTS
from nbo_engine.scoring.churn import train_churn
from nbo_engine.scoring.labels import churn_labels, takeup_labels
from nbo_engine.scoring.models import load_model
from nbo_engine.scoring.propensity import PropensityModel, train_propensity
from nbo_engine.scoring.training import label_dates
from nbo_engine.simulate import SimConfig, simulate_bank
from nbo_engine.simulate.files import read_bank

AS_OF = pd.Timestamp("2025-12-28")
CHURN_MARGIN = 0.10
PROPENSITY_MARGIN = 0.12


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("scores_bank")
    simulate_bank(SimConfig(customers=15_000, weeks=104, seed=21, dirt=0.0), out)
    tables = read_bank(out)
    dates = label_dates(AS_OF)
    frames = [build_features(tables, d) for d in dates]
    churn = train_churn(
        frames, dates, tables["accounts"], families=("logistic", "lightgbm")
    )
    prop = train_propensity(frames, dates, tables["accounts"])
    snap = pd.read_parquet(out / "truth" / "snapshots.parquet")
    snap = snap[pd.to_datetime(snap["as_of"]) == dates[-1]].set_index("customer_id")
    return {
        "tables": tables,
        "dates": dates,
        "frames": frames,
        "churn": churn,
        "propensity": prop,
        "truth": snap,
    }


def test_churn_auc_close_to_the_oracle(trained: dict) -> None:  # type: ignore[type-arg]
    frame = trained["frames"][-1]
    ok, y = churn_labels(
        trained["tables"]["accounts"], frame.index, trained["dates"][-1]
    )
    p_true = trained["truth"]["churn_prob_90d"].reindex(frame.index[ok]).to_numpy()
    oracle = roc_auc_score(y[ok], p_true)
    model = trained["churn"].holdout["auc"]
    assert oracle > 0.75  # the truth is informative at all
    assert model >= oracle - CHURN_MARGIN, (model, oracle)


def test_churn_is_calibrated(trained: dict) -> None:  # type: ignore[type-arg]
    hold = trained["churn"].holdout
    assert abs(hold["mean_prediction"] - hold["base_rate"]) < 0.2 * hold["base_rate"]


def test_propensity_auc_close_to_the_oracle(trained: dict) -> None:  # type: ignore[type-arg]
    frame = trained["frames"][-1]
    ok, y = takeup_labels(
        trained["tables"]["accounts"], frame.index, trained["dates"][-1]
    )
    model: PropensityModel = trained["propensity"]
    gaps = {}
    for p in model.models:
        j = PRODUCTS.index(p)
        m = ok[:, j]
        if y[m, j].sum() < 30:
            continue  # too few take-ups at this size for a stable AUC
        oracle = roc_auc_score(
            y[m, j],
            trained["truth"][f"propensity_{p}"].reindex(frame.index[m]).to_numpy(),
        )
        gaps[p] = oracle - model.metrics[p]["blended_holdout"]["auc"]
    assert len(gaps) >= 3, gaps
    assert np.mean(list(gaps.values())) <= PROPENSITY_MARGIN, gaps


def test_models_round_trip_through_json(trained: dict) -> None:  # type: ignore[type-arg]
    frame = trained["frames"][-1]
    churn = trained["churn"].model
    again = load_model(churn.to_json())
    np.testing.assert_allclose(again.predict_proba(frame), churn.predict_proba(frame))
    prop: PropensityModel = trained["propensity"]
    back = PropensityModel.from_dict(prop.to_dict())
    pd.testing.assert_frame_equal(back.predict(frame), prop.predict(frame))


def test_next_best_product_is_not_held(trained: dict) -> None:  # type: ignore[type-arg]
    from nbo_engine.scoring.propensity import next_best_product

    frame = trained["frames"][-1]
    best = next_best_product(trained["propensity"].predict(frame))
    held = {p: frame[f"held_{p}"].to_numpy() > 0 for p in PRODUCTS}
    for p in PRODUCTS[1:]:
        assert not (held[p] & (best.to_numpy() == p)).any()

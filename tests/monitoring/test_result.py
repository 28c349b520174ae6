"""One monitoring pass end to end (pure): retraining rules, messages, JSON."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from nbo_engine.monitoring import (
    FORMAT,
    ModelSpec,
    MonitorResult,
    Outcomes,
    Thresholds,
    monitor,
)
from tests.monitoring.conftest import snapshots

MODELS = [
    ModelSpec("churn_90d", ("churn_90d",), ("age", "tenure_days")),
    ModelSpec("clv", ("clv_12m",), ()),
    ModelSpec("segments", ("value_tier",), ("dig_logins_30",)),
]


def _run(
    rng: np.random.Generator, models: list[ModelSpec] = MODELS, **kw: object
) -> MonitorResult:
    ref, cur, _ = snapshots(rng)
    numeric = [c for c in ref.columns if ref[c].dtype.kind == "f"]
    return monitor(
        ref, cur, numeric=numeric, categorical=["value_tier", "life_stage"],
        models=models, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_score_and_feature_drift_request_their_models(rng: np.random.Generator) -> None:
    result = _run(rng)
    # churn_90d doubled (its score) and age moved (its feature): retrain churn.
    # clv_12m and the segments' inputs did not move: no retrain for them.
    assert [r.model for r in result.retrain] == ["churn_90d"]
    reasons = result.retrain[0].reasons
    assert any("churn_90d" in r for r in reasons)
    alerts = {(a.kind, a.subject): a for a in result.alerts}
    churn = alerts[("psi", "churn_90d")]
    assert churn.level == "alert"
    assert churn.models == ("churn_90d",)
    assert churn.threshold == 0.25
    assert "90-day churn score (churn_90d)" in churn.message
    assert "churn model should be retrained" in churn.message
    # Missing deposits: no model reads it, so an alert without a retrain.
    deposits = alerts[("psi", "bal_deposits")]
    assert deposits.models == ()
    assert re.search(
        r"missing for 1[3-7]% of customers now, 0% before", deposits.message
    )
    assert result.retrain_requested


def test_a_retrained_model_is_not_asked_to_retrain_for_its_own_shift(
    rng: np.random.Generator,
) -> None:
    changed = [
        ModelSpec("churn_90d", ("churn_90d",), (), changed=True),
        *MODELS[1:],
    ]
    result = _run(rng, models=changed)
    churn = next(a for a in result.alerts if a.subject == "churn_90d")
    assert churn.level == "alert"
    assert churn.models == ()
    assert "was retrained between the two snapshots" in churn.message
    assert result.retrain == ()


def test_to_dict_is_strict_json_with_every_part(rng: np.random.Generator) -> None:
    p = rng.uniform(0, 0.3, 2000)
    y = (rng.random(2000) < p).astype(float)
    counts = pd.DataFrame(
        {"offer_id": ["cc"], "channel": ["web"], "shown": [100], "accepted": [7]}
    )
    result = _run(
        rng,
        outcomes=[
            Outcomes("churn_90d", y, p, model="churn_90d", auc_baseline=0.7),
            Outcomes("propensity_mortgage", y[:30], p[:30], model="propensity"),
        ],
        acceptance=counts,
        thresholds=Thresholds(psi_warn=0.05),
        notes=["a note"],
    )
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)  # NaN would raise here
    assert json.loads(text) == d
    assert d["format"] == FORMAT
    assert set(d) == {
        "format", "summary", "thresholds", "drift", "health", "acceptance",
        "alerts", "retrain", "notes",
    }  # fmt: skip
    assert d["thresholds"]["psi_warn"] == 0.05
    assert d["notes"] == ["a note"]
    assert {h["status"] for h in d["health"]} == {"ok", "insufficient_outcomes"}
    assert d["health"][1]["auc"] is None
    assert [(a["offer_id"], a["channel"]) for a in d["acceptance"]] == [
        ("cc", "all"),
        ("cc", "web"),
    ]
    assert set(d["alerts"][0]) == {
        "kind", "level", "subject", "value", "threshold", "message", "models",
    }  # fmt: skip
    s = d["summary"]
    assert s["alerts"] + s["warnings"] == len(d["alerts"])
    assert s["retrain"] == [r["model"] for r in d["retrain"]]
    assert s["models_judged"] == 1
    assert s["insufficient_outcomes"] == 1


def test_nothing_to_compare_is_a_neutral_result() -> None:
    result = monitor(None, None, notes=["no snapshot"])
    assert result.drift == ()
    assert result.alerts == ()
    assert not result.retrain_requested
    assert result.to_dict()["summary"]["columns_compared"] == 0

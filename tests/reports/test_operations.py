"""Sections read from other jobs' books: proposals, monitoring, ingest, forecasts."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from nbo_engine.reports import (
    Alerts,
    DataQuality,
    Forecasts,
    Missing,
    PolicyChanges,
    alerts,
    check_forecasts,
    data_quality,
    forecasts,
    policy_changes,
)

WEEK = dt.date(2026, 6, 1)


def _proposals(*changes: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(1, len(changes) + 1),
            "status": "proposed",
            "mode": "propose",
            "created_at": dt.datetime(2026, 6, 3, tzinfo=dt.UTC),
            "changes": list(changes),
        }
    )


def test_each_change_is_a_row_and_unreadable_ones_say_so() -> None:
    good = json.dumps(
        [
            {
                "kind": "suppress",
                "offer": "o",
                "segment": "s",
                "before": 1.0,
                "after": 0.0,
                "reason": "harmful",
                "evidence": {"ci": [-2, -1]},
            },
            {"kind": "traffic", "offer": "o2", "reason": "wins"},
        ]
    )
    got = policy_changes(_proposals(good, "{not json", "[]"))
    assert isinstance(got, PolicyChanges)
    c = got.changes
    assert list(c["kind"]) == ["suppress", "traffic", "unreadable", "none"]
    assert c.loc[0, "evidence"] == "ci=[-2, -1]"
    assert c.loc[0, "before"] == "1"
    assert c.loc[1, "segment"] == ""
    assert c.loc[2, "reason"].startswith(
        "policy_proposals id 2: changes could not be read"
    )
    assert isinstance(policy_changes(_proposals()), Missing)


def test_alerts_of_a_recent_report_and_a_stale_one() -> None:
    report = json.dumps(
        {
            "alerts": [
                {
                    "kind": "drift",
                    "subject": "age",
                    "value": "0.3",
                    "threshold": 0.2,
                    "message": "PSI 0.3",
                },
                "garbage",
            ]
        }
    )
    rows = pd.DataFrame(
        {
            "id": [9],
            "as_of": [dt.date(2026, 6, 4)],
            "report": [report],
            "retrain_requested": [1],
        }
    )
    got = alerts(rows, week=WEEK)
    assert isinstance(got, Alerts)
    assert got.retrain_requested
    assert got.alerts.loc[0, "value"] == pytest.approx(0.3)
    assert len(got.alerts) == 2  # a malformed alert is kept as an empty line
    stale = alerts(rows.assign(as_of=dt.date(2026, 5, 1)), week=WEEK)
    assert isinstance(stale, Missing)
    assert "the newest monitoring report is of 2026-05-01" in stale.because
    broken = alerts(rows.assign(report="{"), week=WEEK)
    assert isinstance(broken, Alerts)
    assert broken.alerts.loc[0, "kind"] == "unreadable"
    assert isinstance(alerts(rows.iloc[0:0], week=WEEK), Missing)


def test_loads_are_summed_per_entity_with_reasons() -> None:
    runs = pd.DataFrame(
        {
            "entity": ["accounts", "transactions", "transactions"],
            "status": ["succeeded", "succeeded", "failed"],
            "rows_read": [10, 100, 5],
            "rows_inserted": [9, 90, 0],
            "rows_updated": [0, 1, 0],
            "rows_fixed": [1, 2, 0],
            "rows_quarantined": [1, 7, 0],
            "duplicates_dropped": [0, 2, 0],
            "quarantine_reasons": [
                '{"bad_date": 1}',
                '{"bad_amount": 4, "bad_date": 3}',
                None,
            ],
        }
    )
    got = data_quality(runs, since=WEEK, until=dt.date(2026, 6, 8))
    assert isinstance(got, DataQuality)
    t = got.runs.set_index("entity")
    assert (t.loc["transactions", "runs"], t.loc["transactions", "failed"]) == (2, 1)
    assert t.loc["transactions", "rows_read"] == 105
    assert got.reasons.to_dict("records") == [
        {"reason": "bad_amount", "rows": 4},
        {"reason": "bad_date", "rows": 4},
    ]
    none = data_quality(
        runs.iloc[0:0],
        since=WEEK,
        until=dt.date(2026, 6, 8),
        last_run=dt.datetime(2026, 5, 20, 7, 30),
    )
    assert isinstance(none, Missing)
    assert none.because == (
        "no file was loaded between 2026-06-01 and 2026-06-08; the last load started "
        "2026-05-20 07:30"
    )


def test_forecasts_are_checked_and_completed() -> None:
    raw = pd.DataFrame(
        {
            "series": ["b", "a", "a"],
            "week": ["2026-06-15", "2026-06-22", "2026-06-15"],
            "model": "ets",
            "mean": [1.0, 3.0, 2.0],
            "lo80": [0.5, 2.0, 1.0],
        }
    )
    f = check_forecasts(raw)
    assert list(f["series"]) == ["a", "a", "b"]
    assert f["week"].iloc[0] == dt.date(2026, 6, 15)
    assert np.isnan(f["hi95"]).all()
    assert isinstance(forecasts(raw), Forecasts)
    assert forecasts(None) == Missing("no forecast was produced for this report")
    assert isinstance(forecasts(raw.iloc[0:0]), Missing)

"""Every figure as a table, in CSV and in one JSON document."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from nbo_engine.reports import (
    Headline,
    UpliftTable,
    WeeklyEvidence,
    figures,
    write_figures,
)
from tests.reports.demo import demo_evidence


def test_every_section_has_its_figures(demo: WeeklyEvidence) -> None:
    figs = figures(demo)
    assert set(figs) == {
        "headline",
        "uplift",
        "playbook",
        "playbook_trend",
        "playbook_offers",
        "experiments",
        "experiment_metrics",
        "qini_curves",
        "qini_coefficients",
        "bandit_weekly",
        "offer_mix",
        "policy_changes",
        "forecasts",
        "alerts",
        "data_quality",
        "quarantine_reasons",
        "missing",
    }
    assert figs["missing"].empty
    assert isinstance(demo.headline, Headline)
    total = figs["headline"].set_index("metric").loc["incremental value, total (GBP)"]
    assert total["effect"] == pytest.approx(demo.headline.incremental_value)
    assert isinstance(demo.uplift, UpliftTable)
    pd.testing.assert_frame_equal(figs["uplift"], demo.uplift.frame)


def test_files_hold_the_same_numbers(demo: WeeklyEvidence, tmp_path: Path) -> None:
    files = write_figures(demo, tmp_path)
    assert files.json == tmp_path / "figures.json"
    body = json.loads(files.json.read_text(encoding="utf-8"))  # strict: no NaN
    assert body["week"] == "2026-06-01"
    figs = figures(demo)
    assert {p.stem for p in files.csv} == set(figs) == set(body["figures"])
    back = pd.read_csv(tmp_path / "figures" / "uplift.csv")
    assert back["effect"].to_numpy() == pytest.approx(
        figs["uplift"]["effect"].to_numpy()
    )
    first = body["figures"]["uplift"][0]
    assert first["effect"] == pytest.approx(float(figs["uplift"]["effect"].iloc[0]))
    assert isinstance(first["harmful"], bool)
    fc = body["figures"]["forecasts"][0]
    assert fc["week"] == "2026-06-08"  # dates as ISO text


def test_missing_sections_are_listed_with_their_reason() -> None:
    ev = demo_evidence(
        n=2000, qini="no score snapshot succeeded", alerts="no report yet"
    )
    figs = figures(ev)
    assert "qini_curves" not in figs
    assert figs["missing"].to_dict("records") == [
        {"section": "alerts", "reason": "no report yet"},
        {"section": "qini", "reason": "no score snapshot succeeded"},
    ]


def test_the_json_has_no_nan(demo: WeeklyEvidence, tmp_path: Path) -> None:
    ev = dataclasses.replace(demo, policy_name=None)
    text = write_figures(ev, tmp_path).json.read_text(encoding="utf-8")
    assert "NaN" not in text
    assert json.loads(text)["policy"] is None

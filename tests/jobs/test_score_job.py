"""The score refresh end to end, on SQLite and PostgreSQL, from the CLI and the job.

A small dirty bank is simulated, ingested like production data, then scored:
every customer gets one row per snapshot, models are registered with their
metrics, a second refresh adds a snapshot without touching the first, and a
refresh that fails leaves the previous snapshot active.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nbo_engine.cli import app
from nbo_engine.cli._app import console
from nbo_engine.config import get_settings
from nbo_engine.ingest import ingest_dir
from nbo_engine.jobs.score import refresh_scores
from nbo_engine.simulate import SimConfig, simulate_bank
from nbo_engine.store import Engine
from nbo_engine.store import scores as store
from nbo_engine.store.queries import read_table

runner = CliRunner()
FAST = {
    "train_sample": 1_000,
    "chunk_customers": 700,  # several chunks, so chunked scoring is exercised
    "churn_families": ("logistic", "lightgbm"),
}


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("score_bank")
    simulate_bank(SimConfig(customers=1_800, weeks=78, seed=13, dirt=0.01), out)
    return out


@pytest.fixture
def loaded(engine: Engine, bank: Path) -> Engine:
    ingest_dir(bank, engine=engine)
    return engine


def test_refresh_scores_every_customer_and_registers_models(loaded: Engine) -> None:
    # Two worker processes score the chunks (the same rows as inline: below).
    report = refresh_scores(loaded, workers=2, **FAST)  # type: ignore[arg-type]
    customers = read_table(loaded, "customers", columns=["customer_id"])
    assert report.n_customers == len(customers)
    snap = store.latest_snapshot(loaded)
    assert snap is not None
    assert snap["id"] == report.snapshot_id
    assert snap["status"] == "succeeded"
    scores = store.snapshot_scores(loaded, report.snapshot_id)
    assert set(scores.index) == set(customers["customer_id"])
    assert scores["churn_90d"].between(0, 1).all()
    assert (scores["clv_12m"] >= 0).all()
    assert scores["value_tier"].notna().all()
    assert scores["cluster"].notna().all()
    assert set(report.models) == {"churn_90d", "propensity", "clv", "segments"}
    versions = store.model_versions(loaded)
    assert set(versions["task"]) == {"churn_90d", "propensity", "clv", "segments"}
    churn = versions[versions["task"] == "churn_90d"].iloc[0]
    metrics = json.loads(str(churn["metrics"]))
    assert {c["family"] for c in metrics["candidates"]} == {"logistic", "lightgbm"}
    assert 0.5 < metrics["holdout"]["auc"] <= 1.0
    profiles = store.segment_profiles(loaded, report.snapshot_id)
    assert {"value_tier", "cluster", "life_stage"} <= set(profiles["kind"])
    assert profiles["description"].str.len().min() > 10
    inline = refresh_scores(loaded, workers=1, **FAST)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(
        store.snapshot_scores(loaded, inline.snapshot_id).sort_index(),
        scores.sort_index(),
    )


def test_a_second_refresh_keeps_the_first_and_a_failure_keeps_the_active(
    loaded: Engine,
) -> None:
    first = refresh_scores(loaded, **FAST)  # type: ignore[arg-type]
    before = store.snapshot_scores(loaded, first.snapshot_id)

    def crash(stage: str, fraction: float) -> None:
        if stage == "scoring":
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        refresh_scores(loaded, progress=crash, **FAST)  # type: ignore[arg-type]
    snaps = store.snapshots(loaded)
    assert snaps.iloc[0]["status"] == "failed"
    assert "disk full" in str(snaps.iloc[0]["error"])
    active = store.latest_snapshot(loaded)
    assert active is not None
    assert active["id"] == first.snapshot_id

    earlier = dt.date.fromisoformat(str(first.as_of)) - dt.timedelta(days=28)
    second = refresh_scores(loaded, earlier, **FAST)  # type: ignore[arg-type]
    assert second.snapshot_id > first.snapshot_id
    pd.testing.assert_frame_equal(
        store.snapshot_scores(loaded, first.snapshot_id), before
    )
    # As of an earlier date, only customers who had joined by then are scored.
    joined = read_table(loaded, "customers", columns=["customer_id", "join_date"])
    by_then = joined[pd.to_datetime(joined["join_date"]) <= pd.Timestamp(earlier)]
    second_ids = set(store.snapshot_scores(loaded, second.snapshot_id).index)
    assert second_ids == set(by_then["customer_id"])


def use_store(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("NBO_DATABASE_URL", url)
    get_settings.cache_clear()


def test_cli_score_show_segments_models(
    loaded: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_store(monkeypatch, db_url)
    monkeypatch.setattr(console, "width", 200)
    r = runner.invoke(
        app, ["score", "--train-sample", "1000", "--chunk", "1000", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    customer = read_table(loaded, "customers", columns=["customer_id"]).iloc[0, 0]

    r = runner.invoke(app, ["scores", "show", str(customer)])
    assert r.exit_code == 0, r.output
    assert "churn_90d" in r.output
    assert "clv_12m" in r.output

    r = runner.invoke(app, ["segments", "show", "--kind", "value_tier"])
    assert r.exit_code == 0, r.output
    assert "value_tier" in r.output

    r = runner.invoke(app, ["models", "list"])
    assert r.exit_code == 0, r.output
    assert "churn_90d" in r.output
    assert "AUC" in r.output

    r = runner.invoke(app, ["segments", "migration", "--from", str(out["snapshot_id"])])
    assert r.exit_code == 0, r.output
    assert "100.0% stayed" in r.output  # same snapshot on both sides


def test_cli_errors_name_the_problem(
    loaded: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_store(monkeypatch, db_url)
    r = runner.invoke(app, ["score", "--as-of", "28/12/2025"])
    assert r.exit_code == 2
    assert "--as-of" in r.output
    r = runner.invoke(app, ["segments", "show"])
    assert r.exit_code == 1
    assert "nbo score" in r.output
    r = runner.invoke(app, ["scores", "show", "C_NOBODY"])
    assert r.exit_code != 0
    r = runner.invoke(app, ["segments", "migration", "--from", "99"])
    assert r.exit_code != 0
    r = runner.invoke(app, ["segments", "migration", "--from", "1", "--kind", "x"])
    assert r.exit_code == 2
    assert "value_tier" in r.output

"""The monitor job on SQLite and PostgreSQL, on the scored simulated bank.

The session's bank (``tests/scored_bank.py``) holds one snapshot S1 made by the
real score job. Here, once per backend: offers are decided and accepted in two
acceptance windows, an earlier snapshot S0 is made by the real score job 91
days before S1 (so its 90-day outcomes have arrived by S1's date), and the
monitor compares S1 with S0 and judges S0 on what followed. Then S2, a copy of
S1 whose churn scores are doubled, must raise a churn drift alert and a retrain
request while every other (identical) column stays quiet. Everything added to
the shared bank is removed afterwards, so other tests see it as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import delete, insert, select
from typer.testing import CliRunner

import nbo_engine.cli.monitor  # noqa: F401  (registers `nbo monitor`)
from nbo_engine.cli import app
from nbo_engine.cli._app import console
from nbo_engine.config import get_settings
from nbo_engine.decisioning import Decider
from nbo_engine.errors import DataValidationError
from nbo_engine.jobs.monitor import MonitorOutcome, run_monitor
from nbo_engine.jobs.score import refresh_scores
from nbo_engine.scoring.labels import churn_labels
from nbo_engine.store import Engine, make_engine, read, write
from nbo_engine.store import decisions as decision_store
from nbo_engine.store import monitoring as store
from nbo_engine.store import scores as score_store
from nbo_engine.store.events import EventIn, record_events
from nbo_engine.store.queries import read_table
from nbo_engine.store.tables import metadata

runner = CliRunner()
#: Decisions of the current acceptance window (as of AS_OF) and the one before.
AS_OF = dt.date(2026, 2, 20)
CURRENT = dt.datetime(2026, 2, 2, 10, 0)  # window [2026-01-17, 2026-02-14)
PREVIOUS = dt.datetime(2026, 1, 5, 10, 0)  # window [2025-12-20, 2026-01-17)
T = {name: metadata.tables[name] for name in metadata.tables}


@dataclass
class Monitored:
    engine: Engine
    s0: int
    s1: int
    s2: int
    run_id: int
    first: MonitorOutcome
    second: MonitorOutcome
    decided: dict[str, list[str]]  # window -> decision ids


def _decide_and_accept(engine: Engine) -> dict[str, list[str]]:
    """Live decisions on web and email in both windows; some accepted within
    the 7-day window, one only after it (not counted)."""
    snap = score_store.latest_snapshot(engine)
    assert snap is not None
    frame = score_store.snapshot_scores(
        engine, int(snap["id"]), ["do_not_contact", "marketing_consent"]
    )
    ok = sorted(
        map(
            str,
            frame[
                (frame["do_not_contact"] == False)  # noqa: E712
                & (frame["marketing_consent"] == True)  # noqa: E712
            ].index,
        )
    )
    mine = ok[-40:]  # other tests take customers from the front of this list
    decider = Decider.load(engine)  # unseeded: ids must not repeat other tests
    decided: dict[str, list[str]] = {"current": [], "previous": []}
    events: list[EventIn] = []
    for window, when in (("current", CURRENT), ("previous", PREVIOUS)):
        for i, cid in enumerate(mine):
            channel = "web" if i % 2 else "email"
            r = decider.decide(cid, channel, 2, now=when + dt.timedelta(minutes=i))
            if not r.offers:
                continue
            decided[window].append(r.decision_id)
            top = r.offers[0].offer_id
            if i % 4 == 1 or (window == "previous" and i % 4 == 3):
                events.append(
                    EventIn(
                        f"mon-{r.decision_id}",
                        r.decision_id,
                        top,
                        "accept" if i % 8 == 1 else "conversion",
                        when + dt.timedelta(days=2),
                    )
                )
            elif i % 4 == 2:  # accepted, but after the 7-day window
                events.append(
                    EventIn(
                        f"late-{r.decision_id}",
                        r.decision_id,
                        top,
                        "accept",
                        when + dt.timedelta(days=9),
                    )
                )
    record_events(engine, events, received_at=dt.datetime.now(dt.UTC))
    assert len(decided["current"]) >= 20
    return decided


def _copy_shifted(engine: Engine, s1: dict[str, object]) -> int:
    """S2: S1's rows a day later with every churn score doubled (capped at 1)."""
    frame = score_store.snapshot_scores(engine, int(s1["id"]))  # type: ignore[call-overload]
    frame["churn_90d"] = np.clip(frame["churn_90d"] * 2.0, 0.0, 1.0)
    as_of = pd.Timestamp(s1["as_of"]).date() + dt.timedelta(days=1)  # type: ignore[arg-type]
    sid = score_store.start_snapshot(engine, as_of)
    with write(engine) as conn:
        score_store.write_scores(conn, sid, frame)
        score_store.finish_snapshot(
            conn,
            sid,
            status="succeeded",
            models=json.loads(str(s1["models"])),
            n_customers=len(frame),
        )
    return sid


def _remove(engine: Engine, snapshots: list[int], run_id: int) -> None:
    with read(engine) as conn:
        models = [
            int(v)
            for (text,) in conn.execute(
                select(T["score_snapshots"].c.models).where(
                    T["score_snapshots"].c.id.in_(snapshots[:1])
                )
            )
            for v in json.loads(text).values()
        ]
    with write(engine) as conn:
        reports = T["monitor_reports"]
        conn.execute(
            delete(reports).where(
                reports.c.snapshot_id.in_(snapshots)
                | reports.c.reference_snapshot_id.in_(snapshots)
                | (reports.c.job_run_id == run_id)
            )
        )
        for name in ("customer_scores", "segment_profiles"):
            conn.execute(delete(T[name]).where(T[name].c.snapshot_id.in_(snapshots)))
        conn.execute(
            delete(T["score_snapshots"]).where(T["score_snapshots"].c.id.in_(snapshots))
        )
        conn.execute(
            delete(T["model_versions"]).where(T["model_versions"].c.id.in_(models))
        )
        conn.execute(delete(T["job_runs"]).where(T["job_runs"].c.id == run_id))


@pytest.fixture(scope="module")
def monitored(bank_url: str) -> Iterator[Monitored]:
    engine = make_engine(bank_url)
    s1 = score_store.latest_snapshot(engine)
    assert s1 is not None
    decided = _decide_and_accept(engine)
    s1_day = pd.Timestamp(s1["as_of"]).date()
    s0 = refresh_scores(
        engine,
        s1_day - dt.timedelta(days=91),
        train_sample=1500,
        churn_families=("logistic",),
        propensity_families=("logistic",),
    ).snapshot_id
    s2: int | None = None
    with write(engine) as conn:
        run_id = int(
            conn.execute(
                insert(T["job_runs"]).values(
                    job="monitor",
                    period=f"test-{uuid.uuid4().hex[:8]}",
                    status="running",
                    trigger="manual",
                    started_at=dt.datetime(2026, 2, 20, 6, 0),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
    try:
        first = run_monitor(engine, as_of=AS_OF, run_id=run_id)
        s2 = _copy_shifted(engine, s1)
        second = run_monitor(engine, as_of=AS_OF)
        yield Monitored(engine, s0, int(s1["id"]), s2, run_id, first, second, decided)
    finally:
        _remove(engine, [s0] + ([s2] if s2 is not None else []), run_id)
        # Another test's teardown may have dropped this engine from the cache
        # (dispose_all) while it was still in use here: close its connections.
        engine.dispose()


def test_report_row_compares_the_newest_snapshot_with_the_one_before(
    monitored: Monitored,
) -> None:
    m = monitored
    first = m.first
    assert (first.snapshot_id, first.reference_snapshot_id) == (m.s1, m.s0)
    row = store.latest_report(m.engine, report_id=first.report_id)
    assert row is not None
    assert (row["snapshot_id"], row["reference_snapshot_id"]) == (m.s1, m.s0)
    assert row["as_of"] == AS_OF
    assert row["job_run_id"] == m.run_id
    assert row["report"] == first.report
    assert row["n_alerts"] == len(first.report["alerts"])
    assert row["retrain_requested"] == bool(first.report["retrain"])
    report = row["report"]
    assert report["snapshot"]["id"] == m.s1
    assert report["reference"]["id"] == m.s0
    assert report["job_run_id"] == m.run_id
    assert {d["column"] for d in report["drift"]} == set(score_store.SCORE_COLUMNS)
    # Both snapshots were made by the real score job, each retraining its
    # models: score shifts are the new models' doing, never a retrain reason.
    for a in report["alerts"]:
        if a["kind"] == "psi" and a["subject"] in ("churn_90d", "clv_12m"):
            assert a["models"] == []
            assert "retrained between the two snapshots" in a["message"]
    counts = first.counts()
    assert counts["report_id"] == first.report_id
    assert counts["columns_compared"] == len(score_store.SCORE_COLUMNS)
    assert counts["snapshot_id"] == m.s1
    assert all(isinstance(v, int | float | str) for v in counts.values())


def test_model_health_uses_the_snapshot_whose_outcomes_have_arrived(
    monitored: Monitored,
) -> None:
    m = monitored
    report = m.first.report
    assert m.first.health_snapshot_id == m.s0
    assert report["health_snapshot"]["id"] == m.s0
    assert report["health_snapshot"]["horizon_days"] == 90
    health = {h["subject"]: h for h in report["health"]}
    assert set(health) == {
        "churn_90d",
        *(f"propensity_{p}" for p in ("savings", "credit_card", "personal_loan",
                                      "mortgage", "investment", "insurance")),
    }  # fmt: skip
    # Recompute churn health from the store: S0's scores against closures.
    snap = next(
        s for s in store.succeeded_snapshots(m.engine, until=AS_OF) if s["id"] == m.s0
    )
    scores = score_store.snapshot_scores(m.engine, m.s0, ["churn_90d"])
    accounts = read_table(
        m.engine,
        "accounts",
        columns=["customer_id", "product", "open_date", "close_date"],
    )
    eligible, y = churn_labels(
        accounts, scores.index.astype(str), pd.Timestamp(snap["as_of"])
    )
    p = scores["churn_90d"].to_numpy(np.float64)
    keep = eligible & np.isfinite(p)
    churn = health["churn_90d"]
    assert churn["status"] == "ok"
    assert (churn["n"], churn["positives"]) == (int(keep.sum()), int(y[keep].sum()))
    assert churn["auc"] == pytest.approx(roc_auc_score(y[keep], p[keep]), abs=1e-12)
    trained = store.model_info(m.engine, [snap["models"]["churn_90d"]])
    baseline = next(iter(trained.values()))["metrics"]["holdout"]["auc"]
    assert churn["auc_baseline"] == pytest.approx(baseline)
    # A real model on real outcomes: better than chance.
    assert churn["auc"] > 0.6
    for h in health.values():
        assert h["status"] in ("ok", "insufficient_outcomes")


def test_acceptance_rates_match_the_decision_log(monitored: Monitored) -> None:
    m = monitored
    report = m.first.report
    rows = {
        (a["offer_id"], a["channel"]): a
        for a in report["acceptance"]
        if a["channel"] != "all"
    }
    # The same counts the slow way: the decision log and its positive events.
    start, mid = (
        dt.datetime.fromisoformat(t) for t in report["acceptance_window"]["previous"]
    )
    end = dt.datetime.fromisoformat(report["acceptance_window"]["current"][1])
    parts = [
        decision_store.decision_log(
            m.engine, policy_version_id=v, since=start, until=end
        )
        for v in decision_store.versions_with_live_decisions(m.engine)
    ]
    # other tests' policy versions decide at other times: drop their empty logs
    logs = pd.concat([p for p in parts if not p.empty])
    events = decision_store.positive_events(
        m.engine, logs["decision_id"].unique().tolist()
    )
    first = events.groupby(["decision_id", "offer_id"], as_index=False)["ts"].min()
    logs = logs.merge(
        first, on=["decision_id", "offer_id"], how="left", suffixes=("", "_event")
    )
    logs["accepted"] = (logs["ts_event"] - logs["ts"]) < pd.Timedelta(days=7)
    logs["window"] = np.where(logs["ts"] >= mid, "current", "previous")
    expected = logs.groupby(["window", "offer_id", "channel"])["accepted"].agg(
        ["size", "sum"]
    )
    assert len(rows) == len(
        expected.reset_index()[["offer_id", "channel"]].drop_duplicates()
    )
    for (window, offer, channel), (size, accepted) in expected.iterrows():
        row = rows[(offer, channel)]
        prefix = "" if window == "current" else "previous_"
        assert (row[f"{prefix}shown"], row[f"{prefix}accepted"]) == (size, accepted)
    assert {c for _, c in rows} >= {"web", "email"}
    shown = sum(a["shown"] for a in rows.values())
    assert shown >= len(m.decided["current"])  # one to two offers per decision
    assert 0 < sum(a["accepted"] for a in rows.values()) < shown


def test_a_shifted_churn_score_is_caught_and_requests_a_retrain(
    monitored: Monitored,
) -> None:
    m = monitored
    second = m.second
    assert (second.snapshot_id, second.reference_snapshot_id) == (m.s2, m.s1)
    report = second.report
    drift = {d["column"]: d for d in report["drift"]}
    assert drift["churn_90d"]["level"] == "alert"
    assert drift["churn_90d"]["ks_significant"]
    for column, d in drift.items():  # identical copies: exactly no drift
        if column != "churn_90d":
            assert d["psi"] == 0.0, column
            assert d["level"] == "ok", column
    (alert,) = [a for a in report["alerts"] if a["kind"] in ("psi", "ks")]
    assert (alert["subject"], alert["level"], alert["models"]) == (
        "churn_90d",
        "alert",
        ["churn_90d"],
    )
    assert alert["threshold"] == 0.25
    assert alert["message"].endswith("the churn model should be retrained.")
    assert "churn_90d" in [r["model"] for r in report["retrain"]]
    row = store.latest_report(m.engine, report_id=second.report_id)
    assert row is not None
    assert row["retrain_requested"] is True
    assert row["job_run_id"] is None


def test_cli_run_and_show(
    monitored: Monitored, bank_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBO_DATABASE_URL", bank_url)
    get_settings.cache_clear()
    monkeypatch.setattr(console, "width", 200)
    r = runner.invoke(app, ["monitor", "run", "--as-of", AS_OF.isoformat(), "--json"])
    assert r.exit_code == 0, r.output
    ran = json.loads(r.output)
    assert ran["snapshot"]["id"] == monitored.s2
    r = runner.invoke(app, ["monitor", "show", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == ran
    r = runner.invoke(app, ["monitor", "show"])
    assert r.exit_code == 0, r.output
    for text in ("Drift against the reference snapshot", "Model health", "churn_90d",
                 "retrain", "Acceptance per offer and channel"):  # fmt: skip
        assert text in r.output
    r = runner.invoke(app, ["monitor", "show", "--id", str(monitored.first.report_id)])
    assert r.exit_code == 0, r.output
    assert f"monitor report {monitored.first.report_id}" in r.output


def test_an_empty_store_gets_a_report_that_says_why(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    r = runner.invoke(app, ["monitor", "show"])
    assert r.exit_code == 1
    assert "no monitor report yet; run `nbo monitor run`" in r.output
    outcome = run_monitor(engine, as_of=AS_OF, now=dt.datetime(2026, 2, 20, 6, 0))
    assert outcome.snapshot_id is None
    assert outcome.report["drift"] == []
    assert outcome.report["health"] == []
    assert (
        "no score snapshot is dated on or before 2026-02-20"
        in outcome.report["notes"][0]
    )
    row = store.latest_report(engine)
    assert row is not None
    assert (row["id"], row["snapshot_id"], row["retrain_requested"]) == (
        outcome.report_id,
        None,
        False,
    )
    r = runner.invoke(app, ["monitor", "show"])
    assert r.exit_code == 0, r.output
    assert "no score snapshot" in r.output


def test_bad_inputs_are_refused_with_their_value(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(
        DataValidationError, match=r"as_of: expected a date \(YYYY-MM-DD\), got"
    ):
        run_monitor(engine, as_of=dt.datetime(2026, 2, 20))
    with pytest.raises(
        DataValidationError,
        match=r"acceptance_days: expected a whole number of days >= 1, got 0",
    ):
        run_monitor(engine, as_of=AS_OF, acceptance_days=0)
    monkeypatch.setenv("NBO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    r = runner.invoke(app, ["monitor", "run", "--as-of", "2026-02-30"])
    assert r.exit_code == 2
    assert "--as-of: expected a date YYYY-MM-DD, got '2026-02-30'" in r.output

"""The weekly report from the store, on SQLite and PostgreSQL with the scored bank.

One simulated week (Monday 2026-11-16, far from other tests' decision dates):
the real ``Decider`` decides for 300 fresh customers with a 20% global holdout
and an offer experiment; the channel posts accept/conversion events for the
customers who took their offer (``nbo_engine.store.events``) and the bank's
books record what everyone did (accounts opened, a complaint) in the input
tables. The report built from the store must agree with what the test wrote:
the headline is checked against scipy's Welch test on the per-customer values
the test computes itself, the bandit's counts against the events posted, and
the experiment's units against the decisions' variants.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

import nbo_engine.cli.report  # noqa: F401  (registers `nbo report`)
from nbo_engine.api import create_app
from nbo_engine.cli import app as cli_app
from nbo_engine.config import get_settings
from nbo_engine.decisioning import Decider
from nbo_engine.errors import DataValidationError, RetuneError
from nbo_engine.experiments import GlobalHoldout, parse_experiment
from nbo_engine.jobs.weekly_report import (
    ReportOutcome,
    gather_weekly_evidence,
    monday_of,
    write_weekly_report,
)
from nbo_engine.policy import load_policy, parse_policy
from nbo_engine.reports import (
    BanditLearning,
    Experiments,
    Headline,
    Missing,
    Playbook,
    PolicyChanges,
    UpliftTable,
)
from nbo_engine.store import Engine, write
from nbo_engine.store import experiments as xstore
from nbo_engine.store import reports as rstore
from nbo_engine.store.apikeys import create_key
from nbo_engine.store.events import EventIn, record_events
from nbo_engine.store.tables import metadata
from tests.scored_bank import CATALOG, Customers, catalog_with, serving

WEEK = dt.date(2026, 11, 16)
WEEK_END = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
HOLDOUT = GlobalHoldout(salt="weekly-report-test", share=0.2)
ACCOUNTS = metadata.tables["accounts"]
INTERACTIONS = metadata.tables["interactions"]
PROPOSALS = metadata.tables["policy_proposals"]
MONITOR = metadata.tables["monitor_reports"]
REPORTS = metadata.tables["weekly_reports"]
HOSTILE = "<script>alert('reason')</script>"


@dataclass
class Week:
    """What the test did, and the truth the report must agree with."""

    version: int
    experiment: str
    holdout: set[str] = field(default_factory=set)
    value: dict[str, float] = field(default_factory=dict)  # per customer
    converted: dict[str, int] = field(default_factory=dict)
    complaints: dict[str, int] = field(default_factory=dict)
    offered: int = 0
    accepted: int = 0
    variants: dict[str, int] = field(default_factory=dict)


def _experiment_yaml(name: str) -> str:
    return yaml.safe_dump(
        {
            "name": name,
            "kind": "offer",
            "salt": name,
            "start": "2026-11-01",
            "variants": [
                {"name": "control", "weight": 0.3, "control": True},
                {"name": "cashback", "weight": 0.3, "treatment": "cc_cashback"},
            ],
            "metrics": {"primary": "conversion", "guardrails": ["complaints"]},
        }
    )


def _run_week(engine: Engine, ids: list[str]) -> Week:
    spec_text = catalog_with(name="weekly_report_probe", plain_offers=True)
    policy = parse_policy(spec_text)
    value_of = {
        p: float(np.mean([o.value.margin for o in policy.offers if o.product == p]))
        for p in {o.product for o in policy.offers}
    }
    offers = {o.id: o for o in policy.offers}
    name = f"wr-{uuid.uuid4().hex[:8]}"
    text = _experiment_yaml(name)
    xstore.create_experiment(engine, text, now=dt.datetime(2026, 11, 1))
    xstore.start_experiment(engine, name, now=dt.datetime(2026, 11, 15))
    rng = np.random.default_rng(5)
    with serving(engine, spec_text) as version:
        week = Week(version=version, experiment=name)
        decider = Decider.load(
            engine,
            seed=11,
            experiments=[parse_experiment(yaml.safe_load(text))],
            global_holdout=HOLDOUT,
        )
        events: list[EventIn] = []
        accounts: list[dict[str, object]] = []
        complaints: list[dict[str, object]] = []
        for i, cid in enumerate(ids):
            now = dt.datetime(2026, 11, 16 + i % 5, 10, i % 60, tzinfo=dt.UTC)
            r = decider.decide(cid, "web", 1, now=now)
            naive = now.replace(tzinfo=None)
            if r.experiment == "global_holdout":
                week.holdout.add(cid)
            if r.experiment == name:
                week.variants[str(r.variant)] = week.variants.get(str(r.variant), 0) + 1
            product = None
            if r.offers:
                week.offered += 1
                offer = r.offers[0].offer_id
                if rng.random() < 0.4:  # took the offer
                    week.accepted += 1
                    product = offers[offer].product
                    for kind in ("accept", "conversion"):
                        events.append(
                            EventIn(
                                f"wr-{r.decision_id}-{kind}",
                                r.decision_id,
                                offer,
                                kind,
                                naive + dt.timedelta(hours=2),
                                offers[offer].value.margin
                                if kind == "conversion"
                                else None,
                            )
                        )
            elif rng.random() < 0.1:  # organic take-up, offered nothing
                product = "savings"
            week.converted[cid] = int(product is not None)
            cost = offers[r.offers[0].offer_id].value.cost if r.offers else 0.0
            week.value[cid] = (value_of[product] if product else 0.0) - cost
            if product is not None:
                accounts.append(
                    {
                        "account_id": f"WR-{cid}-{name}",
                        "customer_id": cid,
                        "product": product,
                        "open_date": naive.date() + dt.timedelta(days=1),
                        "balance": 0.0,
                        "currency": "GBP",
                    }
                )
            week.complaints[cid] = int(i % 37 == 0)
            if week.complaints[cid]:
                complaints.append(
                    {
                        "interaction_id": f"WR-{cid}-{name}",
                        "customer_id": cid,
                        "timestamp": naive + dt.timedelta(days=1),
                        "channel": "phone",
                        "reason": "complaint",
                        "note": None,
                        "complaint": True,
                    }
                )
        for k in range(0, len(events), 500):
            record_events(engine, events[k : k + 500], received_at=WEEK_END)
        with write(engine) as conn:
            conn.execute(insert(ACCOUNTS), accounts)
            conn.execute(insert(INTERACTIONS), complaints)
            conn.execute(
                insert(PROPOSALS).values(
                    created_at=dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.UTC),
                    base_version_id=version,
                    proposed_version_id=None,
                    mode="propose",
                    status="refused",
                    changes=json.dumps(
                        [
                            {
                                "kind": "suppress",
                                "offer": "cc_cashback",
                                "segment": "mainstream",
                                "before": "eligible",
                                "after": "suppressed",
                                "reason": HOSTILE,
                                "evidence": {"n": 12},
                            }
                        ]
                    ),
                    guardrails="[]",
                )
            )
            conn.execute(
                insert(MONITOR).values(
                    created_at=dt.datetime(2026, 11, 21, 5, 0, tzinfo=dt.UTC),
                    as_of=dt.date(2026, 11, 21),
                    report=json.dumps(
                        {
                            "alerts": [
                                {
                                    "kind": "drift",
                                    "subject": "score churn_90d",
                                    "value": 0.27,
                                    "threshold": 0.2,
                                    "message": "PSI above threshold",
                                }
                            ]
                        }
                    ),
                    n_alerts=1,
                    retrain_requested=False,
                )
            )
    xstore.stop_experiment(
        engine, name, reason="test over", now=dt.datetime(2026, 11, 20, 18, 0)
    )
    return week


_WEEKS: dict[str, Week] = {}


@pytest.fixture
def week(bank_engine: Engine, bank_url: str, customers: Customers) -> Week:
    """The simulated week, made once per backend."""
    if bank_url not in _WEEKS:
        _WEEKS[bank_url] = _run_week(bank_engine, customers.take(300))
    return _WEEKS[bank_url]


_WRITTEN: dict[str, tuple[Path, ReportOutcome]] = {}


@pytest.fixture
def written(
    bank_engine: Engine,
    bank_url: str,
    week: Week,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, ReportOutcome]:
    """The week's report, written once per backend."""
    if bank_url not in _WRITTEN:
        out = tmp_path_factory.mktemp("weekly")
        forecasts = pd.DataFrame(
            {
                "series": ["new accounts: savings"] * 3,
                "week": pd.date_range("2026-11-23", periods=3, freq="W-MON"),
                "model": "AutoETS",
                "mean": [40.0, 42.0, 41.0],
            }
        )
        outcome = write_weekly_report(
            bank_engine,
            week=WEEK + dt.timedelta(days=2),  # any day of the week
            out_dir=out,
            forecasts=forecasts,
            now=dt.datetime(2026, 11, 23, 6, 0, tzinfo=dt.UTC),
        )
        _WRITTEN[bank_url] = (out, outcome)
    return _WRITTEN[bank_url]


def test_headline_matches_welch_on_what_the_customers_did(
    written: tuple[Path, ReportOutcome], week: Week
) -> None:
    _, outcome = written
    ev = outcome.evidence
    h = ev.headline
    assert isinstance(h, Headline), ev.missing()
    treated = [v for c, v in week.value.items() if c not in week.holdout]
    held = [v for c, v in week.value.items() if c in week.holdout]
    assert (h.n_treated, h.n_holdout) == (len(treated), len(held))
    assert len(held) >= 40  # 20% of 300, give or take the hash
    ref = stats.ttest_ind(treated, held, equal_var=False)
    lo, hi = ref.confidence_interval(0.95)
    # same data, same formula: agreement to rounding
    assert h.value.effect == pytest.approx(np.mean(treated) - np.mean(held), abs=1e-9)
    assert h.value.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert (h.value.ci_low, h.value.ci_high) == pytest.approx((lo, hi), rel=1e-9)
    conv_t = np.mean([week.converted[c] for c in week.value if c not in week.holdout])
    assert h.conversion.treated == pytest.approx(conv_t)
    comp_h = np.mean([week.complaints[c] for c in week.holdout])
    assert h.complaints.holdout == pytest.approx(comp_h)
    # 40% take their offer, 10% of the others take savings: the programme adds value
    assert h.value.ci_low > 0
    assert h.incremental_value == pytest.approx(h.value.effect * len(treated))


def test_sections_come_from_the_store(
    written: tuple[Path, ReportOutcome], week: Week
) -> None:
    _, outcome = written
    ev = outcome.evidence
    assert ev.week == WEEK
    assert ev.policy_name is not None
    assert isinstance(ev.uplift, UpliftTable)
    # the catalogue's segment rules name every customer's segment
    segs = set(ev.uplift.frame["segment"])
    assert segs
    assert segs <= set(load_policy(CATALOG).segments), segs
    # every offer's cells in a segment compare with that segment's holdout
    per_segment = ev.uplift.frame.groupby("segment")["n_control"].agg(["min", "max"])
    assert (per_segment["min"] == per_segment["max"]).all()
    assert per_segment["max"].sum() == len(week.holdout)
    assert isinstance(ev.bandit, BanditLearning)
    row = ev.bandit.weekly.set_index("week").loc[WEEK]
    assert (row["offered"], row["accepted"]) == (week.offered, week.accepted)
    assert isinstance(ev.experiments, Experiments)
    (done,) = [x for x in ev.experiments.finished if x.name == week.experiment]
    assert done.readout is not None
    assert dict(zip(done.readout.variants, done.readout.units, strict=True)) == {
        v: float(n) for v, n in week.variants.items()
    }
    assert isinstance(ev.policy_changes, PolicyChanges)
    assert HOSTILE in set(ev.policy_changes.changes["reason"])
    assert isinstance(ev.playbook, Playbook)
    assert sum(s.customers for s in ev.playbook.segments) == 1500
    assert not isinstance(ev.alerts, Missing)
    assert len(ev.alerts.alerts) == 1
    assert not isinstance(ev.forecasts, Missing)
    # nothing was loaded in November 2026: said, not crashed
    assert isinstance(ev.data_quality, Missing)
    assert (
        "no file was loaded between 2026-11-16 and 2026-11-23"
        in ev.data_quality.because
    )
    assert list(ev.missing()) == ["data_quality"]
    counts = outcome.counts()
    assert counts["customers_holdout"] == len(week.holdout)
    assert counts["missing_sections"] == len(ev.missing())


def test_files_and_the_saved_row(
    bank_engine: Engine, written: tuple[Path, ReportOutcome]
) -> None:
    out, outcome = written
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="headline-value"' in html
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(" in html
    body = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    assert body["week"] == WEEK.isoformat()
    for name in body["figures"]:
        assert (out / "figures" / f"{name}.csv").exists()
    assert {"headline", "uplift", "bandit_weekly", "policy_changes", "missing"} <= set(
        body["figures"]
    )
    saved = rstore.weekly_report(bank_engine, WEEK)
    assert saved is not None
    assert saved.id == outcome.report_id
    # (a later test rewrites the week: compare what does not depend on when)
    assert 'id="headline-value"' in saved.html
    assert set(json.loads(saved.data)["figures"]) == set(body["figures"])


def test_rerun_replaces_the_week(
    bank_engine: Engine, written: tuple[Path, ReportOutcome], tmp_path: Path
) -> None:
    _, first = written
    again = write_weekly_report(
        bank_engine,
        week=WEEK,
        out_dir=tmp_path,
        now=dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
    )
    assert again.report_id == first.report_id
    with bank_engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(REPORTS).where(REPORTS.c.week == WEEK)
        ).scalar_one()
    assert n == 1
    saved = rstore.weekly_report(bank_engine, WEEK)
    assert saved is not None
    assert saved.created_at.date() == dt.date(2026, 11, 24)
    assert saved.html == (tmp_path / "report.html").read_text(encoding="utf-8")
    listed = rstore.list_weekly_reports(bank_engine)
    assert WEEK in set(pd.to_datetime(listed["week"]).dt.date)


def test_supplied_outcomes_replace_the_store(bank_engine: Engine, week: Week) -> None:
    # every holdout customer took a mortgage: the programme now loses value
    mortgage = pd.DataFrame(
        {
            "customer_id": sorted(week.holdout),
            "ts": pd.Timestamp("2026-11-21"),
            "outcome": "product_open",
            "product": "mortgage",
        }
    )
    ev = gather_weekly_evidence(bank_engine, week=WEEK, outcomes=mortgage)
    assert isinstance(ev.headline, Headline)
    assert ev.headline.conversion.holdout == 1.0
    assert ev.headline.value.ci_high < 0
    assert ev.headline.outcome_source == "outcomes supplied with the report"


def _get(
    engine: Engine, key: str, params: dict[str, str] | None = None
) -> httpx.Response:
    """``GET /v1/reports/weekly/latest`` through the real app, in process."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(engine, key_cache_seconds=0.0))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://nbo.test"
        ) as client:
            return await client.get(
                "/v1/reports/weekly/latest", params=params, headers={"X-API-Key": key}
            )

    return asyncio.run(go())


def test_api_serves_the_latest_report_to_analysts(
    bank_engine: Engine, written: tuple[Path, ReportOutcome]
) -> None:
    keys = {
        role: create_key(
            bank_engine, role=role, name=f"wr {role}", rate_per_minute=10_000
        )[1]
        for role in ("analyst", "campaign_manager", "channel")
    }
    for role in ("analyst", "campaign_manager"):
        r = _get(bank_engine, keys[role])
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert 'id="headline-value"' in r.text
    r = _get(bank_engine, keys["analyst"], {"format": "json"})
    assert r.status_code == 200
    assert r.json()["week"] >= WEEK.isoformat()
    assert "headline" in r.json()["figures"]
    r = _get(bank_engine, keys["channel"])
    assert r.status_code == 403
    assert (
        "role 'channel' may not call GET /v1/reports/weekly/latest"
        in r.json()["message"]
    )
    r = _get(bank_engine, keys["analyst"], {"format": "pdf"})
    assert r.status_code == 422


def test_cli_writes_the_report(
    bank_url: str, week: Week, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBO_DATABASE_URL", bank_url)
    get_settings.cache_clear()
    out = tmp_path / "weekly"
    result = CliRunner().invoke(
        cli_app, ["report", "weekly", "--week", "2026-11-18", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert str(out / "report.html") in result.output.replace("\n", "")
    assert (out / "report.html").exists()
    assert monday_of(dt.date(2026, 11, 18)) == WEEK
    bad = CliRunner().invoke(
        cli_app, ["report", "weekly", "--week", "18/11/2026", "--out", str(out)]
    )
    assert bad.exit_code == 2
    assert "--week: expected a date as YYYY-MM-DD, got '18/11/2026'" in bad.output


def test_bad_windows_and_outcomes_are_refused_before_reading() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"^measure_weeks, history_weeks and attribution_days: expected >= 1, "
        r"got 0, 8 and 30$",
    ):
        gather_weekly_evidence(None, week=WEEK, measure_weeks=0)  # type: ignore[arg-type]
    with pytest.raises(
        RetuneError,
        match=r"^outcomes: missing column\(s\) outcome; expected customer_id, ts, "
        r"outcome, product$",
    ):
        gather_weekly_evidence(
            None,  # type: ignore[arg-type]
            week=WEEK,
            outcomes=pd.DataFrame(columns=["customer_id", "ts", "product"]),
        )


def test_api_says_when_no_report_was_written(engine: Engine) -> None:
    key = create_key(engine, role="analyst", name="wr empty")[1]
    r = _get(engine, key)
    assert r.status_code == 404
    assert r.json()["error"] == "no_report"
    assert r.json()["message"].startswith("no weekly report has been written yet")


def test_an_empty_store_gives_a_page_of_reasons(engine: Engine, tmp_path: Path) -> None:
    outcome = write_weekly_report(engine, week=WEEK, out_dir=tmp_path)
    reasons = outcome.evidence.missing()
    assert len(reasons) == 10
    assert not any("building it failed" in r for r in reasons.values())
    assert reasons["headline"].startswith("the window's decisions reached 0 treated")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.count("Not available this week because") == 10
    assert outcome.counts()["sections"] == 0

"""The weekly retune on a real decision log, on SQLite and PostgreSQL.

The scored bank (``tests/scored_bank.py``) decides for 900 customers through
the real :class:`~nbo_engine.decisioning.Decider` with a 20% global holdout,
channels report conversions through :func:`nbo_engine.store.events.record_events`,
and outcomes the store's input tables cannot show in a test (churn,
complaints) are given as an outcome frame. One harm is injected: customers of
the ``silver`` value tier offered ``savings_boost`` churn with probability
0.8 (0.02 otherwise), so that cell loses value against the holdout; the
1,500-customer bank is too small to detect the simulator's own, milder harms
(those are checked in ``tests/retune/test_truth.py``).

The module has a store of its own (the test bank, scored afresh), so its
decisions neither read nor enter other tests' logs and contact histories;
every test restores the live slot.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import nbo_engine.cli.retune  # noqa: F401  (registers the commands)
from nbo_engine.cli import app
from nbo_engine.config import get_settings
from nbo_engine.decisioning import Decider
from nbo_engine.errors import ProposalStateError, RetuneError
from nbo_engine.experiments import GlobalHoldout
from nbo_engine.jobs.retune import approve, gather_evidence, run_retune
from nbo_engine.policy import parse_policy
from nbo_engine.retune import Guardrails
from nbo_engine.store import Engine, make_engine
from nbo_engine.store import decisions as dstore
from nbo_engine.store import proposals as pstore
from nbo_engine.store import scores as score_store
from nbo_engine.store.events import EventIn, record_events
from nbo_engine.store.policies import (
    activate_version,
    activations,
    load_version,
    publish_policy,
    read_slot,
)
from tests.conftest import BACKENDS
from tests.scored_bank import catalog_with, scored_store

runner = CliRunner()
GH = GlobalHoldout(salt="retune-job-test", share=0.2)
W1 = dt.date(2027, 1, 4)
W2 = W1 + dt.timedelta(days=7)
#: Small bank, so smaller cells may be tested; everything else is default.
G = Guardrails(min_treated=30, min_control=30)
TIERS = ("platinum", "gold", "silver", "bronze")
HARM = ("savings_boost", "silver")


def _policy_text() -> str:
    """The catalogue with value tiers as segments (the bank's one cluster is
    'mainstream', so segments resolve to the value tier), no per-offer limits
    or end dates, and an exploring bandit."""
    data = yaml.safe_load(
        catalog_with(
            plain_offers=True,
            name="retune_test",
            bandit={
                "type": "epsilon_greedy",
                "params": {"epsilon": 0.3},
                "reward": "conversion",
                "features": ["age", "income_level"],
            },
        )
    )
    data.pop("segment_rules", None)  # segments from the score columns: tiers
    data["segments"] = [*data["segments"], *TIERS]
    data["arbitration"]["min_priority"] = 0.0
    return yaml.safe_dump(data, sort_keys=False)


def _decide(e: Engine, ids: list[str], start: dt.datetime, seed: int) -> pd.DataFrame:
    dec = Decider.load(e, seed=seed, global_holdout=GH)
    rows = []
    for i, c in enumerate(ids):  # the real decider, one decision per request
        now = start + dt.timedelta(minutes=2 * i)
        r = dec.decide(c, "web", 1, now=now)
        offer = r.offers[0].offer_id if r.offers else None
        rows.append((r.decision_id, c, now, offer, r.experiment, r.policy_version_id))
    return pd.DataFrame(
        rows,
        columns=[
            "decision_id",
            "customer_id",
            "ts",
            "offer_id",
            "experiment",
            "version",
        ],
    )


def _report_conversions(e: Engine, d: pd.DataFrame, rng: np.random.Generator) -> int:
    treated = d[d["offer_id"].notna()]
    won = treated[rng.random(len(treated)) < 0.1]
    events = [
        EventIn(
            uuid.uuid4().hex,
            r.decision_id,
            r.offer_id,
            "conversion",
            r.ts + dt.timedelta(days=2),
            50.0,
        )
        for r in won.itertuples()
    ]
    for i in range(0, len(events), 1000):
        record_events(
            e, events[i : i + 1000], received_at=dt.datetime(2027, 2, 1, tzinfo=dt.UTC)
        )
    return len(events)


def _churn(d: pd.DataFrame, tier: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    harm = (d["offer_id"] == HARM[0]).to_numpy() & (
        tier.reindex(d["customer_id"]).to_numpy() == HARM[1]
    )
    churned = rng.random(len(d)) < np.where(harm, 0.8, 0.02)
    out = d.loc[churned, ["customer_id", "ts"]].copy()
    out["ts"] = out["ts"] + dt.timedelta(days=3)
    out["outcome"] = "churn"
    out["product"] = None
    return out


def _complaints(d: pd.DataFrame, p: float, rng: np.random.Generator) -> pd.DataFrame:
    hit = rng.random(len(d)) < p
    out = d.loc[hit, ["customer_id", "ts"]].copy()
    out["ts"] = out["ts"] + dt.timedelta(days=1)
    out["outcome"] = "complaint"
    out["product"] = None
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def retune_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    decisioning_bank: Path,
) -> Iterator[str]:
    """A store of this module's own (the test bank, scored afresh): its 900
    customers' decisions must not count in other tests' contact histories."""
    with scored_store(request.param, tmp_path_factory, decisioning_bank) as url:
        yield url


@pytest.fixture(scope="module")
def log(retune_url: str) -> Iterator[dict[str, Any]]:
    """Week W1 of decisions by the test policy for 900 customers."""
    e = make_engine(retune_url)
    before = read_slot(e, "live")
    v0 = publish_policy(e, _policy_text(), "retune_test", activate="live")
    snap = score_store.latest_snapshot(e)
    assert snap is not None
    scores = score_store.snapshot_scores(e, int(snap["id"]), ["value_tier"])
    # 900 customers keep the test fast on PostgreSQL; the injected harm is
    # strong enough to be found in a cell of ~40 offered and ~70 held out
    ids = sorted(map(str, scores.index))[:900]
    rng = np.random.default_rng(11)
    d = _decide(e, ids, dt.datetime(2027, 1, 4, 8), seed=7_310_001)
    n_events = _report_conversions(e, d, rng)
    try:
        yield {
            "engine": e,
            "v0": v0,
            "decisions": d,
            "tier": scores["value_tier"],
            "churn": _churn(d, scores["value_tier"], rng),
            "n_events": n_events,
            "ids": ids,
        }
    finally:
        activate_version(e, before, "live", reason="test restore")


def _serve_v0(log: dict[str, Any]) -> Engine:
    e: Engine = log["engine"]
    if read_slot(e, "live") != log["v0"]:
        activate_version(e, log["v0"], "live", reason="test setup")
    return e


def _run(
    log: dict[str, Any], week: dt.date, mode: str, outcomes: pd.DataFrame, **kw: Any
) -> Any:
    return run_retune(
        log["engine"],
        week_start=week,
        mode=mode,  # type: ignore[arg-type]
        guardrails=G,
        lookback_weeks=1,
        outcomes=outcomes,
        experiments=(),
        global_holdout=GH,
        readouts=(),
        **kw,
    )


@pytest.fixture
def cli(log: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    e: Engine = log["engine"]
    monkeypatch.setenv("NBO_DATABASE_URL", e.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    return runner


def test_evidence_from_the_decision_log(log: dict[str, Any]) -> None:
    e = _serve_v0(log)
    d: pd.DataFrame = log["decisions"]
    ev = gather_evidence(
        e, week_start=W1, week_end=W2, outcomes=log["churn"], global_holdout=GH
    )
    assert ev.n_decisions == len(d) == len(log["ids"])
    # controls: the global holdout's decisions (no offers), once per customer
    holdout = d[d["experiment"] == "global_holdout"]
    assert holdout["offer_id"].isna().all()
    assert len(holdout) > 100
    per_offer: dict[str, int] = {}
    for c in ev.cells:
        assert c.segment in TIERS  # the value tier, as the decisions resolved it
        per_offer[c.offer] = per_offer.get(c.offer, 0) + c.n_control
    assert max(per_offer.values()) == len(holdout)
    # treated units of a cell: customers whose first-ranked offer it was
    tier = log["tier"]
    shown = d[d["offer_id"] == HARM[0]]
    n_silver = int((tier.reindex(shown["customer_id"]) == HARM[1]).sum())
    assert ev.cell(*HARM).n_treated == n_silver  # type: ignore[union-attr]
    # the OPE target of the serving spec reproduces the logged propensities
    assert ev.ope is not None
    assert ev.ope.n == len(d)
    spec = parse_policy(load_version(e, log["v0"]).spec)
    probs = ev.ope.target_probs(spec, frozenset())
    rows = np.arange(ev.ope.n)
    np.testing.assert_allclose(
        probs[rows, ev.ope.actions], ev.ope.propensities, rtol=0, atol=1e-9
    )
    assert ev.bandit is not None


def test_propose_then_a_campaign_manager_approves(
    log: dict[str, Any], cli: CliRunner
) -> None:
    e = _serve_v0(log)
    out = _run(log, W1, "propose", log["churn"])
    assert out.status == "proposed", out.refusals
    assert out.base_version_id == log["v0"]
    suppress = [c for c in out.changes if c.kind == "suppress"]
    assert [(c.offer, c.segment) for c in suppress] == [HARM]
    assert suppress[0].reason.startswith(
        "savings_boost is confidently harmful in silver: value "
    )
    assert suppress[0].evidence["ci_high"] < 0
    assert out.counts()["proposed"] == 1
    assert out.counts()["harmful"] >= 1
    # published, not serving
    v = out.proposed_version_id
    assert read_slot(e, "live") == log["v0"]
    spec = parse_policy(load_version(e, v).spec)
    assert spec.offers[spec.offer_ids.index(HARM[0])].segment_levers[HARM[1]] == 0.0
    row = pstore.get_proposal(e, out.proposal_id)
    assert row.status == "proposed"
    assert row.base_version_id == log["v0"]
    assert {g["name"]: g["passed"] for g in row.guardrails} == dict.fromkeys(
        ("holdout", "consistent", "max_changes", "change_size", "evidence", "ope"), True
    )
    listed = json.loads(cli.invoke(app, ["policy", "proposals", "--json"]).output)
    assert listed[0]["id"] == out.proposal_id
    assert listed[0]["status"] == "proposed"

    r = cli.invoke(app, ["policy", "approve", str(v), "--actor", "alice"])
    assert r.exit_code == 0, r.output
    assert f"applied by alice: policy version {v} now serves live" in r.output
    assert read_slot(e, "live") == v
    row = pstore.get_proposal(e, out.proposal_id)
    assert (row.status, row.decided_by) == ("applied", "alice")
    assert [h["status"] for h in row.history] == ["proposed", "applied"]
    state = dstore.latest_bandit_state(e, v)
    assert state is not None
    assert state.source == "warm_start"
    assert activations(e, "live", limit=1)[0].actor == "alice"

    r = cli.invoke(app, ["policy", "approve", str(v)])
    assert r.exit_code == 1
    assert "is applied; only a proposed one can be approved" in r.output


def test_auto_applies_and_a_complaint_spike_rolls_back(log: dict[str, Any]) -> None:
    e = _serve_v0(log)
    rng = np.random.default_rng(3)
    d1: pd.DataFrame = log["decisions"]
    first = _run(log, W1, "auto", log["churn"])
    assert first.status == "applied", first.refusals
    v1 = first.proposed_version_id
    assert read_slot(e, "live") == v1
    assert dstore.latest_bandit_state(e, v1).source == "warm_start"  # type: ignore[union-attr]

    # the next week, under the new version: savings_boost no longer reaches silver
    d2 = _decide(e, log["ids"][:330], dt.datetime(2027, 1, 11, 8), seed=7_310_002)
    assert (d2["version"] == v1).all()
    tier = log["tier"].reindex(d2["customer_id"]).to_numpy()
    assert not ((d2["offer_id"] == HARM[0]).to_numpy() & (tier == HARM[1])).any()
    assert d2["offer_id"].notna().sum() > 200

    calm = pd.concat(
        [log["churn"], _complaints(d1, 0.01, rng), _complaints(d2, 0.01, rng)]
    )
    quiet = _run(log, W2, "propose", calm)
    assert quiet.rollback is not None
    assert not quiet.rollback.rollback
    assert quiet.status != "rolled_back"
    assert read_slot(e, "live") == v1

    spike = pd.concat(
        [log["churn"], _complaints(d1, 0.01, rng), _complaints(d2, 0.3, rng)]
    )
    out = _run(log, W2, "propose", spike)
    assert out.status == "rolled_back"
    assert out.rolled_back_proposal_id == first.proposal_id
    assert read_slot(e, "live") == log["v0"]
    assert out.rollback.reason.startswith(  # type: ignore[union-attr]
        "guardrail degraded after the last change: complaints went from"
    )
    row = pstore.get_proposal(e, first.proposal_id)
    assert row.status == "rolled_back"
    assert row.history[-1]["reason"].startswith("guardrail degraded")
    last = activations(e, "live", limit=1)[0]
    assert last.reason.startswith("rollback: guardrail degraded")
    assert (last.version_id, last.actor) == (log["v0"], "retune")

    # the same evidence does not bring the rolled-back suppression straight back
    again = _run(log, W2, "propose", spike)
    assert ("suppress", *HARM) not in {
        (c.kind, c.offer, c.segment) for c in again.changes
    }


def test_without_a_log_of_the_serving_version_the_proposal_is_refused(
    log: dict[str, Any], cli: CliRunner
) -> None:
    e = _serve_v0(log)
    fresh = publish_policy(e, _policy_text(), "retune_test", activate="live")
    out = _run(log, W1, "propose", log["churn"])
    assert out.status == "refused"
    assert out.refusals == (
        "ope: refused: no logged decisions of the current policy to evaluate the "
        "proposal on",
    )
    assert read_slot(e, "live") == fresh
    row = pstore.get_proposal(e, out.proposal_id)
    assert row.status == "refused"
    assert row.proposed_version_id is None
    assert row.summary.startswith("refused: ope: refused")
    r = cli.invoke(app, ["policy", "proposals", "--status", "refused"])
    assert r.exit_code == 0
    assert f"{out.proposal_id:>5}  refused" in r.output
    assert "ope: refused: no logged decisions" in r.output


def test_retune_run_command(log: dict[str, Any], cli: CliRunner) -> None:
    _serve_v0(log)
    r = cli.invoke(app, ["retune", "run", "--week", W1.isoformat(), "--json"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["week_start"] == "2027-01-04"
    assert got["mode"] == "propose"
    assert got["counts"]["decisions"] == len(log["ids"])
    r = cli.invoke(app, ["retune", "run", "--week", "nope"])
    assert r.exit_code == 2
    assert "--week: expected a date YYYY-MM-DD, got 'nope'" in r.output
    r = cli.invoke(app, ["retune", "run", "--mode", "yolo"])
    assert r.exit_code == 2
    assert "--mode: expected one of propose, auto, got 'yolo'" in r.output
    r = cli.invoke(app, ["policy", "proposals", "--status", "maybe"])
    assert r.exit_code == 2
    assert "--status: status: expected one of proposed, applied, refused" in r.output


def test_errors(log: dict[str, Any]) -> None:
    e = _serve_v0(log)
    with pytest.raises(
        RetuneError, match=r"^mode: expected propose or auto, got 'yolo'$"
    ):
        run_retune(e, week_start=W1, mode="yolo")  # type: ignore[arg-type]
    with pytest.raises(
        RetuneError, match=r"^lookback_weeks: expected an integer >= 1, got 0$"
    ):
        run_retune(e, week_start=W1, lookback_weeks=0)
    with pytest.raises(
        ProposalStateError,
        match=rf"^policy version {log['v0']} was not published by a retune proposal; "
        r"see `nbo policy proposals`$",
    ):
        approve(e, log["v0"], "bob")
    with pytest.raises(
        ProposalStateError,
        match=r"^proposal 999999 does not exist; see `nbo policy proposals`$",
    ):
        pstore.get_proposal(e, 999_999)
    with pytest.raises(RetuneError, match=r"^outcomes: missing column\(s\) product"):
        gather_evidence(
            e,
            week_start=W1,
            week_end=W2,
            outcomes=pd.DataFrame({"customer_id": [], "ts": [], "outcome": []}),
        )
    row = pstore.insert_proposal(
        e,
        base_version_id=log["v0"],
        proposed_version_id=None,
        mode="propose",
        status="refused",
        changes=[],
        guardrails=[],
        summary="refused: test",
        at=dt.datetime(2027, 2, 1),
    )
    with pytest.raises(
        ProposalStateError,
        match=rf"^proposal {row.id} is refused: it cannot become applied "
        r"\(allowed: none, it is final\)$",
    ):
        pstore.mark_proposal(
            e, row.id, "applied", actor="x", at=dt.datetime(2027, 2, 1)
        )
    with pytest.raises(
        ProposalStateError,
        match=r"^status: a new proposal is proposed or refused, got 'applied'$",
    ):
        pstore.insert_proposal(
            e,
            base_version_id=log["v0"],
            proposed_version_id=None,
            mode="propose",
            status="applied",
            changes=[],
            guardrails=[],
            summary="",
            at=dt.datetime(2027, 2, 1),
        )


def test_outcomes_from_the_input_tables(
    bank_engine: Engine, decisioning_bank: Path
) -> None:
    """Account openings, complaints and churn read from the store are those
    of the input files (the fixture bank has no dirt)."""
    since, until = dt.datetime(2025, 6, 1), dt.datetime(2025, 12, 1)
    accounts = pd.read_csv(
        decisioning_bank / "accounts.csv", parse_dates=["open_date", "close_date"]
    )
    notes = pd.read_csv(
        decisioning_bank / "interactions.csv", parse_dates=["timestamp"]
    )
    ids = sorted(accounts["customer_id"].unique())[:400]
    got = pstore.customer_outcomes(bank_engine, ids, since=since, until=until)
    counts = got["outcome"].value_counts().to_dict()
    mine = accounts[accounts["customer_id"].isin(ids)]
    opened = mine[(mine["open_date"] >= since) & (mine["open_date"] <= until)]
    complaints = notes[
        notes["customer_id"].isin(ids)
        & notes["complaint"]
        & (notes["timestamp"] >= since)
        & (notes["timestamp"] < until)
    ]
    last = mine.groupby("customer_id")["close_date"].agg(["count", "size", "max"])
    churned = last[
        (last["count"] == last["size"])
        & (last["max"] >= since)
        & (last["max"] <= until)
    ]
    assert counts.get("product_open", 0) == len(opened) > 0
    assert counts.get("complaint", 0) == len(complaints) > 0
    assert counts.get("churn", 0) == len(churned)
    assert set(got.loc[got["outcome"] == "product_open", "product"]) == set(
        opened["product"]
    )


def test_a_suppression_by_eligibility_clause_holds_in_decisioning(
    retune_url: str,
) -> None:
    """Everyone's segment in this bank falls back to the one cluster,
    'mainstream', which the catalogue does not declare: the suppression is an
    eligibility clause, and the real decider then never offers the offer."""
    bank_engine = make_engine(retune_url)
    from nbo_engine.retune import Change, apply_changes, spec_yaml

    text = catalog_with(
        plain_offers=True,
        name="retune_clause_test",
        bandit={"type": "epsilon_greedy", "params": {"epsilon": 1.0}},
    )
    data = yaml.safe_load(text)
    data.pop("segment_rules")  # everyone's segment: the fallback cluster
    text = yaml.safe_dump(data, sort_keys=False)
    base = parse_policy(text)
    spec = apply_changes(
        base,
        [Change("suppress", "savings_boost", "mainstream", None, "excluded", "test")],
    )
    snap = score_store.latest_snapshot(bank_engine)
    assert snap is not None
    ids = sorted(
        map(
            str,
            score_store.snapshot_scores(
                bank_engine, int(snap["id"]), ["cluster"]
            ).index,
        )
    )
    ids = ids[900:1100]
    before = read_slot(bank_engine, "live")
    try:
        offered = {}
        for name, s in (("base", text), ("suppressed", spec_yaml(spec))):
            publish_policy(bank_engine, s, "retune_clause_test", activate="live")
            start = dt.datetime(2027, 3, 1 if name == "base" else 15, 8)
            d = _decide(bank_engine, ids, start, seed=7_310_003 + len(offered))
            offered[name] = set(d["offer_id"].dropna())
        assert "savings_boost" in offered["base"]
        assert "savings_boost" not in offered["suppressed"]
        assert len(offered["suppressed"]) >= 5
    finally:
        activate_version(bank_engine, before, "live", reason="test restore")


def test_outcomes_of_the_offered_only_build_no_cells(log: dict[str, Any]) -> None:
    """A feed that records what offered customers did but nothing of the
    holdout would make every offer look harmful: no cell is built, and the
    evidence says why."""
    e = _serve_v0(log)
    d: pd.DataFrame = log["decisions"]
    churn: pd.DataFrame = log["churn"]
    offered = set(d.loc[d["offer_id"].notna(), "customer_id"])
    one_sided = churn[churn["customer_id"].isin(offered)]
    ev = gather_evidence(
        e, week_start=W1, week_end=W2, outcomes=one_sided, global_holdout=GH
    )
    assert ev.cells == ()
    assert ev.notes[1].endswith(
        "the holdout's outcomes are missing, so no offer-segment cell is built"
    )
    full = gather_evidence(
        e, week_start=W1, week_end=W2, outcomes=churn, global_holdout=GH
    )
    assert len(full.cells) > 10
    assert len(full.notes) == 1

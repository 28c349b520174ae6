"""Readouts from the store, on SQLite and PostgreSQL: decisions made by the
real decider and events stored by ``nbo_engine.store.events`` give, through
the SQL sums, the readout computed directly from the same rows in pandas.
Also the experiment lifecycle in the store and its error messages.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import insert, select, update

from nbo_engine.decisioning import Decider
from nbo_engine.errors import (
    DataValidationError,
    ExperimentSpecError,
    ExperimentStateError,
    UnknownExperimentError,
)
from nbo_engine.experiments import (
    ExperimentSpec,
    assign,
    cuped_stats,
    pre_period_covariates,
    ratio_stats,
    readout,
    sample_stats,
)
from nbo_engine.jobs.experiments import experiment_results, experiment_results_detail
from nbo_engine.store import Engine, read, write
from nbo_engine.store.events import EventIn, record_events
from nbo_engine.store.experiments import (
    create_experiment,
    experiment_changes,
    get_experiment,
    list_experiments,
    ramp_experiment,
    running_experiments,
    start_experiment,
    stop_experiment,
)
from nbo_engine.store.tables import metadata
from tests.scored_bank import Customers

T = metadata.tables
START = dt.date(2026, 4, 1)
PRE_START = dt.datetime(2026, 1, 1)  # 90 days before START
NOW = dt.datetime(2026, 4, 15, 11, 0)
PRE_NOW = dt.datetime(2026, 3, 10, 11, 0)
AS_OF = dt.datetime(2026, 5, 1)


def spec_text(name: str, **extra: Any) -> str:
    spec: dict[str, Any] = {
        "name": name,
        "kind": "offer",
        "start": START.isoformat(),
        "variants": [
            {"name": "control", "weight": 0.34, "control": True, "treatment": "base"},
            {"name": "cashback", "weight": 0.33, "treatment": "cc_cashback"},
            {"name": "travel", "weight": 0.33, "treatment": "cc_premium_travel"},
        ],
        "metrics": {
            "primary": "conversion",
            "secondary": [
                "value",
                {
                    "name": "ctr",
                    "kind": "ratio",
                    "outcome": "clicks",
                    "denominator": "impressions",
                },
                {"name": "new_accounts", "kind": "mean", "cuped": True},
            ],
            "guardrails": [
                "churn",
                {
                    "name": "complaints",
                    "kind": "mean",
                    "cuped": True,
                    "higher_is_better": False,
                },
            ],
        },
        **extra,
    }
    return yaml.safe_dump(spec, sort_keys=False)


# ------------------------------------------------------------------ the bank


def _events_for(
    served: list[tuple[Any, dt.datetime]], rng: np.random.Generator
) -> list[EventIn]:
    """Impressions, clicks and accepts/conversions (with values) of the
    offers of each ``(decision, time)``, a few minutes after it."""
    out = []
    for r, at in served:
        ts = at + dt.timedelta(minutes=5)
        for o in r.offers:
            base = {"decision_id": r.decision_id, "offer_id": o.offer_id, "ts": ts}
            if rng.random() < 0.8:
                out.append(EventIn(uuid.uuid4().hex, type="impression", **base))
            if rng.random() < 0.4:
                out.append(EventIn(uuid.uuid4().hex, type="click", **base))
            if rng.random() < 0.3:
                value = float(np.round(rng.gamma(2.0, 50.0), 2))
                kind = "accept" if rng.random() < 0.5 else "conversion"
                out.append(EventIn(uuid.uuid4().hex, type=kind, value=value, **base))
    return out


def _make_history(engine: Engine, ids: list[str], spec: ExperimentSpec) -> None:
    """Pre-period and experiment decisions through the decider, their events,
    and complaints, new and closed accounts and new-to-bank customers."""
    rng = np.random.default_rng(42)
    decider = Decider.load(engine)
    assert spec.name in [e.name for e in decider.experiments]
    pre = [(decider.decide(c, "web", 2, now=PRE_NOW), PRE_NOW) for c in ids[::2]]
    assert all(r.experiment is None for r, _ in pre)  # before the start date
    later = NOW + dt.timedelta(hours=2)
    during = [(decider.decide(c, "web", 3, now=NOW), NOW) for c in ids]
    during += [(decider.decide(c, "mobile", 1, now=later), later) for c in ids[::3]]
    assert all(r.experiment == spec.name for r, _ in during)
    events = _events_for(pre, rng) + _events_for(during, rng)
    # events after the as-of time do not count
    late = [r for r, _ in during if r.offers][:10]
    events += [
        EventIn(
            uuid.uuid4().hex,
            r.decision_id,
            r.offers[0].offer_id,
            "accept",
            AS_OF,
            999.0,
        )
        for r in late
    ]
    for i in range(0, len(events), 500):
        record_events(engine, events[i : i + 500], received_at=dt.datetime.now(dt.UTC))
    complaints = []
    for k, c in enumerate(ids):
        for when in (
            ([dt.datetime(2026, 4, 20, 9)] if k % 4 == 0 else [])
            + ([dt.datetime(2026, 2, 3, 9)] if k % 3 == 0 else [])
            + ([dt.datetime(2026, 5, 2, 9)] if k % 5 == 0 else [])  # after as-of
        ):
            complaints.append(
                {
                    "interaction_id": f"I-{uuid.uuid4().hex[:12]}",
                    "customer_id": c,
                    "timestamp": when,
                    "channel": "phone",
                    "reason": "fees",
                    "note": None,
                    "complaint": True,
                }
            )
    opened = [
        {
            "account_id": f"A-{uuid.uuid4().hex[:12]}",
            "customer_id": c,
            "product": "savings",
            "open_date": day,
            "balance": 0.0,
            "currency": "GBP",
        }
        for k, c in enumerate(ids)
        for day in (
            ([dt.date(2026, 4, 15)] if k % 5 == 1 else [])  # the exposure day counts
            + ([dt.date(2026, 2, 10)] if k % 6 == 1 else [])
        )
    ]
    with write(engine) as conn:
        conn.execute(insert(T["interactions"]), complaints)
        conn.execute(insert(T["accounts"]), opened)
        churned = ids[2::7]
        conn.execute(
            update(T["accounts"])
            .where(T["accounts"].c.customer_id.in_(churned))
            .values(close_date=dt.date(2026, 4, 25))
        )
        conn.execute(  # new to bank: no pre-period
            update(T["customers"])
            .where(T["customers"].c.customer_id.in_(ids[1::6]))
            .values(join_date=dt.date(2026, 2, 15))
        )


# ------------------------------------------------------------------ pandas


def _frame(engine: Engine, table: str, ids: list[str]) -> pd.DataFrame:
    t = T[table]
    with read(engine) as conn:
        return pd.read_sql(select(t).where(t.c.customer_id.in_(ids)), conn)


def _frame_of_offers(engine: Engine, decision_ids: list[str]) -> pd.DataFrame:
    t = T["decision_offers"]
    with read(engine) as conn:
        return pd.read_sql(select(t).where(t.c.decision_id.in_(decision_ids)), conn)


def _pandas_data(
    engine: Engine, spec: ExperimentSpec, ids: list[str]
) -> tuple[dict[str, Any], np.ndarray]:
    """Per-unit outcomes from the raw rows, then sufficient statistics in numpy."""
    d = _frame(engine, "decisions", ids)
    d["ts"] = pd.to_datetime(d["ts"])
    d = d[(d["experiment"] == spec.name) & (d["mode"] == "live") & (d["ts"] < AS_OF)]
    units = d.groupby("customer_id").agg(
        variant=("variant", "first"), n_var=("variant", "nunique"), first=("ts", "min")
    )
    assert (units["n_var"] == 1).all()
    e = _frame(engine, "offer_events", ids)
    e["ts"] = pd.to_datetime(e["ts"])
    e["value"] = e["value"].fillna(0.0)
    pos = e["type"].isin(["accept", "conversion"])
    during = e[e["decision_id"].isin(d["decision_id"]) & (e["ts"] < AS_OF)]
    dpos = pos.loc[during.index]
    g = during.groupby("customer_id")
    out = pd.DataFrame(index=units.index)
    out["conversion"] = dpos.groupby(during["customer_id"]).max().astype(float)
    out["value"] = during["value"].where(dpos, 0.0).groupby(during["customer_id"]).sum()
    out["clicks"] = g["type"].apply(lambda s: (s == "click").sum())
    out["decisions"] = d.groupby("customer_id").size()
    o = _frame_of_offers(engine, d["decision_id"].tolist())
    out["offers_shown"] = (
        o.merge(d[["decision_id", "customer_id"]], on="decision_id")
        .groupby("customer_id")
        .size()
    )
    out["impressions"] = g["type"].apply(lambda s: (s == "impression").sum())
    pre_end = dt.datetime.combine(START, dt.time())
    pe = e[(e["ts"] >= PRE_START) & (e["ts"] < pre_end)]
    ppos = pos.loc[pe.index]
    out["pre_value"] = pe["value"].where(ppos, 0.0).groupby(pe["customer_id"]).sum()
    out["pre_conversion"] = ppos.groupby(pe["customer_id"]).max().astype(float)
    i = _frame(engine, "interactions", ids)
    i["timestamp"] = pd.to_datetime(i["timestamp"])
    i = i[i["complaint"].astype(bool)].join(units["first"], on="customer_id")
    after = i[(i["timestamp"] >= i["first"]) & (i["timestamp"] < AS_OF)]
    out["complaints"] = after.groupby("customer_id").size()
    before = i[(i["timestamp"] >= PRE_START) & (i["timestamp"] < pre_end)]
    out["pre_complaints"] = before.groupby("customer_id").size()
    a = _frame(engine, "accounts", ids).join(units["first"], on="customer_id")
    opened = pd.to_datetime(a["open_date"])
    closed = pd.to_datetime(a["close_date"])
    first_day = a["first"].dt.normalize()
    new = (opened >= first_day) & (opened < pd.Timestamp(AS_OF.date()))
    out["new_accounts"] = new.groupby(a["customer_id"]).sum()
    pre_new = (opened >= PRE_START) & (opened < pd.Timestamp(pre_end))
    out["pre_new_accounts"] = pre_new.groupby(a["customer_id"]).sum()

    def open_on(day: pd.Series | pd.Timestamp) -> pd.Series:
        is_open = (opened <= day) & (closed.isna() | (closed > day))
        return is_open.groupby(a["customer_id"]).any()

    out["churn"] = (open_on(first_day) & ~open_on(pd.Timestamp(AS_OF.date()))).astype(
        float
    )
    out = out.fillna(0.0)
    cust = _frame(engine, "customers", ids).set_index("customer_id")
    has_pre = (pd.to_datetime(cust["join_date"]) <= PRE_START).reindex(out.index)
    has_pre = has_pre.fillna(False).to_numpy()
    index = {v: k for k, v in enumerate(spec.variant_names)}
    groups = units["variant"].map(index).to_numpy()
    k = len(index)

    def cov(col: str) -> np.ndarray:
        return pre_period_covariates(out[col].to_numpy(), has_pre)

    data = {
        "conversion": sample_stats(out["conversion"], groups, k),
        "value": cuped_stats(out["value"], cov("pre_value"), groups, k),
        "ctr": ratio_stats(out["clicks"], out["impressions"], groups, k),
        "offers_per_decision": ratio_stats(
            out["offers_shown"], out["decisions"], groups, k
        ),
        "conversion_cuped": cuped_stats(
            out["conversion"], cov("pre_conversion"), groups, k
        ),
        "new_accounts": cuped_stats(
            out["new_accounts"], cov("pre_new_accounts"), groups, k
        ),
        "churn": sample_stats(out["churn"], groups, k),
        "complaints": cuped_stats(out["complaints"], cov("pre_complaints"), groups, k),
    }
    # the test can fail: every outcome varies, and so do the covariates
    for col in ("conversion", "value", "clicks", "complaints", "churn", "new_accounts"):
        assert out[col].nunique() > 1, col
    assert out["pre_value"].gt(0).any()
    assert out["pre_complaints"].gt(0).any()
    assert has_pre.any()
    assert not has_pre.all()
    return data, np.bincount(groups, minlength=k).astype(float)


def _same(a: Any, b: Any, path: str = "") -> None:
    """Equal up to float rounding of sums taken in another order (1e-9)."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{n}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(
            b, rel=1e-9, abs=1e-12
        ), (path, a, b)
    else:
        assert a == b, (path, a, b)


def test_results_match_a_readout_computed_in_pandas(
    bank_engine: Engine, customers: Customers
) -> None:
    ids = customers.take(150)
    name = f"store-results-{uuid.uuid4().hex[:8]}"
    spec_data = yaml.safe_load(spec_text(name))
    spec_data["metrics"]["secondary"] += [
        {
            "name": "offers_per_decision",
            "kind": "ratio",
            "outcome": "offers_shown",
            "denominator": "decisions",
        },
        {"name": "conversion_cuped", "outcome": "conversion", "cuped": True},
    ]
    rec = create_experiment(bank_engine, yaml.safe_dump(spec_data))
    start_experiment(bank_engine, name, now=dt.datetime(2026, 4, 1, 8))
    try:
        spec = rec.spec
        assert isinstance(spec, ExperimentSpec)
        _make_history(bank_engine, ids, spec)
        res = experiment_results_detail(bank_engine, name, as_of=AS_OF)
    finally:
        stop_experiment(bank_engine, name, reason="test over")
    data, units = _pandas_data(bank_engine, spec, ids)
    want = readout(spec, data, units=units)
    assert res.stats.mixed_units == 0
    assert res.stats.other_variants == {}
    np.testing.assert_array_equal(res.stats.units, units)
    assert units.sum() == len(ids)
    np.testing.assert_array_equal(
        res.stats.units,
        np.bincount(assign(spec, ids), minlength=3).astype(float),
    )
    _same(res.readout.to_dict(), want.to_dict())
    value = res.readout.result("cashback", "value")
    assert value.variance_reduction is not None
    # the pre-period can only explain variance; with theta estimated from
    # ~100 units a ratio just above 1 is estimation noise, not inflation
    assert value.variance_reduction < 1.01
    # the stopped experiment reads the same at the same as-of time
    again = experiment_results(bank_engine, name, as_of=AS_OF)
    _same(again.to_dict(), res.readout.to_dict())


# ------------------------------------------------------------------ lifecycle


def test_lifecycle_is_audited(engine: Engine) -> None:
    rec = create_experiment(engine, spec_text("life", traffic=0.4), actor="ann")
    assert (rec.status, rec.kind, rec.layer, rec.created_by) == (
        "draft",
        "offer",
        None,
        "ann",
    )
    assert rec.spec_text == spec_text("life", traffic=0.4)  # stored as submitted
    assert running_experiments(engine).experiments == ()
    start_experiment(engine, "life", actor="bob")
    run = running_experiments(engine, dt.date(2026, 4, 2))
    assert [e.name for e in run.experiments] == ["life"]
    assert running_experiments(engine, dt.date(2026, 3, 31)).experiments == ()
    stop_experiment(engine, "life", reason="  harm on churn ", actor="cy")
    got = get_experiment(engine, "life")
    assert (got.status, got.stop_reason) == ("stopped", "harm on churn")
    actions = [(c.action, c.actor) for c in experiment_changes(engine, "life")]
    assert actions == [("create", "ann"), ("start", "bob"), ("stop", "cy")]
    assert [r.name for r in list_experiments(engine, status="stopped")] == ["life"]


def test_ramp_moves_nobody_and_keeps_the_previous_spec(engine: Engine) -> None:
    text = spec_text("ramp", traffic=0.4).replace(
        "traffic: 0.4", "traffic: 0.4  # first week"
    )
    old = create_experiment(engine, text).spec
    start_experiment(engine, "ramp")
    new = ramp_experiment(engine, "ramp", 0.9, actor="ann")
    assert "traffic: 0.9  # first week" in new.spec_text  # comments kept
    assert isinstance(old, ExperimentSpec)
    assert isinstance(new.spec, ExperimentSpec)
    assert new.spec.traffic == 0.9
    ids = [f"C{i:08d}" for i in range(20_000)]
    before, after = assign(old, ids), assign(new.spec, ids)
    enrolled = before >= 0
    assert enrolled.mean() == pytest.approx(0.4, abs=0.02)
    np.testing.assert_array_equal(after[enrolled], before[enrolled])
    assert (after >= 0).mean() == pytest.approx(0.9, abs=0.02)
    ramp = experiment_changes(engine, "ramp")[-1]
    assert ramp.action == "ramp"
    assert ramp.detail["previous_spec"] == text
    assert (ramp.detail["traffic_from"], ramp.detail["traffic_to"]) == (0.4, 0.9)


def _layered(name: str, start: int, end: int) -> str:
    return spec_text(name, layer={"name": "email", "start": start, "end": end})


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda e: create_experiment(e, spec_text("dup")),
            ExperimentStateError,
            r"^experiment 'dup' already exists \(draft\); expected a new name$",
        ),
        (
            lambda e: start_experiment(e, "nope"),
            UnknownExperimentError,
            r"^experiment 'nope' does not exist; see `nbo experiment list`$",
        ),
        (
            lambda e: (start_experiment(e, "dup"), start_experiment(e, "dup")),
            ExperimentStateError,
            r"^experiment 'dup' is running; expected a draft to start$",
        ),
        (
            lambda e: (
                stop_experiment(e, "dup", reason="x"),
                start_experiment(e, "dup"),
            ),
            ExperimentStateError,
            r"^experiment 'dup' is stopped; expected a draft to start; a stopped "
            r"experiment stays stopped: create a new one with a new salt$",
        ),
        (
            lambda e: stop_experiment(e, "dup", reason=" "),
            DataValidationError,
            r"^reason: expected a non-empty text saying why, got ' '$",
        ),
        (
            lambda e: ramp_experiment(e, "dup", 0.5),
            DataValidationError,
            r"^traffic: expected more than the current 1 and at most 1 \(lowering "
            r"it would un-enrol customers\), got 0.5$",
        ),
        (
            lambda e: (
                create_experiment(e, _layered("a", 0, 5000)),
                create_experiment(e, _layered("b", 4000, 10000)),
                start_experiment(e, "a"),
                start_experiment(e, "b"),
            ),
            ExperimentStateError,
            r"^cannot start experiment 'b': layer 'email': experiments 'a' \(slots "
            r"0-5000\) and 'b' \(slots 4000-10000\) overlap on slots 4000-5000 while "
            r"both run; expected disjoint slots$",
        ),
        (
            lambda e: (
                create_experiment(e, "salt: gh-1\nshare: 0.02\n"),
                create_experiment(e, "name: gh-two\nsalt: gh-2\nshare: 0.01\n"),
                start_experiment(e, "global-holdout-gh-1"),
                start_experiment(e, "gh-two"),
            ),
            ExperimentStateError,
            r"^global holdout 'global-holdout-gh-1' is running; stop it before "
            r"starting 'gh-two' \(one global holdout at a time\)$",
        ),
        (
            lambda e: experiment_results(e, "dup"),
            ExperimentStateError,
            r"^experiment 'dup' is a draft; start it before reading results$",
        ),
    ],
)
def test_lifecycle_errors(
    engine: Engine, call: Any, error: type[Exception], match: str
) -> None:
    create_experiment(engine, spec_text("dup", traffic=1.0))
    with pytest.raises(error, match=match):
        call(engine)


def test_spec_errors_name_file_line_and_field(engine: Engine) -> None:
    text = spec_text("bad", audience={"rule": "age >= 21 and email_opt_in"})
    text = text.replace(
        "primary: conversion",
        "primary: {name: amount, outcome: value, kind: proportion}",
    )
    text = text.replace("denominator: impressions", "denominator: emails_sent")
    text = text.replace("- churn", "- {name: churn, cuped: true}")
    with pytest.raises(ExperimentSpecError) as info:
        create_experiment(engine, text, source="bad.yaml")
    assert str(info.value).splitlines() == [
        "bad.yaml:16 metrics.primary.kind: outcome 'value' is a count or an amount, "
        "not 0/1; expected kind mean or ratio, got 'proportion'",
        "bad.yaml:22 metrics.secondary.1.denominator: unknown outcome 'emails_sent'; "
        "expected one of conversion, value, clicks, impressions, decisions, "
        "offers_shown, new_accounts, churn, complaints",
        "bad.yaml:27 metrics.guardrails.0.cuped: outcome 'churn' has no pre-period "
        "value; expected cuped: false, got true",
        "bad.yaml:33 audience.rule: line 1, column 15: unknown field 'email_opt_in'",
    ]
    assert list_experiments(engine) == []
    with pytest.raises(ExperimentSpecError, match=r"^<experiment>: not valid JSON"):
        create_experiment(engine, "{", json_body=True)


# ------------------------------------------------------------------ the CLI


def test_cli_lifecycle_and_results(
    engine: Engine, db_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    import nbo_engine.cli.experiment  # noqa: F401  (registers the commands)
    from nbo_engine.cli import app
    from nbo_engine.config import get_settings

    monkeypatch.setenv("NBO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    runner = CliRunner()

    def nbo(*args: str) -> Any:
        return runner.invoke(app, ["experiment", *args])

    good = tmp_path / "cli.yaml"
    good.write_text(spec_text("cli", traffic=0.5))
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec_text("bad").replace("weight: 0.33", "weight: 1.5", 1))
    res = nbo("create", str(bad))
    assert res.exit_code == 1
    assert "bad.yaml:10 variants.1.weight: Input should be less than or equal to 1" in (
        res.output
    )
    assert "error: bad.yaml: 1 problem; not created" in res.output
    res = nbo("create", str(good))
    assert res.exit_code == 0, res.output
    assert "created experiment 'cli' (offer): draft" in res.output
    assert nbo("results", "cli").exit_code == 1  # a draft has no results
    assert nbo("start", "cli").exit_code == 0
    res = nbo("ramp", "cli", "--traffic", "0.2")
    assert res.exit_code == 2
    assert "--traffic: expected more than the current 0.5 and at most 1" in res.output
    assert nbo("ramp", "cli", "--traffic", "1").exit_code == 0
    res = nbo("list")
    assert res.exit_code == 0
    assert "running" in res.output
    res = nbo("results", "cli", "--json", "--as-of", "2026-05-01")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert (out["experiment"], out["status"], out["decision"]) == (
        "cli",
        "running",
        "keep_running",
    )
    assert out["units"] == [0, 0, 0]
    assert {m["metric"] for m in out["metrics"]} == {
        "conversion",
        "value",
        "ctr",
        "new_accounts",
        "churn",
        "complaints",
    }
    res = nbo("results", "cli")
    assert res.exit_code == 0
    assert "decision: keep_running" in res.output
    assert "sample ratio: ok" in res.output
    res = nbo("stop", "cli", "--reason", "")
    assert res.exit_code == 2
    assert "--reason: expected a non-empty text saying why, got ''" in res.output
    assert nbo("stop", "cli", "--reason", "done").exit_code == 0
    res = nbo("stop", "cli", "--reason", "again")
    assert res.exit_code == 1
    assert "was stopped already" in res.output
    assert nbo("start", "nope").output.startswith(
        "error: experiment 'nope' does not exist"
    )

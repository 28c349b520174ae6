"""Batch decisions (``nbo decide batch``): same rules, same log, replayable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nbo_engine.decisioning import Decider
from nbo_engine.decisioning.batch import BATCH_COLUMNS, decide_batch
from nbo_engine.decisioning.replay import replay_decision
from nbo_engine.errors import DecisionInputError
from nbo_engine.experiments import GlobalHoldout
from nbo_engine.experiments.assignment import in_global_holdout
from nbo_engine.store import Engine
from nbo_engine.store import decisions as dstore
from tests.scored_bank import NOW_ISO, Customers

NOW = dt.datetime.fromisoformat(NOW_ISO)


def test_batch_logs_every_decision_and_replays(
    bank_engine: Engine, customers: Customers
) -> None:
    ids = customers.take(24)
    result = decide_batch(
        bank_engine,
        channel="email",
        now=NOW,
        n=2,
        customer_ids=[*ids, "NOT-A-CUSTOMER"],
        chunk=25,  # several transactions
    )
    assert result.decisions == 24
    assert result.not_scored == 1
    assert list(result.offers.columns) == list(BATCH_COLUMNS)
    assert result.customers_with_offers == result.offers["customer_id"].nunique()
    assert result.customers_with_offers > 10
    assert result.offers["rank"].max() <= 2
    assert (
        (result.offers["propensity"] > 0) & (result.offers["propensity"] <= 1)
    ).all()
    # every decision is in the log, once, as a live email decision
    log = dstore.decisions_frame(bank_engine, result.offers["decision_id"].unique())
    assert len(log) == result.offers["decision_id"].nunique()
    assert set(log["channel"]) == {"email"}
    for did in result.offers["decision_id"].unique()[:10]:
        replay = replay_decision(bank_engine, did)
        assert replay.matches, did
        chosen = result.offers[result.offers["decision_id"] == did]
        assert replay.offers == tuple(chosen.sort_values("rank")["offer_id"])


def test_batch_respects_contact_caps_and_the_holdout(
    bank_engine: Engine, customers: Customers
) -> None:
    ids = customers.take(12)
    first = decide_batch(bank_engine, channel="email", now=NOW, customer_ids=ids)
    served = sorted(first.offers["customer_id"].unique())
    assert served
    # the catalogue allows one e-mail a day: an hour later nobody gets another
    again = decide_batch(
        bank_engine,
        channel="email",
        now=NOW + dt.timedelta(hours=1),
        customer_ids=served,
    )
    assert again.offers.empty
    assert again.blocked == {"contact_cap": len(served)}
    # a global holdout's customers get nothing, and are logged as such
    holdout = GlobalHoldout(salt="batch-test", share=0.2)
    fresh = customers.take(25)
    decider = Decider.load(bank_engine, global_holdout=holdout)
    held = set(pd.Index(fresh)[in_global_holdout(holdout, fresh)])
    assert held
    res = decide_batch(
        bank_engine,
        channel="email",
        now=NOW + dt.timedelta(days=2),
        customer_ids=fresh,
        decider=decider,
    )
    assert not held & set(res.offers["customer_id"])
    assert res.blocked.get("global_holdout") == len(held)


def test_batch_input_errors(bank_engine: Engine) -> None:
    with pytest.raises(DecisionInputError, match=r"channel: expected one of"):
        decide_batch(bank_engine, channel="fax", now=NOW, customer_ids=[])
    with pytest.raises(DecisionInputError, match=r"chunk: expected an integer >= 1"):
        decide_batch(bank_engine, channel="email", now=NOW, chunk=0)


def test_cli_batch_writes_the_audience_file(
    bank_engine: Engine,
    bank_url: str,
    customers: Customers,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nbo_engine.cli import app
    from nbo_engine.config import get_settings

    monkeypatch.setenv("NBO_DATABASE_URL", bank_url)
    get_settings.cache_clear()
    audience = tmp_path / "audience.txt"
    audience.write_text("\n".join(customers.take(6)) + "\n")
    out = tmp_path / "email.parquet"
    r = CliRunner().invoke(
        app,
        [
            "decide",
            "batch",
            "--out",
            str(out),
            "--customers",
            str(audience),
            "--at",
            (NOW + dt.timedelta(days=3)).isoformat(),
        ],
    )
    get_settings.cache_clear()
    assert r.exit_code == 0, r.output
    assert "6 customers decided on email" in r.output
    frame = pd.read_parquet(out)
    assert set(frame.columns) == set(BATCH_COLUMNS)
    bad = CliRunner().invoke(app, ["decide", "batch", "--out", str(tmp_path / "x.txt")])
    assert bad.exit_code == 2
    assert "--out: expected a .csv or .parquet file" in bad.output

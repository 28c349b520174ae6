"""``nbo decisions export``: the log with propensities and attributed rewards,
in formats Vowpal Wabbit and Open Bandit Pipeline read."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nbo_engine.cli import app
from nbo_engine.config import get_settings
from nbo_engine.decisioning import Decider
from nbo_engine.errors import DecisionInputError
from nbo_engine.jobs.export import decision_table, export_decisions
from nbo_engine.store import Engine
from nbo_engine.store.events import EventIn, record_events
from tests.scored_bank import NOW_ISO, Customers

NOW = dt.datetime.fromisoformat(NOW_ISO)
NAIVE = NOW.replace(tzinfo=None)


@pytest.fixture
def logged(bank_engine: Engine, customers: Customers) -> dict[str, object]:
    """Decisions for 12 customers (2 offers each where eligible); accepts on
    some, one too late for a 30-day window, one impression (not a reward)."""
    decider = Decider.load(bank_engine)
    results = [decider.decide(c, "web", 2, now=NOW) for c in customers.take(12)]
    results = [r for r in results if r.offers]
    assert len(results) >= 6
    ids = {r.decision_id for r in results}
    first = results[0].offers[0]
    late = results[1].offers[0]
    events = [
        EventIn("e-accept", results[0].decision_id, first.offer_id, "accept", NAIVE),
        EventIn(
            "e-late",
            results[1].decision_id,
            late.offer_id,
            "conversion",
            NAIVE + dt.timedelta(days=40),
            value=120.0,
        ),
        EventIn(
            "e-seen",
            results[2].decision_id,
            results[2].offers[0].offer_id,
            "impression",
            NAIVE,
        ),
        EventIn(
            "e-conv",
            results[3].decision_id,
            results[3].offers[0].offer_id,
            "conversion",
            NAIVE + dt.timedelta(days=3),
            value=80.0,
        ),
    ]
    record_events(bank_engine, events, received_at=dt.datetime.now(dt.UTC))
    rewarded = {
        (results[0].decision_id, first.offer_id),
        (results[3].decision_id, results[3].offers[0].offer_id),
    }
    chosen = {
        (r.decision_id, o.offer_id): o.propensity for r in results for o in r.offers
    }
    return {"ids": ids, "rewarded": rewarded, "chosen": chosen, "late": late}


def _mine(frame: pd.DataFrame, ids: object) -> pd.DataFrame:
    return frame[frame["decision_id"].isin(ids)]  # type: ignore[arg-type]


def test_rewards_are_attributed_within_the_window(
    bank_engine: Engine, logged: dict[str, object]
) -> None:
    table, _ = decision_table(bank_engine, since=NAIVE, window_days=30)
    mine = _mine(table, logged["ids"])
    chosen = logged["chosen"]
    assert isinstance(chosen, dict)
    assert len(mine) == len(chosen)
    for row in mine.itertuples():
        assert row.propensity == pytest.approx(chosen[(row.decision_id, row.offer_id)])
        key = (row.decision_id, row.offer_id)
        assert row.reward == (1.0 if key in logged["rewarded"] else 0.0), key  # type: ignore[operator]
        # Rank r chooses among the eligible offers not placed at better ranks.
        available = json.loads(row.available)
        assert row.offer_id in available
        assert set(available) <= set(json.loads(row.eligible))
    # A 50-day window also counts the late conversion; value sums values.
    wide, _ = decision_table(bank_engine, since=NAIVE, window_days=50, reward="value")
    wide = _mine(wide, logged["ids"]).set_index(["decision_id", "offer_id"])["reward"]
    assert sorted(wide[wide > 0].tolist()) == [80.0, 120.0]


def test_three_formats_carry_the_same_rows(
    bank_engine: Engine, logged: dict[str, object], tmp_path: Path
) -> None:
    pq = export_decisions(bank_engine, tmp_path / "log.parquet", "parquet")
    frame = pd.read_parquet(pq.path)
    assert len(frame) == pq.rows >= len(logged["chosen"])  # type: ignore[arg-type]

    obp = export_decisions(bank_engine, tmp_path / "log.obp", "obp")
    with np.load(obp.path, allow_pickle=False) as d:
        n = int(d["n_rounds"])
        assert n == pq.rows
        assert d["context"].shape[0] == n
        assert d["action"].shape == d["reward"].shape == d["pscore"].shape == (n,)
        names = d["action_names"].tolist()
        assert [names[a] for a in d["action"]] == frame["offer_id"].tolist()
        np.testing.assert_allclose(d["pscore"], frame["propensity"])
        assert d["position"].tolist() == (frame["rank"] - 1).tolist()

    vw = export_decisions(bank_engine, tmp_path / "log.vw", "vw")
    examples = [b for b in vw.path.read_text().split("\n\n") if b.strip()]
    assert len(examples) == pq.rows
    for block, row in zip(examples, frame.itertuples(), strict=True):
        lines = block.splitlines()
        assert lines[0].startswith("shared |u ")
        labelled = [line for line in lines[1:] if not line.startswith("|a")]
        assert labelled == [
            f"0:{-row.reward:g}:{row.propensity:.6g} |a offer={row.offer_id}"
        ]
        assert len(lines) - 1 == len(json.loads(row.available))
    # Vowpal Wabbit itself reads and learns from the file.
    vowpalwabbit = pytest.importorskip("vowpalwabbit")
    model = vowpalwabbit.Workspace("--cb_explore_adf --quiet")
    for block in examples[:20]:
        model.learn(block.splitlines())
    model.finish()


def test_cli_and_errors(
    bank_engine: Engine,
    bank_url: str,
    logged: dict[str, object],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NBO_DATABASE_URL", bank_url)
    get_settings.cache_clear()
    runner = CliRunner()
    out = tmp_path / "x.parquet"
    r = runner.invoke(app, ["decisions", "export", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "chosen offers" in r.output
    assert out.exists()
    r = runner.invoke(
        app, ["decisions", "export", "--out", str(out), "--format", "csv"]
    )
    assert r.exit_code == 2
    assert "format: expected one of parquet, vw, obp, got 'csv'" in r.output
    r = runner.invoke(
        app, ["decisions", "export", "--out", str(out), "--since", "yesterday"]
    )
    assert r.exit_code == 2
    assert "--since" in r.output
    with pytest.raises(
        DecisionInputError, match="reward: expected conversion or value"
    ):
        decision_table(bank_engine, reward="clicks")
    with pytest.raises(DecisionInputError, match="window_days: expected a positive"):
        decision_table(bank_engine, window_days=0)

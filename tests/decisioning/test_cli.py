"""``nbo policy publish|activate|rollback|list`` and ``nbo decide one``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nbo_engine.cli.decide  # noqa: F401  (registers the commands)
from nbo_engine.cli import app
from nbo_engine.config import get_settings
from nbo_engine.store import Engine
from nbo_engine.store.policies import read_slots
from tests.scored_bank import CATALOG, Customers

runner = CliRunner()


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> object:
    def point(e: Engine) -> None:
        monkeypatch.setenv(
            "NBO_DATABASE_URL", e.url.render_as_string(hide_password=False)
        )
        get_settings.cache_clear()

    return point


def test_policy_commands(engine: Engine, use: object, tmp_path: Path) -> None:
    use(engine)  # type: ignore[operator]
    r = runner.invoke(
        app, ["policy", "publish", str(CATALOG), "--activate", "--note", "v1"]
    )
    assert r.exit_code == 0, r.output
    assert (
        "published policy 'retail_default' as version id 1, serving in slot live"
        in r.output
    )
    assert (
        runner.invoke(app, ["policy", "publish", str(CATALOG), "--shadow"]).exit_code
        == 0
    )
    assert read_slots(engine) == {"live": 1, "shadow": 2}
    r = runner.invoke(app, ["policy", "activate", "2", "--slot", "live"])
    assert r.exit_code == 0
    assert "slot live: version 1 -> 2" in r.output
    r = runner.invoke(app, ["policy", "rollback"])
    assert r.exit_code == 0
    assert "rolled back 2 -> 1" in r.output
    r = runner.invoke(app, ["policy", "list"])
    assert "retail_default v2" in r.output
    assert "[live]" in r.output
    assert "[shadow]" in r.output
    r = runner.invoke(app, ["policy", "activate", "9"])
    assert r.exit_code == 1
    assert "policy version 9 does not exist" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    r = runner.invoke(app, ["policy", "publish", str(bad)])
    assert r.exit_code == 1
    assert "bad.yaml: not published" in r.output


def test_decide_one_json(
    bank_engine: Engine, use: object, customers: Customers
) -> None:
    use(bank_engine)  # type: ignore[operator]
    (cid,) = customers.take()
    r = runner.invoke(
        app, ["decide", "one", cid, "--channel", "web", "--n", "3", "--json"]
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert got["customer_id"] == cid
    assert got["channel"] == "web"
    assert all(0 < o["propensity"] <= 1 for o in got["offers"])
    r = runner.invoke(app, ["decide", "one", cid, "--channel", "fax"])
    assert r.exit_code == 1
    assert "channel: expected one of" in r.output

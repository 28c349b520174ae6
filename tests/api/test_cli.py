"""``nbo apikey create|list|revoke`` and ``nbo serve``'s refusal of an
unmigrated store."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import nbo_engine.cli.serve  # noqa: F401  (registers the commands)
from nbo_engine.cli import app
from nbo_engine.config import get_settings
from nbo_engine.store import Engine
from nbo_engine.store.apikeys import hash_key, lookup_key

runner = CliRunner()


@pytest.fixture
def store_env(engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("NBO_DATABASE_URL", db_url)
    get_settings.cache_clear()
    return engine


def test_create_list_revoke(store_env: Engine) -> None:
    created = runner.invoke(
        app,
        [
            "apikey",
            "create",
            "--role",
            "channel",
            "--name",
            "web shop",
            "--rate-per-minute",
            "120",
        ],
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("nbo_")
    assert len(key) == 56
    assert "cannot be shown again" in created.stderr
    record = lookup_key(store_env, key)
    assert record is not None
    assert (record.role, record.name, record.rate_per_minute) == (
        "channel",
        "web shop",
        120,
    )

    listed = runner.invoke(app, ["apikey", "list"])
    assert listed.exit_code == 0
    assert record.prefix in listed.stdout
    assert "web shop" in listed.stdout
    assert key not in listed.stdout
    assert key[13:] not in listed.stdout  # no part of the secret
    assert hash_key(key) not in listed.stdout

    revoked = runner.invoke(app, ["apikey", "revoke", str(record.id)])
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked key {record.id} ({record.prefix}, web shop)" in revoked.stdout
    again = lookup_key(store_env, key)
    assert again is not None
    assert not again.active


def test_bad_role_and_unknown_id(store_env: Engine) -> None:
    bad = runner.invoke(app, ["apikey", "create", "--role", "root", "--name", "x"])
    assert bad.exit_code == 1
    assert (
        "api key role: got 'root', expected one of channel, analyst, "
        "campaign_manager, admin" in bad.stderr
    )
    missing = runner.invoke(app, ["apikey", "revoke", "999"])
    assert missing.exit_code == 1
    assert "api key id: no key has id 999" in missing.stderr


def test_serve_refuses_an_unmigrated_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBO_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    result = runner.invoke(app, ["serve", "--port", "1"])
    assert result.exit_code == 1
    assert "is at revision none, expected" in result.stderr
    assert "run `nbo db upgrade`" in result.stderr

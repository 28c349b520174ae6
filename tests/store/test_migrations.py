"""Migrations run up and down on both backends and match the table definitions."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from nbo_engine.store import Engine, make_engine, migrate
from nbo_engine.store.tables import metadata


def test_up_down_up(db_url: str) -> None:
    e = make_engine(db_url)
    assert migrate.current_revision(e) is None
    migrate.upgrade(e)
    assert migrate.current_revision(e) == migrate.head_revision()
    tables = set(inspect(e).get_table_names())
    assert set(metadata.tables) <= tables
    migrate.downgrade(e, "base")
    assert migrate.current_revision(e) is None
    assert set(inspect(e).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(e)
    assert set(metadata.tables) <= set(inspect(e).get_table_names())


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []

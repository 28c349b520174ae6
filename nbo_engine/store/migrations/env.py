"""Alembic environment: the engine comes from ``nbo_engine.store.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from nbo_engine.store import tables  # noqa: F401  (registers every table)
from nbo_engine.store.engine import make_engine
from nbo_engine.store.tables import metadata

config = context.config


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    return engine if engine is not None else make_engine()


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()

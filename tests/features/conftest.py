"""A small simulated bank loaded into SQLite once, as frames for the profile."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nbo_engine.ingest import ingest_dir
from nbo_engine.store import make_engine, migrate, queries


@pytest.fixture(scope="session")
def bank_tables(
    small_bank: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, pd.DataFrame]:
    db = tmp_path_factory.mktemp("features") / "nbo.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    ingest_dir(small_bank, engine=engine)
    return queries.read_tables(engine)

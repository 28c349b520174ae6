"""Loading a simulated bank: dirt caught, nothing clean lost, idempotent, atomic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from nbo_engine.ingest import ingest_dir, ingest_file
from nbo_engine.simulate.scorecard import dirt_catch, expected_loaded, household_scores
from nbo_engine.store import Engine, queries, read


def _counts(engine: Engine) -> dict[str, int]:
    return queries.table_counts(engine)


def _file_rows(folder: Path) -> dict[str, int]:
    out = {}
    for path in folder.glob("*.csv"):
        with path.open("rb") as f:
            out[path.stem] = sum(1 for _ in f) - 1
    return out


def test_dirt_is_caught_and_no_clean_row_is_lost(
    engine: Engine, small_bank: Path
) -> None:
    reports = ingest_dir(small_bank, engine=engine)
    assert all(r.status == "succeeded" for r in reports)
    manifest = pd.read_csv(small_bank / "truth" / "dirt.csv")
    caught = dirt_catch(
        manifest, queries.quarantine_frame(engine), queries.repairs_frame(engine)
    )
    share = caught["caught"].sum() / caught["spoiled"].sum()
    assert share >= 0.99, caught[caught["share"] < 1]
    assert _counts(engine) == expected_loaded(manifest, _file_rows(small_bank))
    # Every kind of dirt occurs and is caught with its reason.
    kinds = set(caught["kind"])
    assert {
        "exact_duplicate",
        "duplicate_person",
        "missing_value",
        "mixed_date_format",
        "amount_as_text",
        "unknown_currency",
        "future_date",
        "orphan_fk",
        "impossible_value",
        "case_spacing",
        "parent_spoiled",
    } <= kinds
    # Households rebuilt from shared addresses and joint accounts.
    truth = pd.read_parquet(
        small_bank / "truth" / "customers.parquet",
        columns=["customer_id", "household_id"],
    )
    predicted = queries.read_table(
        engine, "customers", columns=["customer_id", "household_id"]
    )
    hh = household_scores(truth, predicted)
    assert hh.precision >= 0.98
    assert hh.recall >= 0.95


def test_reloading_changes_nothing(engine: Engine, small_bank: Path) -> None:
    ingest_dir(small_bank, engine=engine)
    before = _counts(engine)
    quarantined = len(queries.quarantine_frame(engine))
    again = ingest_dir(small_bank, engine=engine)
    assert {r.status for r in again} == {"skipped"}
    forced = ingest_dir(small_bank, engine=engine, force=True)
    assert all(r.rows_inserted == 0 and r.rows_updated == 0 for r in forced)
    assert _counts(engine) == before
    assert len(queries.quarantine_frame(engine)) == quarantined


def test_a_changed_row_is_upserted(
    engine: Engine, small_bank: Path, tmp_path: Path
) -> None:
    ingest_dir(small_bank, engine=engine)
    frame = pd.read_csv(small_bank / "market.csv", dtype=str, keep_default_na=False)
    frame.loc[3, "policy_rate"] = "9.99"
    frame.to_csv(tmp_path / "market.csv", index=False)
    report = ingest_file("market", tmp_path / "market.csv", engine=engine)
    assert (report.rows_updated, report.rows_inserted) == (1, 0)
    stored = queries.read_table(engine, "market")
    assert (stored["policy_rate"] == 9.99).sum() == 1


def test_aliases_are_followed_by_later_files(engine: Engine, small_bank: Path) -> None:
    ingest_dir(small_bank, engine=engine)
    truth = pd.read_csv(small_bank / "truth" / "duplicates.csv")
    aliases = pd.read_sql(
        text("SELECT alias_id, customer_id FROM customer_aliases"), engine
    )
    merged = truth.merge(aliases, on=["alias_id", "customer_id"])
    assert len(merged) == len(truth) > 0
    with engine.connect() as conn:
        leftover = conn.execute(
            text(
                "SELECT count(*) FROM accounts a JOIN customer_aliases x "
                "ON a.customer_id = x.alias_id"
            )
        ).scalar()
    assert leftover == 0


def test_sigkill_mid_file_then_rerun(
    db_url: str, engine: Engine, tmp_path: Path, medium_bank: Path
) -> None:
    """A load killed with SIGKILL part-way leaves nothing; the rerun is exact."""
    for name in ("market", "customers", "accounts"):
        ingest_file(name, medium_bank / f"{name}.csv", engine=engine)
    # Four copies of the transactions under other ids: long enough to kill mid-way.
    big = tmp_path / "transactions.csv"
    source = (medium_bank / "transactions.csv").read_text().splitlines()
    with big.open("w") as f:
        f.write(source[0] + "\n")
        for prefix in ("T", "U", "V", "W"):
            f.write(
                "\n".join(line.replace('"T', f'"{prefix}', 1) for line in source[1:])
            )
            f.write("\n")
    env = {**os.environ, "NBO_DATABASE_URL": db_url}
    cmd = [
        sys.executable,
        "-m",
        "nbo_engine.cli",
        "ingest",
        "--entity",
        "transactions",
        str(big),
        "--chunk-rows",
        "20000",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        with read(engine) as conn:
            running = conn.execute(
                text("SELECT count(*) FROM ingest_runs WHERE entity = 'transactions'")
            ).scalar()
        if running:
            break
        time.sleep(0.05)
    time.sleep(2.0)  # well into the file
    assert proc.poll() is None, "the load finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _counts(engine)["transactions"] == 0
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT status FROM ingest_runs WHERE entity = 'transactions'")
            ).scalar()
            == "running"
        )
    report = ingest_file("transactions", big, engine=engine, chunk_rows=20000)
    assert report.status == "succeeded"
    manifest = pd.read_csv(medium_bank / "truth" / "dirt.csv")
    expected = expected_loaded(
        manifest, {"transactions": _file_rows(medium_bank)["transactions"]}
    )
    assert _counts(engine)["transactions"] == 4 * expected["transactions"]
    with engine.connect() as conn:
        statuses = (
            conn.execute(
                text(
                    "SELECT status FROM ingest_runs WHERE entity = "
                    "'transactions' ORDER BY id"
                )
            )
            .scalars()
            .all()
        )
    assert statuses == ["abandoned", "succeeded"]


def test_a_parquet_bank_loads_whole(engine: Engine, tmp_path: Path) -> None:
    """Parquet timestamps arrive with fractional seconds
    ("2024-01-01 08:59:57.000"): ISO 8601, loaded, never ``invalid_date``."""
    from nbo_engine.simulate import SimConfig, simulate_bank

    out = tmp_path / "parquet_bank"
    simulate_bank(SimConfig(customers=150, weeks=20, seed=4, dirt=0.0), out, "parquet")
    reports = ingest_dir(out, engine=engine)
    by_entity = {r.entity: r for r in reports}
    for entity in ("transactions", "digital_events", "interactions"):
        r = by_entity[entity]
        assert r.rows_read > 0, entity
        assert r.rows_quarantined == 0, (entity, r.quarantine_reasons)
    raw = pd.read_parquet(out / "transactions.parquet")
    stored = queries.read_table(engine, "transactions", columns=["timestamp"])
    assert len(stored) == len(raw)
    assert stored["timestamp"].max() == raw["timestamp"].max().floor("s")

"""Read a simulated bank's clean files straight into frames (tests, notebooks).

For a bank simulated without dirt the files already satisfy the contract, so
they can be read without the ingest pipeline: dates are parsed and households
are taken from the truth (what ingest's relationship mapping recovers).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nbo_engine.ingest.schemas import ENTITY_ORDER, SCHEMAS

__all__ = ["read_bank"]


def read_bank(directory: Path) -> dict[str, pd.DataFrame]:
    """Every ``<entity>.csv`` or ``.parquet`` of a clean simulated bank."""
    directory = Path(directory)
    out: dict[str, pd.DataFrame] = {}
    for entity in ENTITY_ORDER:
        schema = SCHEMAS[entity]
        csv, parquet = directory / f"{entity}.csv", directory / f"{entity}.parquet"
        if parquet.exists():
            frame = pd.read_parquet(parquet)
        elif csv.exists():
            frame = pd.read_csv(
                csv,
                keep_default_na=True,
                dtype={
                    c.name: str
                    for c in schema.columns
                    if c.kind in ("str", "enum", "text")
                },
            )
        else:
            continue
        for c in schema.columns:
            if c.kind in ("date", "datetime"):
                frame[c.name] = pd.to_datetime(frame[c.name], format="ISO8601")
            elif c.kind == "bool":
                frame[c.name] = frame[c.name].map(
                    {True: True, False: False, "true": True, "false": False}
                )
        out[entity] = frame
    truth = directory / "truth" / "customers.parquet"
    if "customers" in out and truth.exists():
        hh = pd.read_parquet(truth, columns=["customer_id", "household_id"])
        out["customers"] = out["customers"].merge(hh, on="customer_id", how="left")
    return out

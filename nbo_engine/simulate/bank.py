"""Simulate a whole bank into a folder of input files plus ``truth/``.

Customers are simulated in chunks of whole households with their own seeded
generators, so memory stays bounded and the output depends only on the seed and
the configuration (not on the chunk size, apart from the chunk boundaries of the
random streams, which are part of the configuration).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nbo_engine.ingest.schemas import ENTITY_ORDER
from nbo_engine.simulate.dirt import spoil_chunk
from nbo_engine.simulate.frames import build_frames
from nbo_engine.simulate.history import draw_campaigns, simulate_history
from nbo_engine.simulate.market import draw_market
from nbo_engine.simulate.params import SimConfig, WorldParams
from nbo_engine.simulate.population import draw_population

__all__ = ["SimulationSummary", "simulate_bank"]

Format = Literal["csv", "parquet"]
_MARKET_STREAM = 1_000_003
_CAMPAIGN_STREAM = 1_000_033


@dataclass(frozen=True)
class SimulationSummary:
    """What ``simulate_bank`` wrote."""

    out_dir: Path
    rows: dict[str, int]
    spoiled_rows: int
    seconds: float


class _Writer:
    """Appends Arrow tables to one file per entity, counting rows."""

    def __init__(self, directory: Path, fmt: Format) -> None:
        self.directory = directory
        self.fmt = fmt
        self.rows: dict[str, int] = {}
        self._writers: dict[str, pacsv.CSVWriter | pq.ParquetWriter] = {}
        self._schemas: dict[str, pa.Schema] = {}

    def write(self, name: str, table: pa.Table) -> int:
        """Append ``table``; return how many rows the file had before."""
        before = self.rows.get(name, 0)
        if name not in self._writers:
            self._schemas[name] = table.schema
            path = self.directory / f"{name}.{self.fmt}"
            if self.fmt == "csv":
                self._writers[name] = pacsv.CSVWriter(str(path), table.schema)
            else:
                self._writers[name] = pq.ParquetWriter(
                    str(path), table.schema, compression="zstd"
                )
        self._writers[name].write_table(table.cast(self._schemas[name]))
        self.rows[name] = before + table.num_rows
        return before

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()


def simulate_bank(
    config: SimConfig,
    out_dir: Path,
    fmt: Format = "csv",
    params: WorldParams | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationSummary:
    """Simulate ``config.customers`` customers over ``config.weeks`` weeks.

    Writes one file per entity (``customers.csv`` ...) into ``out_dir`` and the
    ground truth into ``out_dir/truth``: ``customers.parquet`` (latent segment,
    life stage, BG/NBD and Gamma-Gamma parameters, true churn and propensity
    probabilities, expected purchases and spend), ``interactions.parquet`` (true
    note sentiment), ``dirt.csv`` (every spoiled row), ``duplicates.csv`` (second
    records of the same person), ``campaigns.csv``, ``market.csv`` (with future
    weeks) and ``params.json``.

    ``progress(done, total)`` is called after each chunk of customers.
    """
    params = params or WorldParams()
    t_start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_dir = out_dir / "truth"
    truth_dir.mkdir(exist_ok=True)
    start = np.datetime64(config.start_date, "D")
    end = np.datetime64(config.end_date, "D")

    market = draw_market(
        np.random.default_rng([config.seed, _MARKET_STREAM]), start, config.weeks
    )
    campaigns = draw_campaigns(
        np.random.default_rng([config.seed, _CAMPAIGN_STREAM]),
        params,
        config.weeks,
        config.campaigns,
    )
    files = _Writer(out_dir, fmt)
    truth = _Writer(truth_dir, "parquet")
    dirt_rows: list[tuple[str, str, int, str, str, str, str]] = []
    duplicates: list[tuple[str, str]] = []
    spoil = config.dirt > 0

    market_table = pa.Table.from_pandas(
        market.frame(last_week=config.weeks), preserve_index=False
    )
    n_chunks = max(1, math.ceil(config.customers / config.chunk_customers))
    for chunk in range(n_chunks):
        first = chunk * config.chunk_customers
        n = min(config.chunk_customers, config.customers - first)
        rng = np.random.default_rng([config.seed, chunk])
        pop = draw_population(rng, params.segments, first, first, n, end, config.weeks)
        snaps = tuple(
            config.weeks - w for w in config.truth_snapshots if 0 < w < config.weeks
        )
        hist = simulate_history(
            rng,
            params,
            pop,
            market,
            campaigns,
            start,
            config.weeks,
            snapshot_weeks=snaps,
        )
        frames = build_frames(
            rng, params, pop, hist, market, campaigns, start, config.weeks
        )
        tables = frames.tables
        if chunk == 0:
            tables = {"market": market_table, **tables}
        if spoil:
            result = spoil_chunk(rng, tables, config.dirt, end, first)
            tables = result.tables
            duplicates += result.duplicates
        offsets = {}
        for entity in ENTITY_ORDER:
            if entity in tables:
                offsets[entity] = files.write(entity, tables[entity])
        if spoil:
            for entity, pos, key, kind, column, detail in result.manifest:
                dirt_rows.append(
                    (
                        entity,
                        f"{entity}.{fmt}",
                        offsets[entity] + pos + 1,
                        key,
                        kind,
                        column,
                        detail,
                    )
                )
        for name, table in frames.truth.items():
            truth.write(name, table)
        if progress is not None:
            progress(chunk + 1, n_chunks)
    files.close()
    truth.close()

    pacsv.write_csv(
        pa.table(
            {
                name: pa.array([r[i] for r in dirt_rows], typ)
                for i, (name, typ) in enumerate(
                    [
                        ("entity", pa.string()),
                        ("file", pa.string()),
                        ("row", pa.int64()),
                        ("key", pa.string()),
                        ("kind", pa.string()),
                        ("column", pa.string()),
                        ("detail", pa.string()),
                    ]
                )
            }
        ),
        str(truth_dir / "dirt.csv"),
    )
    pacsv.write_csv(
        pa.table(
            {
                "alias_id": pa.array([d[0] for d in duplicates], pa.string()),
                "customer_id": pa.array([d[1] for d in duplicates], pa.string()),
            }
        ),
        str(truth_dir / "duplicates.csv"),
    )
    pacsv.write_csv(
        pa.Table.from_pandas(market.frame(), preserve_index=False),
        str(truth_dir / "market.csv"),
    )
    pacsv.write_csv(
        pa.Table.from_pylist(
            [
                {
                    **dataclasses.asdict(c),
                    "treat_prob": json.dumps(c.treat_prob),
                    "offer_id": params.offers[c.offer].offer_id,
                }
                for c in campaigns
            ]
        )
        if campaigns
        else pa.table({"campaign_id": pa.array([], pa.string())}),
        str(truth_dir / "campaigns.csv"),
    )
    meta = {
        "config": {
            **dataclasses.asdict(config),
            "end_date": str(config.end_date),
            "start_date": str(config.start_date),
            "format": fmt,
        },
        "params": dataclasses.asdict(params),
        "time_unit": "week",
    }
    (truth_dir / "params.json").write_text(json.dumps(meta, indent=2))
    return SimulationSummary(
        out_dir=out_dir,
        rows=dict(files.rows),
        spoiled_rows=len(dirt_rows),
        seconds=time.perf_counter() - t_start,
    )

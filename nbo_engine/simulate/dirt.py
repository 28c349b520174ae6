"""Spoil a chunk's tables the way real bank extracts are spoiled, and say how.

Every spoiled row is recorded in the manifest (``truth/dirt.csv``) with the kind
of dirt and the reason code a correct ingest gives it. Rows that reference a
parent the ingest must quarantine are listed too (kind ``parent_spoiled``): they
cannot be loaded until the parent is fixed, so they are not clean rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nbo_engine.ingest.schemas import ENTITY_ORDER, SCHEMAS

__all__ = ["EXPECTED_REASON", "DirtResult", "spoil_chunk"]

#: The reason code a correct ingest records for each kind of dirt.
EXPECTED_REASON: dict[str, str] = {
    "exact_duplicate": "duplicate_row",
    "duplicate_person": "merged_customer",
    "missing_value": "missing_required",
    "mixed_date_format": "date_format",
    "amount_as_text": "amount_format",
    "unknown_currency": "unknown_currency",
    "future_date": "future_date",
    "orphan_fk": "orphan_reference",
    "impossible_value": "impossible_value",
    "case_spacing": "normalised_text",
    "parent_spoiled": "parent_quarantined",
}
QUARANTINING = {
    "missing_value",
    "unknown_currency",
    "future_date",
    "orphan_fk",
    "impossible_value",
}

# kind -> columns it may spoil, per entity
KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "market": {"exact_duplicate": (), "mixed_date_format": ("week_start",)},
    "customers": {
        "exact_duplicate": (),
        "duplicate_person": (),
        "missing_value": (
            "first_name",
            "last_name",
            "birth_date",
            "postcode",
            "join_date",
        ),
        "mixed_date_format": ("birth_date", "join_date"),
        "case_spacing": ("first_name", "last_name", "address", "postcode", "email"),
        "impossible_value": ("birth_date",),
        "future_date": ("join_date",),
    },
    "accounts": {
        "exact_duplicate": (),
        "missing_value": ("product", "open_date", "balance"),
        "mixed_date_format": ("open_date",),
        "amount_as_text": ("balance",),
        "unknown_currency": ("currency",),
        "orphan_fk": ("customer_id",),
        "impossible_value": ("balance",),
        "future_date": ("open_date",),
        "case_spacing": ("product",),
    },
    "balances": {
        "exact_duplicate": (),
        "missing_value": ("balance",),
        "mixed_date_format": ("month_end",),
        "amount_as_text": ("balance",),
        "orphan_fk": ("account_id",),
    },
    "transactions": {
        "exact_duplicate": (),
        "missing_value": ("amount", "timestamp", "category"),
        "mixed_date_format": ("timestamp",),
        "amount_as_text": ("amount",),
        "unknown_currency": ("currency",),
        "future_date": ("timestamp",),
        "orphan_fk": ("customer_id", "account_id"),
        "impossible_value": ("amount",),
        "case_spacing": ("category", "channel"),
    },
    "digital_events": {
        "exact_duplicate": (),
        "missing_value": ("timestamp", "event_type"),
        "mixed_date_format": ("timestamp",),
        "future_date": ("timestamp",),
        "orphan_fk": ("customer_id",),
        "case_spacing": ("event_type", "channel"),
    },
    "interactions": {
        "exact_duplicate": (),
        "missing_value": ("timestamp", "reason"),
        "mixed_date_format": ("timestamp",),
        "future_date": ("timestamp",),
        "orphan_fk": ("customer_id",),
        "case_spacing": ("channel", "reason"),
    },
    "bureau": {
        "exact_duplicate": (),
        "missing_value": ("credit_score",),
        "mixed_date_format": ("as_of",),
        "impossible_value": ("credit_score",),
        "orphan_fk": ("customer_id",),
    },
    "campaign_history": {
        "exact_duplicate": (),
        "missing_value": ("offer_id", "contact_date"),
        "mixed_date_format": ("contact_date",),
        "orphan_fk": ("customer_id",),
        "case_spacing": ("channel",),
        "impossible_value": ("treatment_probability",),
    },
}

_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_BAD_CURRENCIES = ("XYZ", "GPB", "EURO", "US$", "STG")
#: Dup customer numbers are offset so ids never collide; orphans start at 9e7.
DUPLICATE_ID_OFFSET = 60_000_000
ORPHAN_ID_OFFSET = 90_000_000


@dataclass
class DirtResult:
    tables: dict[str, pa.Table]
    #: (entity, position in the chunk table, key, kind, column, detail)
    manifest: list[tuple[str, int, str, str, str, str]] = field(default_factory=list)
    #: duplicate customer id -> true customer id
    duplicates: list[tuple[str, str]] = field(default_factory=list)


def _reformat_date(value: str, rng: np.random.Generator) -> str:
    date, _, time = value.partition(" ")
    y, m, d = date.split("-")
    style = int(rng.integers(0, 4))
    if style == 0:
        out = f"{d}/{m}/{y}"
    elif style == 1:
        out = f"{y}/{m}/{d}"
    elif style == 2:
        out = f"{d}-{_MONTHS[int(m) - 1]}-{y}"
    else:
        out = f"{y}{m}{d}" if not time else f"{d}/{m}/{y}"
    return f"{out} {time}" if time else out


def _money_text(value: str, rng: np.random.Generator) -> str:
    v = float(value)
    body = f"{abs(v):,.2f}"
    prefix = ("£", "GBP ", "")[int(rng.integers(0, 3))]
    if abs(v) < 1000 and not prefix:
        prefix = "£"
    return ("-" if v < 0 else "") + prefix + body


def _typo(value: str, rng: np.random.Generator) -> str:
    if len(value) < 3:
        return value + "e"
    i = int(rng.integers(1, len(value) - 1))
    op = int(rng.integers(0, 3))
    if op == 0:  # swap
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if op == 1:  # drop
        return value[:i] + value[i + 1 :]
    return value[:i] + value[i] + value[i:]  # double


def _case_space(value: str, column: str, rng: np.random.Generator) -> str:
    if column == "postcode":
        return value.replace(" ", "").lower()
    if column == "email":
        return "  " + value.upper()
    cased = value.upper() if rng.random() < 0.5 else value.lower()
    return "  " + cased.replace(" ", "  ") + " "


class _Spoiler:
    def __init__(
        self,
        rng: np.random.Generator,
        rate: float,
        end_date: np.datetime64,
        first_customer: int,
    ) -> None:
        self.rng = rng
        self.rate = rate
        self.end = end_date
        self.first_customer = first_customer
        self.result = DirtResult(tables={})
        self.bad_keys: dict[str, set[str]] = {e: set() for e in ENTITY_ORDER}

    def run(self, tables: dict[str, pa.Table]) -> DirtResult:
        tables = dict(tables)
        # Customers' duplicates move some accounts and transactions to the alias.
        for entity in ENTITY_ORDER:
            if entity in tables:
                tables[entity] = self._entity(entity, tables[entity], tables)
        self.result.tables = tables
        return self.result

    # ------------------------------------------------------------------ one file
    def _entity(
        self, entity: str, table: pa.Table, all_tables: dict[str, pa.Table]
    ) -> pa.Table:
        rng = self.rng
        schema = SCHEMAS[entity]
        cols = {
            name: pc.cast(table[name], pa.string()).combine_chunks()
            for name in table.column_names
        }
        n = table.num_rows
        keys = _KeyReader(entity, cols)
        # Rows that reference a parent the ingest will quarantine: cascade.
        cascade = np.zeros(n, dtype=bool)
        for c in schema.columns:
            if c.references and c.references[0] in self.bad_keys and c.name in cols:
                bad = self.bad_keys[c.references[0]]
                if bad:
                    ref = cols[c.name]
                    cascade |= pc.fill_null(
                        pc.is_in(ref, pa.array(sorted(bad))), False
                    ).to_numpy(zero_copy_only=False)
        for pos in np.flatnonzero(cascade).tolist():
            self.result.manifest.append(
                (entity, int(pos), keys[pos], "parent_spoiled", "", "")
            )
            self.bad_keys[entity].add(keys[pos])

        kinds = KINDS[entity]
        candidates = np.flatnonzero(~cascade)
        if entity == "customers":
            # Joint-account partners must load (their accounts reference them).
            joint = all_tables["accounts"]["joint_customer_id"].drop_null()
            is_joint = pc.is_in(cols["customer_id"], joint).to_numpy(
                zero_copy_only=False
            )
            candidates = np.flatnonzero(~cascade & ~is_joint)
        m = int(rng.binomial(candidates.size, self.rate)) if candidates.size else 0
        chosen = (
            rng.choice(candidates, size=m, replace=False) if m else np.zeros(0, int)
        )
        kind_names = list(kinds)
        assigned = rng.integers(0, len(kind_names), m)

        replace: dict[str, dict[int, str | None]] = {}
        dup_rows: list[int] = []
        persons: list[int] = []
        for pos, k in zip(chosen.tolist(), assigned.tolist(), strict=True):
            kind = kind_names[k]
            options = kinds[kind]
            column = options[int(rng.integers(0, len(options)))] if options else ""
            if kind == "exact_duplicate":
                dup_rows.append(pos)
                continue
            if kind == "duplicate_person":
                persons.append(pos)
                continue
            value = cols[column][pos].as_py() if column else None
            new = self._spoil(entity, kind, column, value, cols, pos)
            if new is _SKIP:
                continue
            replace.setdefault(column, {})[pos] = new  # type: ignore[assignment]
            self.result.manifest.append(
                (entity, pos, keys[pos], kind, column, "" if new is None else str(new))
            )
            if kind in QUARANTINING:
                self.bad_keys[entity].add(keys[pos])

        for column, changes in replace.items():
            mask = np.zeros(n, dtype=bool)
            idx = np.fromiter(changes.keys(), dtype=np.int64)
            mask[idx] = True
            values = pa.array([changes[i] for i in sorted(changes)], pa.string())
            cols[column] = pc.replace_with_mask(cols[column], pa.array(mask), values)

        out = pa.table(cols)
        if entity == "customers" and persons:
            out = self._duplicate_persons(out, persons, all_tables)
        if dup_rows:
            # Insert each copy right after its original; shift recorded positions.
            dup_set = np.zeros(n, dtype=np.int64)
            dup_set[dup_rows] = 1
            take = np.repeat(
                np.arange(out.num_rows),
                np.concatenate(
                    [1 + dup_set, np.ones(out.num_rows - n, dtype=np.int64)]
                ),
            )
            new_pos = (
                np.cumsum(
                    np.concatenate(
                        [1 + dup_set, np.ones(out.num_rows - n, dtype=np.int64)]
                    )
                )
                - 1
            )
            start_pos = new_pos - np.concatenate(
                [dup_set, np.zeros(out.num_rows - n, dtype=np.int64)]
            )
            self.result.manifest = [
                (e, int(start_pos[p]) if e == entity else p, k, kd, c, d)
                for (e, p, k, kd, c, d) in self.result.manifest
            ]
            for dup in dup_rows:
                self.result.manifest.append(
                    (entity, int(new_pos[dup]), keys[dup], "exact_duplicate", "", "")
                )
            out = out.take(pa.array(take))
        return out

    def _spoil(
        self,
        entity: str,
        kind: str,
        column: str,
        value: str | None,
        cols: dict[str, pa.Array],
        pos: int,
    ) -> object:
        rng = self.rng
        if kind == "missing_value":
            return None
        if value is None:
            return _SKIP
        if kind == "mixed_date_format":
            return _reformat_date(value, rng)
        if kind == "amount_as_text":
            return _money_text(value, rng)
        if kind == "unknown_currency":
            return _BAD_CURRENCIES[int(rng.integers(0, len(_BAD_CURRENCIES)))]
        if kind == "future_date":
            date, _, time = value.partition(" ")
            y = int(str(self.end)[:4]) + int(rng.integers(5, 9))
            return f"{y}{date[4:]}" + (f" {time}" if time else "")
        if kind == "orphan_fk":
            number = ORPHAN_ID_OFFSET + int(rng.integers(0, 9_999_999))
            return (
                ("C" if column == "customer_id" else "A")
                + f"{number:08d}"
                + ("" if column == "customer_id" else "0")
            )
        if kind == "case_spacing":
            return _case_space(value, column, rng)
        if kind == "impossible_value":
            if entity == "customers":  # born after joining: a negative age
                join = np.datetime64(cols["join_date"][pos].as_py())
                later = join + np.timedelta64(int(rng.integers(1, 60)), "D")
                return str(max(join, min(later, self.end - np.timedelta64(1, "D"))))
            if entity == "accounts":  # a balance left on a closed account
                if cols["close_date"][pos].as_py() is None:
                    return _SKIP
                return f"{rng.uniform(50, 5000):.2f}"
            if entity == "transactions":
                return f"-{value}"
            if entity == "bureau":
                return str(int(rng.integers(1200, 5000)))
            if entity == "campaign_history":
                return f"{rng.uniform(1.2, 3):.2f}"
        raise AssertionError(f"no spoiler for {entity}.{kind}")

    def _duplicate_persons(
        self, table: pa.Table, persons: list[int], all_tables: dict[str, pa.Table]
    ) -> pa.Table:
        rng = self.rng
        rows = table.take(pa.array(persons)).to_pylist()
        new_rows = []
        n0 = table.num_rows
        moved: dict[str, str] = {}
        for i, row in enumerate(rows):
            true_id = row["customer_id"]
            number = int(true_id[1:]) + DUPLICATE_ID_OFFSET
            dup = dict(row)
            dup["customer_id"] = f"C{number:08d}"
            fields = ["first_name", "last_name", "email", "address", "phone"]
            for f in rng.choice(fields, size=int(rng.integers(1, 3)), replace=False):
                v = dup[f]
                if v is None:
                    continue
                if f == "address":
                    v = (
                        v.replace("Street", "St")
                        .replace("Road", "Rd")
                        .replace("Avenue", "Ave")
                        if rng.random() < 0.5
                        else _typo(v, rng)
                    )
                elif f == "phone":
                    v = "0" + v[3:6] + " " + v[6:] if rng.random() < 0.5 else None
                elif f == "email":
                    v = _typo(v.split("@")[0], rng) + "@" + v.split("@")[1]
                else:
                    v = _typo(v, rng) if rng.random() < 0.7 else v.upper()
                dup[f] = v
            join = np.datetime64(row["join_date"])
            later = join + np.timedelta64(int(rng.integers(30, 700)), "D")
            dup["join_date"] = str(min(later, self.end - np.timedelta64(1, "D")))
            new_rows.append(dup)
            self.result.duplicates.append((dup["customer_id"], true_id))
            self.result.manifest.append(
                (
                    "customers",
                    n0 + i,
                    dup["customer_id"],
                    "duplicate_person",
                    "",
                    true_id,
                )
            )
            moved[true_id] = dup["customer_id"]
        extra = pa.Table.from_pylist(new_rows, schema=table.schema)
        self._move_accounts(moved, all_tables)
        return pa.concat_tables([table, extra])

    def _move_accounts(
        self, moved: dict[str, str], all_tables: dict[str, pa.Table]
    ) -> None:
        """One non-current account of each duplicated person (and its transactions)
        is recorded under the second id, as when a clerk opened a new record."""
        acc = all_tables["accounts"]
        cust = acc["customer_id"].to_numpy(zero_copy_only=False)
        prod = acc["product"].to_numpy(zero_copy_only=False)
        ids = acc["account_id"].to_numpy(zero_copy_only=False)
        target: dict[str, str] = {}
        for true_id, dup_id in moved.items():
            rows = np.flatnonzero((cust == true_id) & (prod != "current"))
            if rows.size:
                target[str(ids[rows[0]])] = dup_id
        if not target:
            return
        old_ids = pa.array(list(target), pa.string())
        new_ids = pa.array(list(target.values()), pa.string())
        for entity in ("accounts", "transactions"):
            t = all_tables[entity]
            idx = _flat(
                pc.index_in(pc.cast(t["account_id"], pa.string()), value_set=old_ids)
            )
            mask = pc.is_valid(idx)
            if pc.any(mask).as_py():
                col = pc.replace_with_mask(
                    _flat(pc.cast(t["customer_id"], pa.string())),
                    mask,
                    new_ids.take(pc.drop_null(idx)),
                )
                all_tables[entity] = t.set_column(
                    t.column_names.index("customer_id"), "customer_id", col
                )


def _flat(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


class _Skip:
    pass


class _KeyReader:
    """The natural key of a row as one string (parts joined by ``|``), on demand."""

    def __init__(self, entity: str, cols: dict[str, pa.Array]) -> None:
        self.cols = [cols[k] for k in SCHEMAS[entity].key]

    def __getitem__(self, pos: int) -> str:
        return "|".join(str(c[pos].as_py()) for c in self.cols)


_SKIP = _Skip()


def spoil_chunk(
    rng: np.random.Generator,
    tables: dict[str, pa.Table],
    rate: float,
    end_date: np.datetime64,
    first_customer: int,
) -> DirtResult:
    """Spoil about ``rate`` of the rows of every table; return tables and manifest.

    Every column becomes a string column (dirt is text), and positions in the
    manifest are 0-based row positions in the returned tables.
    """
    return _Spoiler(rng, rate, end_date, first_customer).run(tables)

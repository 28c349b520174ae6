"""Parse, normalise and validate a chunk of raw text rows, vectorised in Arrow.

Pure: a string table in, a typed table of valid rows plus the quarantined rows
and the repairs out. The rules come from the data contract (``schemas.py``) and
the reason codes from ``reasons.py``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from nbo_engine.ingest.reasons import QUARANTINE_REASONS
from nbo_engine.ingest.schemas import ColumnSpec, FileSchema

__all__ = ["ARROW_TYPES", "Cleaned", "clean_chunk", "empty_cleaned"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "text": pa.string(),
    "enum": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "money": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("s"),
    "bool": pa.bool_(),
}

_REASON_INDEX = {r: i + 1 for i, r in enumerate(QUARANTINE_REASONS)}
_REASON_NAMES = ["", *QUARANTINE_REASONS]

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_MONEY = r"^[+-]?\s*(£|\$|€|GBP|EUR|USD)?\s*(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$"
_MONEY_STRIP = r"£|\$|€|GBP|EUR|USD|,|\s"
_ISO_DATE = ("%Y-%m-%d",)
_ALT_DATE = (
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d-%b-%Y",
    "%d %b %Y",
    "%Y-%m-%d %H:%M:%S",
)
_ISO_DATETIME = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_ALT_DATETIME = (
    "%d/%m/%Y %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%d-%b-%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%Y/%m/%d",
    "%Y%m%d %H:%M:%S",
    "%Y%m%d",
    "%d-%b-%Y",
)
_TRUE = pa.array(["true", "t", "yes", "y", "1"])
_FALSE = pa.array(["false", "f", "no", "n", "0"])
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_PHONE = r"^\+\d{8,15}$"
_EARLIEST = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class Cleaned:
    """Result of cleaning one chunk.

    ``table`` holds the valid rows (contract columns, typed, plus ``_row``, the
    1-based data row number). ``quarantine`` and ``repairs`` are small Arrow
    tables with ``_row``, ``record_key``, ``column``, ``reason`` and ``message``
    (quarantine, plus ``raw``) or ``original`` (repairs).
    """

    table: pa.Table
    quarantine: pa.Table
    repairs: pa.Table


QUARANTINE_SCHEMA = pa.schema(
    [
        ("_row", pa.int64()),
        ("record_key", pa.string()),
        ("column", pa.string()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("raw", pa.string()),
    ]
)
REPAIR_SCHEMA = pa.schema(
    [
        ("_row", pa.int64()),
        ("record_key", pa.string()),
        ("column", pa.string()),
        ("reason", pa.string()),
        ("original", pa.string()),
    ]
)


def empty_cleaned(schema: FileSchema) -> Cleaned:
    """A result with no rows, with the right column types."""
    fields = [pa.field(c.name, ARROW_TYPES[c.kind]) for c in schema.columns]
    fields.append(pa.field("_row", pa.int64()))
    return Cleaned(
        pa.schema(fields).empty_table(),
        QUARANTINE_SCHEMA.empty_table(),
        REPAIR_SCHEMA.empty_table(),
    )


def _mask(a: pa.Array | pa.ChunkedArray) -> NDArray[np.bool_]:
    """Boolean Arrow array to numpy, nulls as False."""
    out: NDArray[np.bool_] = pc.fill_null(a, False).to_numpy(zero_copy_only=False)
    return out


def _flat(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


class _Chunk:
    """Book-keeping for one chunk: first problem per row, repairs."""

    def __init__(self, schema: FileSchema, raw: pa.Table, first_row: int) -> None:
        self.schema = schema
        self.raw = raw
        self.n = raw.num_rows
        self.rows = np.arange(first_row, first_row + self.n, dtype=np.int64)
        self.reason = np.zeros(self.n, dtype=np.int8)
        self.column = np.full(self.n, -1, dtype=np.int16)
        self.problems: list[tuple[NDArray[np.bool_], int, str]] = []
        self.repairs: list[tuple[NDArray[np.int64], str, str, pa.Array]] = []
        self.names = list(schema.names)

    def flag(
        self, mask: NDArray[np.bool_], reason: str, column: str | None, detail: str
    ) -> None:
        if not mask.any():
            return
        col = self.names.index(column) if column else -1
        new = mask & (self.reason == 0)
        self.reason[new] = _REASON_INDEX[reason]
        self.column[new] = col
        self.problems.append((mask, col, detail))

    def repair(
        self, mask: NDArray[np.bool_], column: str, reason: str, original: pa.Array
    ) -> None:
        if mask.any():
            pos = np.flatnonzero(mask)
            self.repairs.append((pos, column, reason, original.take(pa.array(pos))))


def clean_chunk(
    schema: FileSchema,
    raw: pa.Table,
    first_row: int,
    as_of: dt.datetime,
    file_name: str,
) -> Cleaned:
    """Clean one chunk of raw rows (all columns strings, contract order).

    Parameters
    ----------
    schema : the entity's contract.
    raw : string columns named as in the contract.
    first_row : 1-based data row number of the chunk's first row.
    as_of : dates after this moment are quarantined as ``future_date``.
    file_name : used in messages (``transactions.csv row 812 (...)``).
    """
    if raw.num_rows == 0:
        return empty_cleaned(schema)
    ck = _Chunk(schema, raw, first_row)
    typed: dict[str, pa.Array] = {}
    for spec in schema.columns:
        typed[spec.name] = _column(ck, spec, _flat(raw[spec.name]), as_of)
    _row_checks(ck, typed, as_of)

    valid = ck.reason == 0
    keep = pa.array(valid)
    cols = {name: arr.filter(keep) for name, arr in typed.items()}
    cols["_row"] = pa.array(ck.rows[valid])
    table = pa.table(cols)
    return Cleaned(table, _quarantine_table(ck, file_name), _repair_table(ck, valid))


# --------------------------------------------------------------------- columns


def _column(
    ck: _Chunk, spec: ColumnSpec, raw: pa.Array, as_of: dt.datetime
) -> pa.Array:
    name = spec.name
    text = pc.utf8_trim_whitespace(raw)
    if spec.kind in ("str", "enum"):
        text = pc.replace_substring_regex(text, pattern=r"\s{2,}", replacement=" ")
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    missing = _mask(pc.is_null(text))
    if spec.required:
        ck.flag(missing, "missing_required", name, "is empty")
    present = ~missing

    if spec.kind in ("str", "text", "enum"):
        value = _text(ck, spec, text, raw, present)
    elif spec.kind in ("int", "float", "money"):
        value = _number(ck, spec, text, raw, present)
    elif spec.kind in ("date", "datetime"):
        value = _when(ck, spec, text, raw, present, as_of)
    else:
        value = _boolean(ck, spec, text, raw, present)
    return value


def _invalid(
    ck: _Chunk,
    spec: ColumnSpec,
    bad: NDArray[np.bool_],
    reason: str,
    expected: str,
    raw: pa.Array,
    value: pa.Array,
) -> pa.Array:
    """Quarantine a required column's bad values; blank an optional one's."""
    if not bad.any():
        return value
    if spec.required:
        ck.flag(bad, reason, spec.name, f"expected {expected}")
        return value
    ck.repair(bad, spec.name, "invalid_optional", raw)
    return pc.if_else(pa.array(bad), pa.scalar(None, value.type), value)


def _text(
    ck: _Chunk,
    spec: ColumnSpec,
    text: pa.Array,
    raw: pa.Array,
    present: NDArray[np.bool_],
) -> pa.Array:
    value = text
    norm = spec.normalise
    if norm == "title":
        one_case = pc.or_(pc.utf8_is_upper(value), pc.utf8_is_lower(value))
        value = pc.if_else(one_case, pc.utf8_title(value), value)
    elif norm == "upper":
        value = pc.utf8_upper(value)
    elif norm == "lower":
        value = pc.utf8_lower(value)
    elif norm == "postcode":
        value = pc.utf8_upper(
            pc.replace_substring_regex(value, pattern=r"\s+", replacement="")
        )
        value = pc.replace_substring_regex(
            value, pattern=r"^(.+)(\d[A-Z]{2})$", replacement=r"\1 \2"
        )
    elif norm == "email":
        value = pc.utf8_lower(value)
    elif norm == "phone":
        digits = pc.replace_substring_regex(value, pattern=r"[^\d+]", replacement="")
        digits = pc.replace_substring_regex(digits, pattern=r"^00", replacement="+")
        digits = pc.replace_substring_regex(digits, pattern=r"^0", replacement="+44")
        value = pc.replace_substring_regex(digits, pattern=r"^44", replacement="+44")

    if spec.kind == "enum" and spec.allowed:
        lowered = pa.array([a.lower() for a in spec.allowed])
        idx = pc.index_in(pc.utf8_lower(value), value_set=lowered)
        canonical = pa.array(list(spec.allowed)).take(idx)
        bad = present & _mask(pc.is_null(idx))
        reason = "unknown_currency" if spec.name == "currency" else "invalid_value"
        value = canonical
        value = _invalid(
            ck, spec, bad, reason, "one of " + ", ".join(spec.allowed), raw, value
        )
    elif norm in ("email", "phone"):
        pattern = _EMAIL if norm == "email" else _PHONE
        bad = present & ~_mask(pc.match_substring_regex(value, pattern=pattern))
        what = "an e-mail address" if norm == "email" else "a phone number"
        value = _invalid(ck, spec, bad, "invalid_value", what, raw, value)

    if spec.kind != "text":
        changed = present & _mask(pc.not_equal(value, raw)) & ~_mask(pc.is_null(value))
        ck.repair(changed, spec.name, "normalised_text", raw)
    return value


def _number(
    ck: _Chunk,
    spec: ColumnSpec,
    text: pa.Array,
    raw: pa.Array,
    present: NDArray[np.bool_],
) -> pa.Array:
    plain = _mask(pc.match_substring_regex(text, pattern=_NUMBER))
    source = text
    if spec.kind == "money":
        fixable = (
            present & ~plain & _mask(pc.match_substring_regex(text, pattern=_MONEY))
        )
        if fixable.any():
            stripped = pc.replace_substring_regex(
                text, pattern=_MONEY_STRIP, replacement=""
            )
            source = pc.if_else(pa.array(fixable), stripped, text)
            ck.repair(fixable, spec.name, "amount_format", raw)
            plain = plain | fixable
    ok = pa.array(plain)
    value = pc.cast(pc.if_else(ok, source, pa.scalar(None, pa.string())), pa.float64())
    bad = present & ~plain
    if spec.kind == "int":
        integral = _mask(pc.equal(value, pc.floor(value)))
        bad = bad | (present & plain & ~integral)
        value = pc.cast(
            pc.if_else(pa.array(integral), value, pa.scalar(None, pa.float64())),
            pa.int64(),
        )
    else:
        finite = _mask(pc.is_finite(value))
        bad = bad | (present & plain & ~finite)
    what = {
        "int": "a whole number",
        "float": "a number",
        "money": "an amount like 1234.50",
    }[spec.kind]
    value = _invalid(ck, spec, bad, "invalid_value", what, raw, value)
    _range(ck, spec, value, present & ~bad)
    if spec.kind == "money":
        value = pc.round(value, 2)
    return value


def _range(
    ck: _Chunk, spec: ColumnSpec, value: pa.Array, ok: NDArray[np.bool_]
) -> None:
    if spec.minimum is not None:
        low = ok & _mask(pc.less(value, spec.minimum))
        ck.flag(
            low, "impossible_value", spec.name, f"is below the minimum {spec.minimum:g}"
        )
    if spec.maximum is not None:
        high = ok & _mask(pc.greater(value, spec.maximum))
        ck.flag(
            high,
            "impossible_value",
            spec.name,
            f"is above the maximum {spec.maximum:g}",
        )


def _when(
    ck: _Chunk,
    spec: ColumnSpec,
    text: pa.Array,
    raw: pa.Array,
    present: NDArray[np.bool_],
    as_of: dt.datetime,
) -> pa.Array:
    iso, alt = (
        (_ISO_DATE, _ALT_DATE)
        if spec.kind == "date"
        else (_ISO_DATETIME, _ALT_DATETIME)
    )
    if spec.kind == "datetime":
        # ISO 8601 fractional seconds (Parquet timestamps arrive as
        # "2024-01-01 08:59:57.000"): the store keeps whole seconds
        text = pc.replace_substring_regex(
            text,
            pattern=r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})\.\d{1,9}$",
            replacement=r"\1",
        )
    parsed = pa.nulls(len(text), pa.timestamp("s"))
    todo = present.copy()
    for fmt in iso:
        if not todo.any():
            break
        got = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        hit = todo & _mask(pc.is_valid(got))
        parsed = pc.if_else(pa.array(hit), got, parsed)
        todo &= ~hit
    repaired = np.zeros(len(text), dtype=bool)
    for fmt in alt:
        if not todo.any():
            break
        got = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        hit = todo & _mask(pc.is_valid(got))
        parsed = pc.if_else(pa.array(hit), got, parsed)
        repaired |= hit
        todo &= ~hit
    ck.repair(repaired, spec.name, "date_format", raw)
    bad = todo
    what = (
        "a date like 2024-03-05"
        if spec.kind == "date"
        else "a date-time like 2024-03-05 14:30:00"
    )
    value: pa.Array = (
        parsed if spec.kind == "datetime" else pc.cast(parsed, pa.date32())
    )
    value = _invalid(ck, spec, bad, "invalid_date", what, raw, value)
    ok = present & ~bad
    if spec.not_future:
        limit = as_of.date() if spec.kind == "date" else as_of.replace(tzinfo=None)
        future = ok & _mask(pc.greater(value, pa.scalar(limit, value.type)))
        ck.flag(
            future,
            "future_date",
            spec.name,
            f"is after the as-of time {as_of:%Y-%m-%d}",
        )
    early = pa.scalar(
        _EARLIEST if spec.kind == "date" else dt.datetime(1900, 1, 1), value.type
    )
    ck.flag(
        ok & _mask(pc.less(value, early)),
        "impossible_value",
        spec.name,
        "is before 1900",
    )
    return value


def _boolean(
    ck: _Chunk,
    spec: ColumnSpec,
    text: pa.Array,
    raw: pa.Array,
    present: NDArray[np.bool_],
) -> pa.Array:
    low = pc.utf8_lower(text)
    is_true = _mask(pc.is_in(low, value_set=_TRUE))
    is_false = _mask(pc.is_in(low, value_set=_FALSE))
    bad = present & ~is_true & ~is_false
    value = pa.array(
        np.where(is_true, True, False), pa.bool_(), mask=~(is_true | is_false)
    )
    return _invalid(ck, spec, bad, "invalid_value", "true or false", raw, value)


# --------------------------------------------------------------------- row checks


def _row_checks(ck: _Chunk, typed: dict[str, pa.Array], as_of: dt.datetime) -> None:
    entity = ck.schema.entity
    if entity == "customers":
        birth, join = typed["birth_date"], typed["join_date"]
        after = _mask(pc.greater_equal(birth, join))
        ck.flag(
            after,
            "impossible_value",
            "birth_date",
            "is not before join_date (a negative age)",
        )
        days = pc.days_between(birth, join)
        old = _mask(pc.greater(days, int(110 * 365.25)))
        ck.flag(
            old,
            "impossible_value",
            "birth_date",
            "makes the customer older than 110 at joining",
        )
    elif entity == "accounts":
        before = _mask(pc.less(typed["close_date"], typed["open_date"]))
        ck.flag(before, "impossible_value", "close_date", "is before open_date")
        closed = _mask(pc.is_valid(typed["close_date"]))
        nonzero = _mask(pc.not_equal(typed["balance"], 0.0))
        ck.flag(
            closed & nonzero,
            "impossible_value",
            "balance",
            "is not zero on a closed account",
        )
    del as_of


# --------------------------------------------------------------------- outputs


def record_keys(schema: FileSchema, raw: pa.Table, pos: NDArray[np.int64]) -> pa.Array:
    """The natural key of rows ``pos`` as text (parts joined by ``|``)."""
    idx = pa.array(pos)
    parts = [pc.utf8_trim_whitespace(_flat(raw[k]).take(idx)) for k in schema.key]
    if len(parts) == 1:
        return parts[0]
    return pc.binary_join_element_wise(*parts, "|")


def _quarantine_table(ck: _Chunk, file_name: str) -> pa.Table:
    pos = np.flatnonzero(ck.reason != 0)
    if pos.size == 0:
        return QUARANTINE_SCHEMA.empty_table()
    schema = ck.schema
    keys = record_keys(schema, ck.raw, pos).to_pylist()
    raw_rows = ck.raw.take(pa.array(pos)).to_pylist()
    key_name = "|".join(schema.key)
    messages = []
    columns = []
    for i, p in enumerate(pos.tolist()):
        found = []
        for mask, col, detail in ck.problems:
            if mask[p]:
                name = ck.names[col] if col >= 0 else ""
                shown = raw_rows[i].get(name) if name else None
                value = "" if shown is None and name else f" {shown!r}" if name else ""
                found.append(f"column '{name}'{value} {detail}" if name else detail)
        col = int(ck.column[p])
        columns.append(ck.names[col] if col >= 0 else None)
        messages.append(
            f"{file_name} row {ck.rows[p]} ({key_name}={keys[i]}): " + "; ".join(found)
        )
    reasons = [_REASON_NAMES[r] for r in ck.reason[pos].tolist()]
    return pa.table(
        {
            "_row": pa.array(ck.rows[pos]),
            "record_key": pa.array(keys, pa.string()),
            "column": pa.array(columns, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "message": pa.array(messages, pa.string()),
            "raw": pa.array(
                [json.dumps(r, ensure_ascii=False) for r in raw_rows], pa.string()
            ),
        },
        schema=QUARANTINE_SCHEMA,
    )


def _repair_table(ck: _Chunk, valid: NDArray[np.bool_]) -> pa.Table:
    parts = []
    for pos, column, reason, original in ck.repairs:
        keep = valid[pos]
        if not keep.any():
            continue
        p = pos[keep]
        parts.append(
            pa.table(
                {
                    "_row": pa.array(ck.rows[p]),
                    "record_key": record_keys(ck.schema, ck.raw, p),
                    "column": pa.array([column] * p.size, pa.string()),
                    "reason": pa.array([reason] * p.size, pa.string()),
                    "original": original.filter(pa.array(keep)),
                },
                schema=REPAIR_SCHEMA,
            )
        )
    if not parts:
        return REPAIR_SCHEMA.empty_table()
    return pa.concat_tables(parts)

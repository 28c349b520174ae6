"""Parsing, normalisation and validation of one chunk (pure, no database)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbo_engine.ingest.clean import Cleaned, clean_chunk
from nbo_engine.ingest.schemas import SCHEMAS

AS_OF = dt.datetime(2026, 1, 31, 12, 0, 0)


def _txn(**overrides: list[str | None]) -> pa.Table:
    n = len(next(iter(overrides.values()))) if overrides else 1
    base: dict[str, list[str | None]] = {
        "transaction_id": [f"T{i}" for i in range(n)],
        "account_id": ["A1"] * n,
        "customer_id": ["C1"] * n,
        "timestamp": ["2025-03-05 10:22:05"] * n,
        "amount": ["12.50"] * n,
        "currency": ["GBP"] * n,
        "category": ["groceries"] * n,
        "channel": ["online"] * n,
    }
    base.update(overrides)
    return pa.table({k: pa.array(v, pa.string()) for k, v in base.items()})


def _clean(entity: str, table: pa.Table) -> Cleaned:
    return clean_chunk(SCHEMAS[entity], table, 1, AS_OF, f"{entity}.csv")


def _reasons(c: Cleaned) -> list[str]:
    return c.quarantine.column("reason").to_pylist()


def test_clean_rows_pass_untouched() -> None:
    c = _clean("transactions", _txn())
    assert c.table.num_rows == 1
    assert c.repairs.num_rows == 0
    assert c.quarantine.num_rows == 0
    row = c.table.to_pylist()[0]
    assert row["timestamp"] == dt.datetime(2025, 3, 5, 10, 22, 5)
    assert row["amount"] == 12.5
    assert row["_row"] == 1


@pytest.mark.parametrize(
    "text",
    [
        "05/03/2025 10:22:05",
        "2025/03/05 10:22:05",
        "05-Mar-2025 10:22:05",
        "20250305 10:22:05",
    ],
)
def test_alternative_datetime_formats_are_repaired(text: str) -> None:
    c = _clean("transactions", _txn(timestamp=[text]))
    assert c.table.column("timestamp").to_pylist() == [
        dt.datetime(2025, 3, 5, 10, 22, 5)
    ]
    assert c.repairs.column("reason").to_pylist() == ["date_format"]
    assert c.repairs.column("original").to_pylist() == [text]


def test_iso_t_separator_is_not_a_repair() -> None:
    c = _clean("transactions", _txn(timestamp=["2025-03-05T10:22:05"]))
    assert c.repairs.num_rows == 0
    assert c.table.num_rows == 1


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("£1,234.50", 1234.5),
        ("GBP 1,234.50", 1234.5),
        ("1,234,567.89", 1234567.89),
        ("£12.50", 12.5),
    ],
)
def test_money_text_is_repaired(text: str, value: float) -> None:
    c = _clean("transactions", _txn(amount=[text]))
    assert c.table.column("amount").to_pylist() == [value]
    assert c.repairs.column("reason").to_pylist() == ["amount_format"]


@pytest.mark.parametrize(
    ("field", "text", "reason"),
    [
        ("amount", "12,34", "invalid_value"),
        ("amount", "abc", "invalid_value"),
        ("amount", "-5.00", "impossible_value"),
        ("amount", None, "missing_required"),
        ("amount", "   ", "missing_required"),
        ("currency", "GPB", "unknown_currency"),
        ("category", "lottery", "invalid_value"),
        ("timestamp", "yesterday", "invalid_date"),
        ("timestamp", "2031-01-01 00:00:00", "future_date"),
        ("timestamp", "1850-01-01 00:00:00", "impossible_value"),
    ],
)
def test_bad_values_are_quarantined_with_reason(
    field: str, text: str | None, reason: str
) -> None:
    c = _clean("transactions", _txn(**{field: [text]}))
    assert c.table.num_rows == 0
    assert _reasons(c) == [reason]
    assert c.quarantine.column("column").to_pylist() == [field]


def test_message_names_file_row_key_column_and_value() -> None:
    c = _clean("transactions", _txn(amount=["12.5.0"]))
    msg = c.quarantine.column("message").to_pylist()[0]
    assert msg == (
        "transactions.csv row 1 (transaction_id=T0): column 'amount' "
        "'12.5.0' expected an amount like 1234.50"
    )


def test_every_problem_of_a_row_is_in_its_message() -> None:
    c = _clean("transactions", _txn(amount=[None], currency=["XXX"]))
    assert _reasons(c) == ["missing_required"]
    msg = c.quarantine.column("message").to_pylist()[0]
    assert "column 'amount' is empty" in msg
    assert "column 'currency' 'XXX'" in msg


def test_raw_row_is_kept_whole() -> None:
    c = _clean("transactions", _txn(currency=["XYZ"]))
    assert '"currency": "XYZ"' in c.quarantine.column("raw").to_pylist()[0]


def test_enum_case_and_spacing_are_normalised() -> None:
    c = _clean("transactions", _txn(category=["  GROCERIES "], channel=["Online"]))
    row = c.table.to_pylist()[0]
    assert (row["category"], row["channel"]) == ("groceries", "online")
    assert sorted(c.repairs.column("column").to_pylist()) == ["category", "channel"]
    assert set(c.repairs.column("reason").to_pylist()) == {"normalised_text"}


def _customer(**overrides: str | None) -> pa.Table:
    base: dict[str, str | None] = {
        "customer_id": "C1",
        "first_name": "Oliver",
        "last_name": "McDonald",
        "birth_date": "1980-02-01",
        "address": "Flat 3, 12 High Street",
        "city": "Leeds",
        "postcode": "LS1 2AB",
        "email": "oliver.m@gmail.com",
        "phone": "+447700900123",
        "income_band": "40-70k",
        "occupation": "employed",
        "marital_status": "married",
        "dependants": "2",
        "join_date": "2010-05-05",
        "marketing_consent": "true",
        "do_not_contact": None,
    }
    base.update(overrides)
    return pa.table({k: pa.array([v], pa.string()) for k, v in base.items()})


def test_mixed_case_names_are_kept() -> None:
    c = _clean("customers", _customer())
    assert c.table.column("last_name").to_pylist() == ["McDonald"]
    assert c.repairs.num_rows == 0


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("first_name", "  OLIVER ", "Oliver"),
        ("postcode", "ls12ab", "LS1 2AB"),
        ("phone", "07700 900123", "+447700900123"),
        ("email", " Oliver.M@Gmail.com", "oliver.m@gmail.com"),
        ("address", "FLAT 3,  12 HIGH STREET", "Flat 3, 12 High Street"),
        ("marketing_consent", "Y", True),
    ],
)
def test_customer_fields_are_normalised(field: str, text: str, value: object) -> None:
    c = _clean("customers", _customer(**{field: text}))
    assert c.table.column(field).to_pylist() == [value]


def test_invalid_optional_value_is_blanked_and_kept_in_the_repair_log() -> None:
    c = _clean("customers", _customer(email="not-an-email"))
    assert c.table.column("email").to_pylist() == [None]
    assert c.repairs.column("reason").to_pylist() == ["invalid_optional"]
    assert c.repairs.column("original").to_pylist() == ["not-an-email"]


@pytest.mark.parametrize(
    ("overrides", "column"),
    [
        ({"birth_date": "2011-01-01"}, "birth_date"),
        ({"birth_date": "1890-01-01", "join_date": "2010-01-01"}, "birth_date"),
    ],
)
def test_customer_cross_checks(overrides: dict[str, str], column: str) -> None:
    c = _clean("customers", _customer(**overrides))
    assert _reasons(c) == ["impossible_value"]
    assert c.quarantine.column("column").to_pylist() == [column]


def _account(**overrides: str | None) -> pa.Table:
    base: dict[str, str | None] = {
        "account_id": "A1",
        "customer_id": "C1",
        "joint_customer_id": None,
        "product": "savings",
        "open_date": "2020-01-01",
        "close_date": None,
        "balance": "100.00",
        "credit_limit": None,
        "interest_rate": "3.1",
        "currency": "GBP",
    }
    base.update(overrides)
    return pa.table({k: pa.array([v], pa.string()) for k, v in base.items()})


def test_balance_on_a_closed_account_is_impossible() -> None:
    c = _clean("accounts", _account(close_date="2024-01-01"))
    assert _reasons(c) == ["impossible_value"]
    assert (
        "is not zero on a closed account" in c.quarantine.column("message")[0].as_py()
    )
    ok = _clean("accounts", _account(close_date="2024-01-01", balance="0"))
    assert ok.table.num_rows == 1


def test_row_numbers_continue_across_chunks() -> None:
    c = clean_chunk(
        SCHEMAS["transactions"], _txn(amount=["1", "x", "2"]), 501, AS_OF, "t.csv"
    )
    assert c.table.column("_row").to_pylist() == [501, 503]
    assert c.quarantine.column("_row").to_pylist() == [502]


@settings(max_examples=200, deadline=None)
@given(
    cents=st.integers(min_value=0, max_value=10**11),
    prefix=st.sampled_from(["", "£", "GBP ", "USD "]),
)
def test_formatted_amounts_round_trip(cents: int, prefix: str) -> None:
    value = cents / 100
    text = f"{prefix}{value:,.2f}"
    c = _clean("transactions", _txn(amount=[text]))
    assert c.table.column("amount").to_pylist() == [pytest.approx(value, abs=1e-9)]
    expected = [] if text == f"{value:.2f}" else ["amount_format"]
    assert c.repairs.column("reason").to_pylist() == expected

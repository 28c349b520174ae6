"""Bad inputs raise errors that name the field and the value received."""

from __future__ import annotations

import datetime as dt

import pytest

from nbo_engine.decisioning import Decider
from nbo_engine.errors import DecisionInputError, StoreError, UnknownCustomerError
from nbo_engine.store import Engine
from nbo_engine.store.policies import activate_version, rollback_slot
from tests.scored_bank import NOW_ISO, Customers

NOW = dt.datetime.fromisoformat(NOW_ISO)


@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        (
            {"channel": "fax"},
            "channel",
            r"channel: expected one of web, mobile, branch, call_centre, email, got 'fax'",
        ),
        (
            {"n": 0},
            "n",
            r"n: expected an integer from 1 to 3 \(the policy's arbitration.max_offers\), got 0",
        ),
        ({"n": 4}, "n", r"n: expected an integer from 1 to 3 .*got 4"),
        ({"n": True}, "n", r"n: expected an integer .*got True"),
        ({"now": "2026-04-15"}, "now", r"now: expected a datetime, got '2026-04-15'"),
        (
            {"customer_id": ""},
            "customer_id",
            r"customer_id: expected text of 1 to 64 characters, got ''",
        ),
        (
            {"context": {"shoe_size": 9}},
            "context.shoe_size",
            r"context.shoe_size: unknown profile field 'shoe_size'; expected one of ",
        ),
        (
            {"context": {"age": "old"}},
            "context.age",
            r"context.age: expected a number, got 'old'",
        ),
        (
            {"context": {"age": float("nan")}},
            "context.age",
            r"context.age: expected a finite number, got nan",
        ),
        (
            {"context": {"has_mortgage_enquiry_90": "yes"}},
            "context.has_mortgage_enquiry_90",
            r"expected true/false \(or 1/0\), got 'yes'",
        ),
        (
            {"context": {"life_stage": "astronaut"}},
            "context.life_stage",
            r"context.life_stage: expected one of student, .*got 'astronaut'",
        ),
        (
            {"context": {"marketing_consent": True}},
            "context.marketing_consent",
            r"'marketing_consent' is the bank's record and cannot be set by a request, got True",
        ),
        (
            {"context": ["age"]},
            "context",
            r"context: expected a mapping of profile field -> number or text, got list",
        ),
    ],
)
def test_bad_request_names_field_and_value(
    bank_engine: Engine,
    customers: Customers,
    kwargs: dict[str, object],
    field: str,
    match: str,
) -> None:
    decider = Decider.load(bank_engine)
    (cid,) = customers.take()
    args: dict[str, object] = {"customer_id": cid, "channel": "web", "n": 1, "now": NOW}
    args.update(kwargs)
    with pytest.raises(DecisionInputError, match=match) as info:
        decider.decide(
            args.pop("customer_id"),  # type: ignore[arg-type]
            args.pop("channel"),  # type: ignore[arg-type]
            args.pop("n"),  # type: ignore[arg-type]
            **args,  # type: ignore[arg-type]
        )
    assert info.value.field == field


def test_unknown_customer(bank_engine: Engine) -> None:
    decider = Decider.load(bank_engine)
    with pytest.raises(
        UnknownCustomerError,
        match=r"customer_id: 'C99999999' is not in the active score snapshot \d+",
    ) as info:
        decider.decide("C99999999", "web", 1, now=NOW)
    assert info.value.customer_id == "C99999999"


def test_slot_errors(engine: Engine) -> None:
    with pytest.raises(
        StoreError, match=r"slot: expected one of live, shadow, got 'blue'"
    ):
        activate_version(engine, 1, "blue")
    with pytest.raises(StoreError, match=r"policy version 42 does not exist"):
        activate_version(engine, 42, "live")
    with pytest.raises(
        StoreError, match=r"slot 'live': expected a policy version id, got None"
    ):
        activate_version(engine, None, "live")
    with pytest.raises(StoreError, match=r"slot 'live': nothing to roll back to"):
        rollback_slot(engine, "live")

"""Rules over a frame of profiles equal rules over each profile, and missing
values follow the documented three-valued logic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbo_engine.errors import DataValidationError
from nbo_engine.policy.rules import (
    check_rule,
    compile_profile,
    compile_rule,
    evaluate_frame,
    evaluate_profile,
    parse_rule,
)
from nbo_engine.policy.rules.nodes import Expr
from tests.policy.strategies import SCHEMA, profiles, typed_trees


@settings(max_examples=200, deadline=None)
@given(typed_trees, st.lists(profiles, min_size=1, max_size=12))
def test_vectorised_equals_scalar(tree: Expr, rows: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(rows)
    mask = evaluate_frame(tree, frame, SCHEMA)
    assert mask.dtype == bool
    assert mask.shape == (len(rows),)
    expected = [evaluate_profile(tree, row, SCHEMA) for row in rows]
    assert mask.tolist() == expected
    compiled = compile_profile(tree, SCHEMA)
    assert [compiled(row) for row in rows] == expected


@settings(max_examples=100, deadline=None)
@given(typed_trees)
def test_generated_trees_are_well_typed(tree: Expr) -> None:
    # category literals are drawn from TIERS or free text; only value errors
    # (not type errors) may be reported
    issues = check_rule(tree, SCHEMA)
    assert all("is not a value of" in msg for _, _, msg in issues), issues


def _mask(rule: str, frame: pd.DataFrame) -> list[bool]:
    return compile_rule(rule, SCHEMA).mask(frame).tolist()


FRAME = pd.DataFrame(
    {
        "age": [17.0, 30.0, None, 65.0],
        "active": [True, None, False, True],
        "tier": ["gold", None, "silver", "bronze"],
        "held_savings": [True, False, None, False],
        "segment": ["digital", "branch", None, "digital"],
        "days_complaint": [np.nan, 10.0, 40.0, np.nan],
    }
)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("age >= 18", [False, True, False, True]),
        ("not age >= 18", [True, False, False, False]),
        ("age is null", [False, False, True, False]),
        ("age >= 18 or active", [True, True, False, True]),
        ("age >= 18 and active", [False, False, False, True]),
        ("not (age >= 18 and active)", [True, False, True, False]),
        ("age between 17 and 30", [True, True, False, False]),
        ("17 < age <= 65", [False, True, False, True]),
        ("tier in ['gold', 'bronze']", [True, False, False, True]),
        ("tier not in ['gold']", [False, False, True, True]),
        ('holds("savings")', [True, False, False, False]),
        ('not holds("savings")', [False, True, False, True]),
        ('in_segment("digital")', [True, False, False, True]),
        ('days_since("last_complaint") > 30', [False, False, True, False]),
        (
            'days_since("last_complaint") is null or days_since("last_complaint") > 30',
            [True, False, True, True],
        ),
        ("true", [True, True, True, True]),
    ],
)
def test_three_valued_logic(rule: str, expected: list[bool]) -> None:
    assert _mask(rule, FRAME) == expected
    rows = FRAME.to_dict("records")
    assert [compile_rule(rule, SCHEMA).holds(r) for r in rows] == expected


def test_dtypes_are_coerced_alike() -> None:
    frame = pd.DataFrame(
        {
            "age": pd.array([17, None, 40], dtype="Int64"),
            "active": pd.array([True, None, False], dtype="boolean"),
        }
    )
    assert _mask("age > 18 or active", frame) == [True, False, True]
    text = pd.DataFrame({"age": ["17", "abc", None], "active": [1, 0, "yes"]})
    assert _mask("age < 18", text) == [True, False, False]
    assert _mask("active", text) == [True, False, False]
    assert _mask("not active", text) == [False, True, False]


def test_missing_column_is_an_error() -> None:
    rule = parse_rule("income > 3")
    with pytest.raises(DataValidationError, match=r"profiles: no column 'income'"):
        evaluate_frame(rule, pd.DataFrame({"age": [1]}), SCHEMA)
    with pytest.raises(DataValidationError, match=r"profile: no field 'income'"):
        evaluate_profile(rule, {"age": 1}, SCHEMA)
    with pytest.raises(DataValidationError, match=r"profile: no field 'income'"):
        compile_profile(parse_rule("age < 0 and income > 3"), SCHEMA)({"age": 1})


def test_large_frame_is_vectorised() -> None:
    n = 200_000
    g = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "age": g.integers(10, 90, n).astype(float),
            "tier": g.choice(["gold", "silver", "bronze"], n),
            "held_savings": g.random(n) < 0.3,
            "days_complaint": np.where(g.random(n) < 0.5, np.nan, 20.0),
        }
    )
    rule = compile_rule(
        'age between 18 and 65 and tier in ["gold", "silver"] and not holds("savings") '
        'and (days_since("last_complaint") is null or days_since("last_complaint") > 30)',
        SCHEMA,
    )
    mask = rule.mask(frame)
    expected = (
        frame["age"].between(18, 65)
        & frame["tier"].isin(["gold", "silver"])
        & ~frame["held_savings"]
        & frame["days_complaint"].isna()
    )
    assert mask.tolist() == expected.tolist()

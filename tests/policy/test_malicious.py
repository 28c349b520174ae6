"""Hostile rules are refused cleanly: no evaluation of text, no recursion
errors, no hangs."""

from __future__ import annotations

import time

import pytest

from nbo_engine.errors import RuleError
from nbo_engine.policy.rules import MAX_DEPTH, compile_rule, parse_rule
from tests.policy.strategies import SCHEMA


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("x.__class__", r"column 2: '\.' after 'x': attribute access"),
        ("age.real > 1", r"attribute access is not part of the rule language"),
        ("__import__('os')", r"name '__import__' is not allowed"),
        ("__builtins__", r"names cannot start with '_'"),
        ("_x = 1", r"names cannot start with '_'"),
        (
            "eval('1')",
            r"unknown function 'eval'; known functions: days_since, holds, in_segment",
        ),
        ("exec('import os')", r"unknown function 'exec'"),
        ("open('/etc/passwd')", r"unknown function 'open'"),
        ("holds(age)", r"expected a quoted string argument to holds\(\)"),
        ("holds('a', 'b')", r"holds\(\) takes 1 string argument\(s\), got 2"),
        ("age[0] = 1", r"expected 'and', 'or' or the end of the rule, got '\['"),
        ("lambda: 1", r"unexpected character ':'"),
        ("age = 1; drop", r"unexpected character ';'"),
        ("f'{age}'", r"expected 'and', 'or' or the end of the rule, got string"),
        ("{{ age }}", r"unexpected character '\{'"),
        ("age = 1 + 1", r"unexpected character '\+'"),
        ("1" * 50, r"too long"),
    ],
)
def test_code_is_refused(text: str, match: str) -> None:
    with pytest.raises(RuleError, match=match):
        parse_rule(text)


def test_unknown_names_are_refused_against_the_schema() -> None:
    with pytest.raises(RuleError, match=r"unknown field 'os'"):
        compile_rule("os = 'x'", SCHEMA)


def _quick(fn: object, limit: float = 10.0) -> None:
    """Refused with a RuleError, not a RecursionError, and not a hang (the limit
    is generous so a busy CI machine cannot make it flaky)."""
    start = time.perf_counter()
    with pytest.raises(RuleError) as info:
        fn()  # type: ignore[operator]
    assert time.perf_counter() - start < limit
    assert not isinstance(info.value.__cause__, RecursionError)


def test_one_megabyte_rule() -> None:
    big = "age > 1 and " * 90_000 + "true"
    assert len(big) > 1_000_000
    _quick(lambda: parse_rule(big))
    with pytest.raises(
        RuleError, match=r"rule is 1,080,004 characters long; the limit is 10,000"
    ):
        parse_rule(big)


def test_ten_thousand_parentheses() -> None:
    deep = "(" * 10_000 + "true" + ")" * 10_000
    _quick(lambda: parse_rule(deep, max_length=100_000))
    with pytest.raises(RuleError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_rule(deep, max_length=100_000)


def test_ten_thousand_nots() -> None:
    deep = "not " * 10_000 + "true"
    _quick(lambda: parse_rule(deep, max_length=100_000))


def test_unclosed_parentheses_at_the_limit() -> None:
    _quick(lambda: parse_rule("(" * 5_000, max_length=100_000))


def test_long_flat_rule_parses_in_linear_time() -> None:
    rule = " or ".join(f"age = {i}" for i in range(700))  # ~9 k characters
    start = time.perf_counter()
    tree = parse_rule(rule)
    assert time.perf_counter() - start < 1.0
    assert len(tree.operands) == 700  # type: ignore[union-attr]


def test_huge_number_and_string() -> None:
    with pytest.raises(RuleError, match=r"too long \(> 40 digits\)"):
        parse_rule("age = " + "9" * 5000)
    with pytest.raises(RuleError, match="unterminated string"):
        parse_rule("name = '" + "a" * 5000)

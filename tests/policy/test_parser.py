"""Grammar and precedence of the rule language, and the canonical printer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from nbo_engine.policy.rules import parse_rule, to_text
from nbo_engine.policy.rules.nodes import (
    And,
    Boolean,
    Call,
    Compare,
    Expr,
    Field,
    InList,
    IsNull,
    Not,
    Number,
    Or,
    Range,
    String,
)
from tests.policy.strategies import wild_trees

AGE = Field("age")


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("age >= 18", Compare(">=", AGE, Number(18))),
        ("age == 18", Compare("=", AGE, Number(18))),
        ("18 != age", Compare("!=", Number(18), AGE)),
        ("income < -2.5e3", Compare("<", Field("income"), Number(-2500.0))),
        ('tier = "gold"', Compare("=", Field("tier"), String("gold"))),
        ("tier = 'gold'", Compare("=", Field("tier"), String("gold"))),
        ("active", Field("active")),
        ("TRUE", Boolean(True)),
        ("active = false", Compare("=", Field("active"), Boolean(False))),
        ("age in [1, 2.5, -3]", InList(AGE, (Number(1), Number(2.5), Number(-3)))),
        ("age in []", InList(AGE, ())),
        (
            'tier not in ["a", "b",]',
            InList(Field("tier"), (String("a"), String("b")), True),
        ),
        ("age between 18 and 65", Range(AGE, Number(18), Number(65))),
        ("age not between 18 and 65", Not(Range(AGE, Number(18), Number(65)))),
        ("18 <= age < 65", Range(AGE, Number(18), Number(65), True, False)),
        ("65 > age >= 18", Range(AGE, Number(18), Number(65), True, False)),
        ("age is null", IsNull(AGE)),
        ("age IS NOT NULL", IsNull(AGE, True)),
        ('holds("mortgage")', Call("holds", (String("mortgage"),))),
        (
            'not holds("credit_card")',
            Not(Call("holds", (String("credit_card"),))),
        ),
        (
            'days_since("last_complaint") > 30',
            Compare(">", Call("days_since", (String("last_complaint"),)), Number(30)),
        ),
        (
            'segment in ["digital_spenders"] or in_segment("x")',
            Or(
                (
                    InList(Field("segment"), (String("digital_spenders"),)),
                    Call("in_segment", (String("x"),)),
                )
            ),
        ),
        ('"a\\"b\\\\c\\n" = name', Compare("=", String('a"b\\c\n'), Field("name"))),
    ],
)
def test_grammar(text: str, tree: Expr) -> None:
    assert parse_rule(text) == tree


def test_precedence_not_and_or() -> None:
    a, b, c = Field("a"), Field("b"), Field("c")
    assert parse_rule("a or b and c") == Or((a, And((b, c))))
    assert parse_rule("a and b or c") == Or((And((a, b)), c))
    assert parse_rule("not a and b") == And((Not(a), b))
    assert parse_rule("not (a and b)") == Not(And((a, b)))
    assert parse_rule("not a = 1") == Not(Compare("=", a, Number(1)))
    assert parse_rule("not not a") == Not(Not(a))
    # n-ary as written; parentheses keep their grouping
    assert parse_rule("a and b and c") == And((a, b, c))
    assert parse_rule("(a and b) and c") == And((And((a, b)), c))
    # 'between ... and' binds its 'and' before the logical one
    assert parse_rule("age between 1 and 2 and a") == And(
        (Range(AGE, Number(1), Number(2)), a)
    )


def test_multi_line_rule_positions() -> None:
    tree = parse_rule("age >= 18\n  and\n  holds('savings')")
    assert isinstance(tree, And)
    assert tree.operands[1].pos == (3, 3)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("NOT (Age>=18 AND 65 > Age)", "not (Age >= 18 and 65 > Age)"),
        ("18<=age<65", "18 <= age < 65"),
        ("age>=1 and age<=2", "age >= 1 and age <= 2"),
        ("1 <= age <= 2", "age between 1 and 2"),
        ("x in [1,'a',true]", 'x in [1, "a", true]'),
        ("a or (b or c)", "a or (b or c)"),
        ("(a or b) and c", "(a or b) and c"),
        ("age = 1.0", "age = 1.0"),
    ],
)
def test_canonical_text(text: str, canonical: str) -> None:
    assert to_text(parse_rule(text)) == canonical


@settings(max_examples=400, deadline=None)
@given(wild_trees)
def test_print_parse_round_trip(tree: Expr) -> None:
    text = to_text(tree)
    assert parse_rule(text) == tree
    # printing is canonical: a second round changes nothing
    assert to_text(parse_rule(text)) == text

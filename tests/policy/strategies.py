"""Hypothesis strategies of well-typed rule trees and profiles (shared by the
policy tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

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
from nbo_engine.policy.rules.schema import FieldSpec, RuleSchema

PRODUCTS = ("savings", "mortgage")
SEGMENTS = ("digital", "branch")
TIERS = ("gold", "silver", "bronze")
EVENTS = {"last_complaint": "days_complaint", "last_login": "days_login"}
SCHEMA = RuleSchema(
    fields={
        "age": FieldSpec("age", "number"),
        "income": FieldSpec("income", "number"),
        "name": FieldSpec("name", "string"),
        "tier": FieldSpec("tier", "category", TIERS),
        "active": FieldSpec("active", "bool"),
        "segment": FieldSpec("segment", "category", SEGMENTS),
    },
    products=PRODUCTS,
    segments=SEGMENTS,
    events=EVENTS,
)
NUMBERS = (-3, 0, 1, 18, 18.5, 30, 65, 1e-05)

numbers = st.sampled_from(NUMBERS).map(Number)
any_numbers = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
).map(Number)
texts = st.sampled_from((*TIERS, "Ann", "", 'q"uote', "back\\slash", "new\nline")).map(
    String
)
any_texts = st.text(max_size=12).map(String)
num_operand = st.one_of(
    numbers,
    st.sampled_from(("age", "income")).map(Field),
    st.sampled_from(tuple(EVENTS)).map(lambda e: Call("days_since", (String(e),))),
)
str_operand = st.one_of(texts, st.sampled_from(("name", "tier", "segment")).map(Field))
bool_operand = st.one_of(
    st.booleans().map(Boolean),
    st.just(Field("active")),
    st.sampled_from(PRODUCTS).map(lambda p: Call("holds", (String(p),))),
    st.sampled_from(SEGMENTS).map(lambda s: Call("in_segment", (String(s),))),
)
ordering = st.sampled_from(("<", "<=", ">", ">="))
equality = st.sampled_from(("=", "!="))


def _conditions(num: Any, text: Any) -> Any:
    num_op = st.one_of(num, num_operand)
    str_op = st.one_of(text, str_operand)
    return st.one_of(
        st.builds(Compare, st.one_of(ordering, equality), num_op, num_op),
        st.builds(Compare, equality, str_op, str_op),
        st.builds(Compare, equality, bool_operand, bool_operand),
        st.builds(InList, num_op, st.lists(num, max_size=4).map(tuple), st.booleans()),
        st.builds(InList, str_op, st.lists(text, max_size=4).map(tuple), st.booleans()),
        st.builds(
            InList,
            bool_operand,
            st.lists(st.booleans().map(Boolean), max_size=2).map(tuple),
            st.booleans(),
        ),
        st.builds(Range, num_op, num_op, num_op, st.booleans(), st.booleans()),
        st.builds(IsNull, st.one_of(num_op, str_op, bool_operand), st.booleans()),
        bool_operand,
    )


def _trees(leaves: Any) -> Any:
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            kids.map(Not),
            st.lists(kids, min_size=2, max_size=3).map(lambda xs: And(tuple(xs))),
            st.lists(kids, min_size=2, max_size=3).map(lambda xs: Or(tuple(xs))),
        ),
        max_leaves=12,
    )


#: Well-typed trees over SCHEMA with literals that hit the profiles' values.
typed_trees: st.SearchStrategy[Expr] = _trees(_conditions(numbers, texts))
#: Trees with arbitrary literals (any finite number, any text): for printing.
wild_trees: st.SearchStrategy[Expr] = _trees(_conditions(any_numbers, any_texts))

_num_values = st.sampled_from((*NUMBERS, None, float("nan")))
_bool_values = st.sampled_from((True, False, None))
profiles = st.fixed_dictionaries(
    {
        "age": _num_values,
        "income": _num_values,
        "name": st.sampled_from(("Ann", "", None, "gold")),
        "tier": st.sampled_from((*TIERS, None)),
        "active": _bool_values,
        "segment": st.sampled_from((*SEGMENTS, None)),
        "held_savings": _bool_values,
        "held_mortgage": _bool_values,
        "days_complaint": _num_values,
        "days_login": _num_values,
    }
)

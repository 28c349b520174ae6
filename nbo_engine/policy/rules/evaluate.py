"""Evaluate a checked rule over a frame of profiles (vectorised) or one profile.

Missing values (None, NaN, ``pd.NA``; a bool field holding anything but
true/false/1/0; a number field holding text that is not a number) follow SQL's
three-valued logic: a comparison, range or list test that reads a missing
value is *unknown*; ``not unknown`` is unknown; ``unknown and false`` is false
and ``unknown or true`` is true; a customer is eligible only when the rule is
*true*. So ``age >= 18`` and ``not (age >= 18)`` are both false for a customer
without an age, and ``age is null`` is the way to ask about it. Both paths
implement this one table and are tested equal on random profiles.

A column the rule needs but the frame (or a key the profile dict) lacks is an
error, not missing data: it means the profile was built without that field.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
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
    Operand,
    Or,
    Range,
    String,
)
from nbo_engine.policy.rules.schema import (
    FieldType,
    RuleSchema,
    column_of,
    operand_type,
)

__all__ = [
    "compile_profile",
    "evaluate_frame",
    "evaluate_profile",
    "required_columns",
]

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
Mask = NDArray[np.bool_]
Tri = tuple[Mask, Mask]  # (surely true, surely false); neither = unknown


def _operands(node: Expr) -> list[Operand]:
    if isinstance(node, Not):
        return _operands(node.operand)
    if isinstance(node, And | Or):
        return [o for child in node.operands for o in _operands(child)]
    if isinstance(node, Compare):
        return [node.left, node.right]
    if isinstance(node, InList | IsNull):
        return [node.operand]
    if isinstance(node, Range):
        return [node.operand, node.low, node.high]
    return [node]


def required_columns(node: Expr, schema: RuleSchema) -> tuple[str, ...]:
    """Profile columns the rule reads, sorted."""
    cols: set[str] = set()
    for o in _operands(node):
        if isinstance(o, Field):
            cols.add(o.name)
        elif isinstance(o, Call):
            cols.add(column_of(o, schema))
    return tuple(sorted(cols))


# ---------------------------------------------------------------- vectorised
def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise DataValidationError(
            f"profiles: no column {name!r}, which the rule reads; got columns "
            f"{', '.join(map(str, frame.columns[:20]))}"
        )
    return frame[name]


def _coerce(s: pd.Series, t: FieldType) -> tuple[NDArray[Any], Mask]:
    """Values as numpy (float for numbers, bool for bools, object otherwise)
    and the missing mask."""
    if t == "number":
        if s.dtype == bool:
            v = s.to_numpy(dtype=np.float64)
        else:
            v = pd.to_numeric(s, errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        return v, np.isnan(v)
    if t == "bool":
        if s.dtype == bool:
            return s.to_numpy(), np.zeros(len(s), dtype=bool)
        obj = s.astype(object)
        na = obj.isna().to_numpy()
        is_true = ~na & obj.isin([True]).to_numpy()
        is_false = ~na & obj.isin([False]).to_numpy()
        return is_true, ~(is_true | is_false)
    obj = s.astype(object)
    na = obj.isna().to_numpy()
    values = obj.to_numpy(copy=True)
    values[na] = None
    return values, na


def _vec_operand(
    node: Operand, frame: pd.DataFrame, schema: RuleSchema
) -> tuple[NDArray[Any], Mask]:
    n = len(frame)
    if isinstance(node, Number | String | Boolean):
        v = np.empty(n, dtype=object)
        v[:] = [node.value] * n if isinstance(node, String) else node.value
        if isinstance(node, Number):
            v = v.astype(np.float64)
        elif isinstance(node, Boolean):
            v = v.astype(bool)
        return v, np.zeros(n, dtype=bool)
    if isinstance(node, Field):
        t = schema.fields[node.name].type
        return _coerce(_column(frame, node.name), t)
    col = column_of(node, schema)
    if node.name == "in_segment":
        v, miss = _coerce(_column(frame, col), "string")
        return np.asarray(v == node.args[0].value, dtype=bool), miss
    t = "number" if node.name == "days_since" else "bool"
    return _coerce(_column(frame, col), t)  # type: ignore[arg-type]


def _tri(node: Expr, frame: pd.DataFrame, schema: RuleSchema) -> Tri:
    if isinstance(node, Not):
        t, f = _tri(node.operand, frame, schema)
        return f, t
    if isinstance(node, And | Or):
        parts = [_tri(o, frame, schema) for o in node.operands]
        ts = np.vstack([p[0] for p in parts])
        fs = np.vstack([p[1] for p in parts])
        if isinstance(node, And):
            return np.asarray(ts.all(axis=0)), np.asarray(fs.any(axis=0))
        return np.asarray(ts.any(axis=0)), np.asarray(fs.all(axis=0))
    if isinstance(node, IsNull):
        _, miss = _vec_operand(node.operand, frame, schema)
        return (~miss, miss) if node.negated else (miss, ~miss)
    if isinstance(node, Compare):
        lv, lm = _vec_operand(node.left, frame, schema)
        rv, rm = _vec_operand(node.right, frame, schema)
        known = ~(lm | rm)
        res = np.zeros(len(frame), dtype=bool)
        res[known] = np.asarray(_OPS[node.op](lv[known], rv[known]), dtype=bool)
        return known & res, known & ~res
    if isinstance(node, InList):
        v, miss = _vec_operand(node.operand, frame, schema)
        kind = operand_type(node.operand, schema)
        items = [i.value for i in node.items]
        if kind == "number":
            hit = np.isin(v, np.asarray(items, dtype=np.float64))
        else:
            hit = pd.Series(v, dtype=object).isin(items).to_numpy()
        hit = hit & ~miss
        if node.negated:
            return ~miss & ~hit, hit
        return hit, ~miss & ~hit
    if isinstance(node, Range):
        x, xm = _vec_operand(node.operand, frame, schema)
        lo, lm = _vec_operand(node.low, frame, schema)
        hi, hm = _vec_operand(node.high, frame, schema)
        known = ~(xm | lm | hm)
        with np.errstate(invalid="ignore"):
            above = x >= lo if node.low_inclusive else x > lo
            below = x <= hi if node.high_inclusive else x < hi
        res = above & below
        return known & res, known & ~res
    v, miss = _vec_operand(node, frame, schema)
    b = np.asarray(v, dtype=bool)
    return ~miss & b, ~miss & ~b


def evaluate_frame(node: Expr, frame: pd.DataFrame, schema: RuleSchema) -> Mask:
    """Boolean mask of the profiles (rows of ``frame``) the rule holds for.

    Parameters
    ----------
    node : Expr
        A rule checked against ``schema`` (see :func:`check_rule`).
    frame : DataFrame
        One row per customer, with the columns the rule reads.
    schema : RuleSchema

    Returns
    -------
    ndarray of bool, shape (n_rows,)

    Raises
    ------
    DataValidationError
        If ``frame`` lacks a column the rule reads.

    Examples
    --------
    >>> import pandas as pd
    >>> from nbo_engine.policy.rules.parser import parse_rule
    >>> from nbo_engine.policy.rules.schema import FieldSpec, RuleSchema
    >>> schema = RuleSchema({"age": FieldSpec("age", "number")})
    >>> frame = pd.DataFrame({"age": [17, 30, None]})
    >>> evaluate_frame(parse_rule("age >= 18"), frame, schema).tolist()
    [False, True, False]
    >>> evaluate_frame(parse_rule("not age >= 18"), frame, schema).tolist()
    [True, False, False]
    """
    return _tri(node, frame, schema)[0]


# ---------------------------------------------------------------- scalar
def _missing(v: Any) -> bool:
    if v is None or v is pd.NA:
        return True
    return isinstance(v, float | np.floating) and math.isnan(v)


def _scalar_value(v: Any, t: FieldType) -> Any:
    """The value as the frame path would see it, or None when missing."""
    if _missing(v):
        return None
    if t == "number":
        if isinstance(v, bool | np.bool_ | int | float | np.integer | np.floating):
            return float(v)
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        return None if math.isnan(f) else f
    if t == "bool":
        try:
            if v in (True, False):
                return bool(v == True)  # noqa: E712  (1/0 count as true/false)
        except (TypeError, ValueError):
            return None
        return None
    return v


def _get(profile: Mapping[str, Any], name: str) -> Any:
    if name not in profile:
        raise DataValidationError(
            f"profile: no field {name!r}, which the rule reads; got "
            f"{', '.join(sorted(map(str, profile))[:20])}"
        )
    return profile[name]


def _scalar_operand(
    node: Operand, profile: Mapping[str, Any], schema: RuleSchema
) -> Any:
    if isinstance(node, Number):
        return float(node.value)
    if isinstance(node, String | Boolean):
        return node.value
    if isinstance(node, Field):
        return _scalar_value(_get(profile, node.name), schema.fields[node.name].type)
    col = column_of(node, schema)
    if node.name == "in_segment":
        v = _scalar_value(_get(profile, col), "string")
        return None if v is None else bool(v == node.args[0].value)
    t: FieldType = "number" if node.name == "days_since" else "bool"
    return _scalar_value(_get(profile, col), t)


def _kleene(node: Expr, profile: Mapping[str, Any], schema: RuleSchema) -> bool | None:
    if isinstance(node, Not):
        v = _kleene(node.operand, profile, schema)
        return None if v is None else not v
    if isinstance(node, And):
        vals = [_kleene(o, profile, schema) for o in node.operands]
        if any(v is False for v in vals):
            return False
        return True if all(v is True for v in vals) else None
    if isinstance(node, Or):
        vals = [_kleene(o, profile, schema) for o in node.operands]
        if any(v is True for v in vals):
            return True
        return False if all(v is False for v in vals) else None
    if isinstance(node, IsNull):
        miss = _scalar_operand(node.operand, profile, schema) is None
        return not miss if node.negated else miss
    if isinstance(node, Compare):
        lv = _scalar_operand(node.left, profile, schema)
        rv = _scalar_operand(node.right, profile, schema)
        if lv is None or rv is None:
            return None
        return bool(_OPS[node.op](lv, rv))
    if isinstance(node, InList):
        v = _scalar_operand(node.operand, profile, schema)
        if v is None:
            return None
        t = operand_type(node.operand, schema)
        items = [float(i.value) if t == "number" else i.value for i in node.items]
        hit = any(v == i for i in items)
        return not hit if node.negated else hit
    if isinstance(node, Range):
        x = _scalar_operand(node.operand, profile, schema)
        lo = _scalar_operand(node.low, profile, schema)
        hi = _scalar_operand(node.high, profile, schema)
        if x is None or lo is None or hi is None:
            return None
        above = x >= lo if node.low_inclusive else x > lo
        below = x <= hi if node.high_inclusive else x < hi
        return bool(above and below)
    v = _scalar_operand(node, profile, schema)
    return None if v is None else bool(v)


def evaluate_profile(
    node: Expr, profile: Mapping[str, Any], schema: RuleSchema
) -> bool:
    """Whether the rule holds for one profile (a mapping of field -> value).

    Same semantics as :func:`evaluate_frame` (missing values make a test
    unknown; the rule must be true).

    Raises
    ------
    DataValidationError
        If ``profile`` lacks a field the rule reads.
    """
    return _kleene(node, profile, schema) is True


# ---------------------------------------------------------------- compiled
_Tri = Callable[[Mapping[str, Any]], "bool | None"]
_Op = Callable[[Mapping[str, Any]], Any]


def _compile_operand(node: Operand, schema: RuleSchema) -> _Op:
    if isinstance(node, Number):
        value: Any = float(node.value)
        return lambda p: value
    if isinstance(node, String | Boolean):
        const = node.value
        return lambda p: const
    if isinstance(node, Field):
        name, t = node.name, schema.fields[node.name].type
        if t == "string" or t == "category":
            return lambda p: None if _missing(v := p[name]) else v
        return lambda p: _scalar_value(p[name], t)
    col = column_of(node, schema)
    if node.name == "in_segment":
        segment = node.args[0].value

        def in_segment(p: Mapping[str, Any]) -> bool | None:
            v = _scalar_value(p[col], "string")
            return None if v is None else bool(v == segment)

        return in_segment
    kind: FieldType = "number" if node.name == "days_since" else "bool"
    return lambda p: _scalar_value(p[col], kind)


def _fold(parts: list[_Tri], decisive: bool) -> _Tri:
    def fold(p: Mapping[str, Any]) -> bool | None:
        unknown = False
        for f in parts:
            v = f(p)
            if v is decisive:
                return decisive
            if v is None:
                unknown = True
        return None if unknown else not decisive

    return fold


def _compile_tri(node: Expr, schema: RuleSchema) -> _Tri:
    if isinstance(node, Not):
        inner = _compile_tri(node.operand, schema)

        def negate(p: Mapping[str, Any]) -> bool | None:
            v = inner(p)
            return None if v is None else not v

        return negate
    if isinstance(node, And | Or):
        # Kleene: one decisive value (False for and, True for or) settles it;
        # else any unknown makes it unknown
        return _fold(
            [_compile_tri(o, schema) for o in node.operands], isinstance(node, Or)
        )
    if isinstance(node, IsNull):
        operand, negated = _compile_operand(node.operand, schema), node.negated
        return lambda p: (operand(p) is None) != negated
    if isinstance(node, Compare):
        left = _compile_operand(node.left, schema)
        right = _compile_operand(node.right, schema)
        op = _OPS[node.op]

        def compare(p: Mapping[str, Any]) -> bool | None:
            lv, rv = left(p), right(p)
            if lv is None or rv is None:
                return None
            return bool(op(lv, rv))

        return compare
    if isinstance(node, InList):
        operand, negated = _compile_operand(node.operand, schema), node.negated
        t = operand_type(node.operand, schema)
        items = tuple(float(i.value) if t == "number" else i.value for i in node.items)

        def in_list(p: Mapping[str, Any]) -> bool | None:
            v = operand(p)
            if v is None:
                return None
            hit = any(v == i for i in items)
            return not hit if negated else hit

        return in_list
    if isinstance(node, Range):
        x_of = _compile_operand(node.operand, schema)
        lo_of = _compile_operand(node.low, schema)
        hi_of = _compile_operand(node.high, schema)
        lo_inc, hi_inc = node.low_inclusive, node.high_inclusive

        def in_range(p: Mapping[str, Any]) -> bool | None:
            x, lo, hi = x_of(p), lo_of(p), hi_of(p)
            if x is None or lo is None or hi is None:
                return None
            above = x >= lo if lo_inc else x > lo
            below = x <= hi if hi_inc else x < hi
            return bool(above and below)

        return in_range
    operand = _compile_operand(node, schema)

    def truth(p: Mapping[str, Any]) -> bool | None:
        v = operand(p)
        return None if v is None else bool(v)

    return truth


def compile_profile(
    node: Expr, schema: RuleSchema
) -> Callable[[Mapping[str, Any]], bool]:
    """:func:`evaluate_profile` compiled once into closures: the tree is
    walked, field types looked up and in-lists converted when the rule is
    compiled, not at every call (several times faster on the decision
    path). Same semantics and the same error for a missing field.
    """
    tri = _compile_tri(node, schema)
    columns = required_columns(node, schema)

    def holds(profile: Mapping[str, Any]) -> bool:
        for name in columns:
            if name not in profile:
                _get(profile, name)  # raises DataValidationError naming it
        return tri(profile) is True

    return holds

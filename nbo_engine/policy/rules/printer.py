"""Canonical text of a rule tree: ``parse_rule(to_text(tree)) == tree``.

Keywords are lower case, strings double-quoted with ``\\`` escapes, ranges
that are inclusive at both ends print as ``x between a and b`` and others as
``a < x <= b``, and parentheses appear only where precedence needs them
(``or`` < ``and`` < ``not`` < conditions), so nesting written by the user
(``(a and b) and c``) is kept.
"""

from __future__ import annotations

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

__all__ = ["quote", "to_text"]

_OR, _AND, _NOT, _ATOM = 1, 2, 3, 4


def quote(value: str) -> str:
    """``value`` as a double-quoted rule string."""
    out = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{out}"'


def _number(value: int | float) -> str:
    if isinstance(value, bool):  # pragma: no cover - Boolean is its own node
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _precedence(node: Expr) -> int:
    if isinstance(node, Or):
        return _OR
    if isinstance(node, And):
        return _AND
    if isinstance(node, Not):
        return _NOT
    return _ATOM


def _wrapped(node: Expr, minimum: int) -> str:
    text = to_text(node)
    return f"({text})" if _precedence(node) < minimum else text


def to_text(node: Expr) -> str:
    """Print ``node`` as canonical rule text.

    Examples
    --------
    >>> from nbo_engine.policy.rules.parser import parse_rule
    >>> to_text(parse_rule('NOT (Age>=18 AND 65 > age) OR holds("mortgage")'))
    'not (Age >= 18 and 65 > age) or holds("mortgage")'
    >>> to_text(parse_rule("18 <= age < 65"))
    '18 <= age < 65'
    """
    if isinstance(node, Number):
        return _number(node.value)
    if isinstance(node, String):
        return quote(node.value)
    if isinstance(node, Boolean):
        return "true" if node.value else "false"
    if isinstance(node, Field):
        return node.name
    if isinstance(node, Call):
        return f"{node.name}({', '.join(quote(a.value) for a in node.args)})"
    if isinstance(node, Compare):
        return f"{to_text(node.left)} {node.op} {to_text(node.right)}"
    if isinstance(node, InList):
        items = ", ".join(to_text(i) for i in node.items)
        kw = "not in" if node.negated else "in"
        return f"{to_text(node.operand)} {kw} [{items}]"
    if isinstance(node, Range):
        x, lo, hi = to_text(node.operand), to_text(node.low), to_text(node.high)
        if node.low_inclusive and node.high_inclusive:
            return f"{x} between {lo} and {hi}"
        op_lo = "<=" if node.low_inclusive else "<"
        op_hi = "<=" if node.high_inclusive else "<"
        return f"{lo} {op_lo} {x} {op_hi} {hi}"
    if isinstance(node, IsNull):
        return f"{to_text(node.operand)} is {'not ' if node.negated else ''}null"
    if isinstance(node, Not):
        return f"not {_wrapped(node.operand, _NOT)}"
    if isinstance(node, And):
        return " and ".join(_wrapped(o, _NOT) for o in node.operands)
    if isinstance(node, Or):
        return " or ".join(_wrapped(o, _AND) for o in node.operands)
    raise TypeError(f"not a rule node: {node!r}")

"""The abstract syntax of eligibility rules: frozen dataclasses.

Every node carries its position in the rule text (``line``, ``column``,
1-based) for error messages; positions take no part in equality, so a rule
parsed from its canonical print equals the original tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TypingLiteral

__all__ = [
    "COMPARE_OPS",
    "And",
    "Boolean",
    "Call",
    "Compare",
    "CompareOp",
    "Expr",
    "Field",
    "InList",
    "IsNull",
    "Literal",
    "Not",
    "Number",
    "Operand",
    "Or",
    "Range",
    "String",
]

CompareOp = TypingLiteral["=", "!=", "<", "<=", ">", ">="]
COMPARE_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=")


def _pos() -> tuple[int, int]:
    return field(default=(0, 0), compare=False, repr=False)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Number:
    """A finite int or float literal (``-3``, ``0.25``, ``1e6``)."""

    value: int | float
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class String:
    """A quoted text literal."""

    value: str
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class Boolean:
    """``true`` or ``false``."""

    value: bool
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class Field:
    """A profile field, e.g. ``age``."""

    name: str
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class Call:
    """A whitelisted function of string literals, e.g. ``holds("mortgage")``."""

    name: str
    args: tuple[String, ...]
    pos: tuple[int, int] = _pos()


Literal = Number | String | Boolean
Operand = Number | String | Boolean | Field | Call


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right`` for one of :data:`COMPARE_OPS`."""

    op: CompareOp
    left: Operand
    right: Operand
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class InList:
    """``operand in [items]`` (``not in`` when ``negated``)."""

    operand: Operand
    items: tuple[Literal, ...]
    negated: bool = False
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class Range:
    """``low <(=) operand <(=) high``; ``between`` is inclusive on both ends."""

    operand: Operand
    low: Operand
    high: Operand
    low_inclusive: bool = True
    high_inclusive: bool = True
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class IsNull:
    """``operand is null`` (``is not null`` when ``negated``)."""

    operand: Operand
    negated: bool = False
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class Not:
    """``not operand``."""

    operand: Expr
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class And:
    """``a and b and ...`` (two or more operands, as written)."""

    operands: tuple[Expr, ...]
    pos: tuple[int, int] = _pos()


@dataclass(frozen=True, slots=True)
class Or:
    """``a or b or ...`` (two or more operands, as written)."""

    operands: tuple[Expr, ...]
    pos: tuple[int, int] = _pos()


Expr = Operand | Compare | InList | Range | IsNull | Not | And | Or

"""The profile fields a rule may read, and the check of a rule against them.

A :class:`RuleSchema` declares each field's type (``number``, ``string``,
``category`` with its allowed values, ``bool``) and the values the functions
accept: ``holds(product)`` reads the bool column ``held_<product>``,
``in_segment(name)`` compares the ``segment`` field, ``days_since(event)``
reads the number column named for that event in ``events``. :func:`check_rule`
lists every problem of a parsed rule (unknown field, function argument or
category value, type mismatch) with its position; nothing is evaluated.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal as TypingLiteral

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

__all__ = [
    "FIELD_TYPES",
    "FieldSpec",
    "FieldType",
    "RuleSchema",
    "check_rule",
    "column_of",
    "operand_type",
]

FieldType = TypingLiteral["number", "string", "category", "bool"]
FIELD_TYPES: tuple[str, ...] = ("number", "string", "category", "bool")


@dataclass(frozen=True)
class FieldSpec:
    """One profile field: name, type, allowed values (category) and meaning."""

    name: str
    type: FieldType
    values: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class RuleSchema:
    """What rules may refer to.

    ``fields`` maps names to specs; ``products`` are the arguments of
    ``holds``; ``segments`` the values of the ``segment`` field and of
    ``in_segment``; ``events`` maps each ``days_since`` argument to the
    profile column holding the days since that event (missing = never).
    """

    fields: Mapping[str, FieldSpec]
    products: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    events: Mapping[str, str] = field(default_factory=dict)

    def field_type(self, name: str) -> FieldType | None:
        spec = self.fields.get(name)
        return spec.type if spec is not None else None


Issue = tuple[int, int, str]


def column_of(call: Call, schema: RuleSchema) -> str:
    """The profile column a function call reads."""
    arg = call.args[0].value
    if call.name == "holds":
        return f"held_{arg}"
    if call.name == "days_since":
        return schema.events[arg]
    return "segment"


def operand_type(node: Operand, schema: RuleSchema) -> FieldType | None:
    """Type of an operand; None for an unknown field."""
    if isinstance(node, Number):
        return "number"
    if isinstance(node, String):
        return "string"
    if isinstance(node, Boolean):
        return "bool"
    if isinstance(node, Field):
        return schema.field_type(node.name)
    if node.name == "days_since":
        return "number"
    return "bool"


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(node: Operand, t: FieldType | None) -> str:
    if isinstance(node, Field):
        return f"{t} field {node.name!r}"
    if isinstance(node, Call):
        return f"{node.name}() ({t})"
    if isinstance(node, String):
        return f"string {node.value!r}"
    if isinstance(node, Boolean):
        return "true" if node.value else "false"
    return f"number {node.value!r}"


class _Checker:
    def __init__(self, schema: RuleSchema) -> None:
        self.schema = schema
        self.issues: list[Issue] = []

    def add(self, node: Expr, message: str) -> None:
        self.issues.append((node.pos[0], node.pos[1], message))

    def operand(self, node: Operand) -> FieldType | None:
        s = self.schema
        if isinstance(node, Field):
            if node.name not in s.fields:
                if node.name in ("holds", "in_segment", "days_since"):
                    hint = f' (call it: {node.name}("..."))'
                else:
                    hint = _suggest(node.name, list(s.fields))
                self.add(node, f"unknown field {node.name!r}{hint}")
                return None
            return s.fields[node.name].type
        if isinstance(node, Call):
            arg = node.args[0]
            known: tuple[str, ...] | list[str]
            if node.name == "holds":
                known, what = s.products, "product"
            elif node.name == "in_segment":
                known, what = s.segments, "segment"
                if "segment" not in s.fields:
                    self.add(node, "in_segment() needs a 'segment' field in the schema")
            else:
                known, what = list(s.events), "event"
            if arg.value not in known:
                self.add(
                    arg,
                    f"unknown {what} {arg.value!r} in {node.name}()"
                    f"{_suggest(arg.value, list(known))}; expected one of "
                    f"{', '.join(known) or '(none declared)'}",
                )
            return operand_type(node, s)
        return operand_type(node, s)

    def value_allowed(self, target: Operand, value: Operand) -> None:
        """A string compared with a category field must be one of its values."""
        if not (isinstance(target, Field) and isinstance(value, String)):
            return
        spec = self.schema.fields.get(target.name)
        if spec is None or spec.type != "category":
            return
        allowed = spec.values or (
            self.schema.segments if target.name == "segment" else ()
        )
        if allowed and value.value not in allowed:
            self.add(
                value,
                f"{value.value!r} is not a value of {target.name!r}"
                f"{_suggest(value.value, list(allowed))}; expected one of "
                f"{', '.join(allowed)}",
            )

    def compatible(self, a: FieldType, b: FieldType) -> bool:
        text = {"string", "category"}
        return a == b or (a in text and b in text)

    def expr(self, node: Expr) -> None:
        if isinstance(node, Not):
            self.expr(node.operand)
        elif isinstance(node, And | Or):
            for o in node.operands:
                self.expr(o)
        elif isinstance(node, Compare):
            lt, rt = self.operand(node.left), self.operand(node.right)
            if lt is None or rt is None:
                return
            if node.op in ("<", "<=", ">", ">="):
                for side, t in ((node.left, lt), (node.right, rt)):
                    if t != "number":
                        self.add(
                            side,
                            f"'{node.op}' compares numbers, got {_describe(side, t)}",
                        )
            elif not self.compatible(lt, rt):
                self.add(
                    node,
                    f"cannot compare {_describe(node.left, lt)} with "
                    f"{_describe(node.right, rt)}",
                )
            else:
                self.value_allowed(node.left, node.right)
                self.value_allowed(node.right, node.left)
        elif isinstance(node, InList):
            lt_ = self.operand(node.operand)
            if lt_ is None:
                return
            for item in node.items:
                it = operand_type(item, self.schema)
                assert it is not None
                if not self.compatible(lt_, it):
                    self.add(
                        item,
                        f"list item {_describe(item, it)} does not match "
                        f"{_describe(node.operand, lt_)}",
                    )
                else:
                    self.value_allowed(node.operand, item)
        elif isinstance(node, Range):
            for part in (node.operand, node.low, node.high):
                pt = self.operand(part)
                if pt is not None and pt != "number":
                    self.add(
                        part, f"a range compares numbers, got {_describe(part, pt)}"
                    )
        elif isinstance(node, IsNull):
            self.operand(node.operand)
        else:
            ot = self.operand(node)
            if ot is not None and ot != "bool":
                self.add(
                    node,
                    f"{_describe(node, ot)} is not a condition; compare it "
                    "(e.g. '= ...') or use a bool field",
                )


def check_rule(node: Expr, schema: RuleSchema) -> list[Issue]:
    """Every problem of ``node`` against ``schema``: ``(line, column, message)``.

    An empty list means the rule is valid: every field and function argument
    is declared, ordering comparisons and ranges compare numbers, equality
    and lists compare like with like, category values are allowed ones, and
    every condition is boolean.
    """
    checker = _Checker(schema)
    checker.expr(node)
    return checker.issues

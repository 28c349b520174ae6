"""Offer message templates: a small, sandboxed subset of Jinja2.

A message may print whitelisted profile fields (``{{ first_name }}``), pass
them through a few text filters (``{{ first_name | title }}``,
``{{ city | default("your area") }}``) and branch on them
(``{% if first_name %}...{% endif %}``). Attribute and item access, calls,
loops, assignments, macros, includes and imports are refused when the policy
is validated, and rendering runs in Jinja's ``SandboxedEnvironment`` with
``StrictUndefined`` all the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["SAFE_FILTERS", "check_template", "render_message"]

SAFE_FILTERS = frozenset(
    {"default", "upper", "lower", "title", "capitalize", "trim", "round", "int"}
)
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.Filter,
    nodes.If,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
)
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def check_template(text: str, allowed_fields: frozenset[str] | set[str]) -> list[str]:
    """Every problem of a message template (empty list: it is valid).

    Each problem names the template line and what is wrong, e.g.
    ``line 1: field 'balance' is not allowed in messages (allowed: city, first_name)``.
    """
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        return [f"line {exc.lineno}: template syntax: {exc.message}"]
    problems: list[str] = []
    allowed = ", ".join(sorted(allowed_fields)) or "none"
    for node in tree.find_all(nodes.Node):
        line = getattr(node, "lineno", 1)
        if not isinstance(node, _ALLOWED_NODES):
            problems.append(
                f"line {line}: {type(node).__name__.lower()} is not allowed in "
                "messages (only fields, text filters and if)"
            )
        elif isinstance(node, nodes.Name) and node.name not in allowed_fields:
            problems.append(
                f"line {line}: field {node.name!r} is not allowed in messages "
                f"(allowed: {allowed})"
            )
        elif isinstance(node, nodes.Filter) and node.name not in SAFE_FILTERS:
            problems.append(
                f"line {line}: filter {node.name!r} is not allowed (allowed: "
                f"{', '.join(sorted(SAFE_FILTERS))})"
            )
    if not problems:
        try:
            _ENV.from_string(text)
        except TemplateSyntaxError as exc:  # pragma: no cover - parse caught it
            problems.append(f"line {exc.lineno}: template syntax: {exc.message}")
    return problems


def render_message(text: str, profile: Mapping[str, Any]) -> str:
    """Render a checked template for one profile (sandboxed, strict).

    >>> render_message("Hi {{ first_name | title }}!", {"first_name": "ada"})
    'Hi Ada!'
    """
    return _ENV.from_string(text).render(dict(profile))

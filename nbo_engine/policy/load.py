"""Read a policy file: every problem listed, each at its file, line and field.

``load_policy("policy.yaml")`` returns a :class:`PolicySpec` or raises
:class:`~nbo_engine.errors.PolicyFileError` whose ``problems`` read like
``policy.yaml:14 offers[2].contact.max_per_week: expected int >= 0, got -1``.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from nbo_engine.errors import PolicyFileError
from nbo_engine.policy.spec import BANDIT_TYPES, PolicySpec, cross_problems
from nbo_engine.policy.yaml_lines import LineMap, format_path, load_yaml_lines

__all__ = ["MAX_FILE_BYTES", "load_policy", "parse_policy"]

#: Largest policy file read, in bytes.
MAX_FILE_BYTES = 1_000_000

_TYPE_NAMES: dict[Any, str] = {
    int: "int",
    float: "number",
    str: "text",
    bool: "true or false",
    dt.date: "date (YYYY-MM-DD)",
    dt.time: "time (HH:MM)",
}


def _unwrap(annotation: Any) -> list[Any]:
    """The alternatives of an annotation, without None and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [
            a
            for arg in typing.get_args(annotation)
            if arg is not type(None)
            for a in _unwrap(arg)
        ]
    return [annotation]


def _annotation_at(loc: tuple[int | str, ...]) -> Any:
    """The annotation of the value at ``loc`` in a PolicySpec, or None."""
    current: list[Any] = [PolicySpec]
    for part in loc:
        nxt: list[Any] = []
        for ann in current:
            for alt in _unwrap(ann):
                origin = typing.get_origin(alt)
                args = typing.get_args(alt)
                if isinstance(alt, type) and issubclass(alt, BaseModel):
                    if isinstance(part, str) and part in alt.model_fields:
                        nxt.append(alt.model_fields[part].annotation)
                elif origin in (tuple, list) and isinstance(part, int) and args:
                    nxt.append(args[0])
                elif origin is dict and len(args) == 2:
                    nxt.append(args[1])
        if not nxt:
            return None
        current = nxt
    return current[0] if current else None


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected_type(loc: tuple[int | str, ...]) -> str:
    ann = _annotation_at(loc)
    if ann is None:
        return "a value"
    for alt in _unwrap(ann):
        if alt in _TYPE_NAMES:
            return _TYPE_NAMES[alt]
    return "a value"


def _message(err: ErrorDetails, loc: tuple[int | str, ...]) -> str:
    kind = err["type"]
    ctx = err.get("ctx", {})
    got = _show(err.get("input"))
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        parent = _annotation_at(loc[:-1])
        fields = ""
        for alt in _unwrap(parent) if parent is not None else []:
            if isinstance(alt, type) and issubclass(alt, BaseModel):
                fields = f"; expected one of {', '.join(alt.model_fields)}"
        return f"unknown field{fields}"
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
        "less_than": ("<", "lt"),
    }
    if kind in bounds:
        sym, key = bounds[kind]
        return f"expected {_expected_type(loc)} {sym} {ctx.get(key)}, got {got}"
    if kind.startswith(("int_", "float_", "bool_", "date_", "time_", "string_type")):
        return f"expected {_expected_type(loc)}, got {got}"
    if kind == "literal_error":
        return f"expected one of {ctx.get('expected')}, got {got}"
    if kind == "union_tag_invalid":
        return f"expected type one of {', '.join(BANDIT_TYPES)}, got {_show(ctx.get('tag'))}"
    if kind == "union_tag_not_found":
        return f"required field 'type' is missing (one of {', '.join(BANDIT_TYPES)})"
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} item(s) or characters, got {ctx.get('actual_length')}"
    if kind == "string_too_short":
        return f"expected at least {ctx.get('min_length')} character(s), got {got}"
    if kind == "string_too_long":
        return f"expected at most {ctx.get('max_length')} characters, got {ctx.get('actual_length', 'more')}"
    if kind == "string_pattern_mismatch":
        return f"expected a lower_snake_case name (pattern {ctx.get('pattern')}), got {got}"
    if kind == "policy":
        return str(err["msg"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return msg if ("got" in msg or "expected" in msg) else f"{msg}, got {got}"


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """Drop the discriminator tag pydantic inserts (``bandit.linucb.params``)."""
    out: list[int | str] = []
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] == "bandit" and part in BANDIT_TYPES:
            continue
        out.append(part)
    return tuple(out)


def parse_policy(text: str, filename: str = "policy.yaml") -> PolicySpec:
    """Validate policy YAML text; ``filename`` is used in messages.

    Raises
    ------
    PolicyFileError
        Listing every problem as ``file:line path: message``.
    """
    name = Path(filename).name
    try:
        data, lines, yaml_problems = load_yaml_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyFileError([f"{name}:{line} YAML syntax: {problem}"]) from None
    problems = [
        f"{name}:{p.line} {format_path(p.path)}: {p.message}" for p in yaml_problems
    ]
    if not isinstance(data, dict):
        problems.append(
            f"{name}:{lines.line_of(())} (top level): expected a mapping of policy "
            f"fields, got {_show(data)}"
        )
        raise PolicyFileError(problems)
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        problems.extend(_format(exc, data, name, lines))
    if problems:
        raise PolicyFileError(problems)
    return spec


def _format(
    exc: ValidationError, data: dict[str, Any], name: str, lines: LineMap
) -> list[str]:
    errors = exc.errors(include_url=False)
    located = [
        (_clean_loc(tuple(e["loc"])), _message(e, _clean_loc(tuple(e["loc"]))))
        for e in errors
    ]
    if not any(e["type"] == "policy" for e in errors):
        # Field errors stopped the model before its cross-field checks: run
        # them on the raw data so every problem is listed in one pass.
        located += [(loc, msg) for loc, msg, _ in cross_problems(data)]
    failing = {loc for loc, _ in located}
    out: dict[str, int] = {}
    for loc, msg in located:
        if "item(s), got" in msg and any(
            f[: len(loc)] == loc and f != loc for f in failing
        ):
            continue  # "too short" of a list whose items failed: noise
        line = lines.line_of(loc)
        out.setdefault(f"{name}:{line} {format_path(loc)}: {msg}", line)
    return sorted(out, key=lambda text: out[text])


def load_policy(path: str | Path) -> PolicySpec:
    """Read and validate a policy file.

    Parameters
    ----------
    path : str or Path
        A YAML policy file (see ``docs/policy-language.md``).

    Returns
    -------
    PolicySpec

    Raises
    ------
    PolicyFileError
        If the file is missing, too large, not YAML or invalid; ``problems``
        lists every problem with its line and field.
    """
    p = Path(path)
    if not p.is_file():
        raise PolicyFileError([f"{p}: no such file"])
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise PolicyFileError(
            [f"{p.name}: file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}"]
        )
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyFileError(
            [f"{p.name}: not UTF-8 text (byte {exc.start}); expected a YAML file"]
        ) from None
    return parse_policy(text, p.name)

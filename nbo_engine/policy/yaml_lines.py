"""Load YAML and remember the line of every key and list item.

Pydantic reports where a value failed as a path (``offers, 2, contact,
max_per_week``); :class:`LineMap` turns that path back into the line of the
YAML file the value came from, so an error can read
``policy.yaml:14 offers[2].contact.max_per_week: ...``. Duplicate keys, which
PyYAML silently lets the last one win, are reported as problems.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["LineMap", "YamlProblem", "format_path", "load_yaml_lines"]

PathPart = str | int


@dataclass(frozen=True)
class YamlProblem:
    """A problem found while reading the YAML itself."""

    line: int
    path: tuple[PathPart, ...]
    message: str


@dataclass(frozen=True)
class LineMap:
    """1-based line of each path present in the document."""

    lines: dict[tuple[PathPart, ...], int]

    def line_of(self, path: Sequence[PathPart]) -> int:
        """Line of ``path``, or of its longest present prefix (a missing key
        is reported at its parent), or 1."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


def format_path(path: Sequence[PathPart]) -> str:
    """``("offers", 2, "id")`` -> ``offers[2].id``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _walk(
    node: yaml.Node,
    path: tuple[PathPart, ...],
    lines: dict[tuple[PathPart, ...], int],
    problems: list[YamlProblem],
    seen_nodes: set[int],
) -> None:
    # An alias (*name) is the same node object as its anchor: walk it once, so
    # nested aliases ("billion laughs") cost linear, not exponential, time.
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    YamlProblem(
                        line,
                        (*path, key),
                        f"duplicate key {key!r} (first at line {seen[key]})",
                    )
                )
            seen[key] = line
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _walk(item, (*path, i), lines, problems, seen_nodes)


def load_yaml_lines(text: str) -> tuple[Any, LineMap, list[YamlProblem]]:
    """Parse ``text`` (safe loader) into data, its line map and problems.

    Raises
    ------
    yaml.YAMLError
        On a syntax error (``problem_mark`` holds its position).
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, LineMap({(): 1}), []
        lines: dict[tuple[PathPart, ...], int] = {(): node.start_mark.line + 1}
        problems: list[YamlProblem] = []
        _walk(node, (), lines, problems, set())
        data = loader.construct_document(node)
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    return data, LineMap(lines), problems

"""Offer messages: sandboxed templates with whitelisted profile fields only.

Rendering is :func:`nbo_engine.policy.render_message`'s (the same sandboxed
Jinja environment, strict undefined) with each template compiled once per
process instead of on every call (compiling costs ~0.3 ms, rendering a
compiled template a few microseconds); a test pins equal output. Only the
policy's ``template_fields`` reach a template; a missing value renders as
empty text (so ``{% if city %}`` works), never as ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import Template

from nbo_engine.policy import templates

__all__ = ["message_fields", "render"]


@lru_cache(maxsize=4096)
def _compiled(text: str) -> Template:
    # The policy package's sandboxed environment: one home for template rules.
    return templates._ENV.from_string(text)


def message_fields(
    profile: Mapping[str, Any], allowed: tuple[str, ...]
) -> dict[str, Any]:
    """The whitelisted fields of ``profile``, missing values as ``""``."""
    out: dict[str, Any] = {}
    for name in allowed:
        v = profile.get(name)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            v = ""
        out[name] = v
    return out


def render(text: str, fields: Mapping[str, Any]) -> str:
    """Render a checked template with already whitelisted ``fields``.

    >>> render("Hi {{ first_name | title }}!", {"first_name": "ada"})
    'Hi Ada!'
    """
    return _compiled(text).render(dict(fields))

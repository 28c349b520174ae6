"""The examples in the API docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["logs", "ratelimit"])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"nbo_engine.api.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_event_result_split_examples() -> None:
    import nbo_engine.store.events as events

    result = doctest.testmod(events, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

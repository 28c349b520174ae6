"""The examples in the monitoring docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["acceptance", "alerts", "drift", "health", "result", "thresholds"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"nbo_engine.monitoring.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

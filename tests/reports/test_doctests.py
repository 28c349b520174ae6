"""The examples in the report docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["measure", "playbook", "qini", "units"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"nbo_engine.reports.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

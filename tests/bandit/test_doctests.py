"""The examples in the bandit docstrings run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "base",
    "distribution",
    "forgetting",
    "greedy",
    "linear",
    "linucb",
    "logistic",
    "ridge",
    "state",
    "thompson",
    "validation",
    "warm_start",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"nbo_engine.bandit.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0

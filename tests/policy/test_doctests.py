"""The examples in the policy modules' docstrings run."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from nbo_engine.policy import rules, templates
from nbo_engine.policy.rules import evaluate, parser, printer

MODULES = [rules, parser, printer, evaluate, templates]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

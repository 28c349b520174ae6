"""The examples in the decisioning modules' docstrings run (pure: no database)."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

from nbo_engine.decisioning import arbitration, contact, context, render

MODULES = [arbitration, contact, context, render]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_doctests(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

"""The examples in the docstrings run and give what they say."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

MODULES = ["evidence", "cells", "propose", "rollback", "pipeline", "attribution"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # pipeline's example reads policies/catalog.yaml relative to the checkout
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    module = importlib.import_module(f"nbo_engine.retune.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0

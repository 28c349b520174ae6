"""The examples in the CLV modules' docstrings run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "nbo_engine.scoring.bgnbd",
    "nbo_engine.scoring.clv",
    "nbo_engine.scoring.clv_features",
    "nbo_engine.scoring.clv_metrics",
    "nbo_engine.scoring.compress",
    "nbo_engine.scoring.gamma_gamma",
    "nbo_engine.scoring.hypergeometric",
    "nbo_engine.scoring.mle",
    "nbo_engine.scoring.pareto_nbd",
    "nbo_engine.scoring.rfm",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS
    )
    assert result.failed == 0
    assert result.attempted > 0

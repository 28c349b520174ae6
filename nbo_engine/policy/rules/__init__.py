"""The eligibility rule language: parse, print, check and evaluate.

>>> from nbo_engine.policy.rules import compile_rule
>>> from nbo_engine.policy.fields import default_rule_schema
>>> rule = compile_rule('age between 18 and 65 and not holds("credit_card")',
...                     default_rule_schema())
>>> rule.text
'age between 18 and 65 and not holds("credit_card")'
>>> rule.columns
('age', 'held_credit_card')
>>> rule.holds({"age": 40, "held_credit_card": False})
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import RuleError
from nbo_engine.policy.rules.evaluate import (
    compile_profile,
    evaluate_frame,
    evaluate_profile,
    required_columns,
)
from nbo_engine.policy.rules.nodes import Expr
from nbo_engine.policy.rules.parser import (
    FUNCTIONS,
    MAX_DEPTH,
    MAX_LENGTH,
    parse_rule,
)
from nbo_engine.policy.rules.printer import to_text
from nbo_engine.policy.rules.schema import FieldSpec, RuleSchema, check_rule

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "FieldSpec",
    "Rule",
    "RuleSchema",
    "check_rule",
    "compile_profile",
    "compile_rule",
    "evaluate_frame",
    "evaluate_profile",
    "parse_rule",
    "required_columns",
    "to_text",
]


@dataclass(frozen=True)
class Rule:
    """A parsed rule checked against a schema, ready to evaluate."""

    source: str
    tree: Expr
    schema: RuleSchema = field(repr=False, compare=False)
    columns: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """Canonical text of the rule."""
        return to_text(self.tree)

    def mask(self, profiles: pd.DataFrame) -> NDArray[np.bool_]:
        """Eligibility of every row of ``profiles``, shape (n_rows,)."""
        return evaluate_frame(self.tree, profiles, self.schema)

    def holds(self, profile: Mapping[str, Any]) -> bool:
        """Eligibility of one profile (compiled to closures at first use:
        :func:`~nbo_engine.policy.rules.evaluate.compile_profile`)."""
        fn: Callable[[Mapping[str, Any]], bool] | None = self.__dict__.get("_holds")
        if fn is None:
            fn = compile_profile(self.tree, self.schema)
            object.__setattr__(self, "_holds", fn)
        return fn(profile)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_holds", None)  # closures do not pickle; rebuilt on use
        return state


def compile_rule(text: str, schema: RuleSchema) -> Rule:
    """Parse ``text`` and check it against ``schema``.

    Raises
    ------
    RuleError
        With the first syntax error, or every schema problem, each with its
        line and column.
    """
    tree = parse_rule(text)
    issues = check_rule(tree, schema)
    if issues:
        raise RuleError(issues)
    return Rule(text, tree, schema, required_columns(tree, schema))

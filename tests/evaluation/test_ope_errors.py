"""Messages of off-policy evaluation's input checks, pinned."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nbo_engine.errors import DataValidationError
from nbo_engine.evaluation.ope import estimate_policy_value

R = np.array([1.0, 0.0, 1.0])
A = np.array([0, 1, 0])
MU = np.array([0.5, 0.5, 0.5])
PI = np.full((3, 2), 0.5)


def _call(**kw: Any) -> None:
    args: dict[str, Any] = {
        "rewards": R,
        "actions": A,
        "propensities": MU,
        "target_probs": PI,
        "method": "ips",
    }
    args.update(kw)
    estimate_policy_value(**args)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (
            {"method": "magic"},
            r"^method: expected one of ips, snips, dr, switch-dr, dr-os, got 'magic'$",
        ),
        (
            {"rewards": R[:2]},
            r"^rewards: length 2 does not match target_probs with 3 rows$",
        ),
        (
            {"rewards": np.array([1.0, np.nan, 0.0])},
            r"^rewards: 1 non-finite value\(s\), first at row 1 \(nan\); expected finite numbers$",
        ),
        (
            {"rewards": np.array(["a", "b", "c"])},
            r"^rewards: expected numbers, got dtype <U1$",
        ),
        (
            {"rewards": R[:, None]},
            r"^rewards: expected a 1-D array, got shape \(3, 1\)$",
        ),
        (
            {"actions": np.array([0, 2, 0])},
            r"^actions: row 1 is 2; expected an integer arm index in \[0, 1\] \(1 bad row\(s\)\)$",
        ),
        (
            {"actions": np.array([0, 0.5, 0])},
            r"^actions: row 1 is 0.5; expected an integer arm index",
        ),
        (
            {"propensities": np.array([0.5, 0.0, 0.5])},
            r"^propensities: row 1 is 0; expected a probability in \(0, 1\] \(1 bad row\(s\)\)$",
        ),
        (
            {"propensities": np.array([0.5, 1.5, 0.5])},
            r"^propensities: row 1 is 1.5; expected a probability in \(0, 1\]",
        ),
        (
            {"target_probs": np.full(3, 0.5)},
            r"^target_probs: expected shape \(n, n_arms\), got shape \(3,\)$",
        ),
        (
            {"target_probs": np.array([[0.5, 0.5], [0.7, 0.7], [1.0, 0.0]])},
            r"^target_probs: row 1 sums to 1.4; expected each row to sum to 1 \(\+/- 1e-06\); 1 bad row\(s\)$",
        ),
        (
            {"target_probs": np.array([[0.5, 0.5], [1.5, -0.5], [1.0, 0.0]])},
            r"^target_probs: row 1 has a negative probability \(-0.5\); expected values in \[0, 1\]$",
        ),
        (
            {"target_probs": np.array([[0.5, 0.5], [np.inf, 0.0], [1.0, 0.0]])},
            r"^target_probs: row 1 has non-finite values \(1 bad row\(s\)\); expected probabilities$",
        ),
        (
            {
                "rewards": R[:1],
                "actions": A[:1],
                "propensities": MU[:1],
                "target_probs": PI[:1],
            },
            r"^expected at least 2 logged rows, got 1$",
        ),
        (
            {"method": "dr"},
            r"^the DR family needs a reward model: pass reward_model .* got neither$",
        ),
        (
            {"method": "dr", "reward_model": np.zeros((3, 3))},
            r"^reward_model: expected predicted rewards of shape \(3, 2\), got shape \(3, 3\) and dtype float64$",
        ),
        (
            {"method": "dr", "reward_model": lambda x: np.zeros((3, 2))},
            r"^reward_model is a callable, so contexts \(n, n_features\) are needed to call it; got contexts=None$",
        ),
        (
            {"method": "dr", "reward_model": lambda x: x, "contexts": np.zeros((3, 1))},
            r"^reward_model\(contexts\): expected predicted rewards of shape \(3, 2\), got shape \(3, 1\)",
        ),
        (
            {"method": "dr", "reward_model": np.array([[0, 0], [np.nan, 0], [0, 0]])},
            r"^reward_model: row 1 has non-finite predictions; expected finite numbers$",
        ),
        (
            {"method": "dr", "contexts": np.zeros((2, 1))},
            r"^contexts: expected a numeric array of shape \(3, n_features\), got shape \(2, 1\) and dtype float64$",
        ),
        (
            {"method": "dr", "contexts": np.array([[0.0], [np.inf], [1.0]])},
            r"^contexts: row 1 has non-finite values; expected finite numbers$",
        ),
        ({"confidence": 1.0}, r"^confidence: expected a level in \(0, 1\), got 1.0$"),
        (
            {"interval": "exact"},
            r"^interval: expected 'normal' or 'bootstrap', got 'exact'$",
        ),
        (
            {"interval": "bootstrap"},
            r"^interval='bootstrap' needs rng \(a numpy Generator\) and n_bootstrap >= 10; got rng=None, n_bootstrap=2000$",
        ),
        (
            {
                "method": "dr-os",
                "reward_model": np.zeros((3, 2)),
                "hyperparameter": -1.0,
            },
            r"^hyperparameter: expected a finite number > 0, got -1.0$",
        ),
    ],
)
def test_messages(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        _call(**kw)

"""Checks at the public entry points of the bandit policies.

Each function takes what a caller passed, returns a clean float64/bool/int64
array (never the caller's own object when a write could follow) and raises
:class:`~nbo_engine.errors.DataValidationError` saying what was received and
what was expected. Private code after these checks trusts its inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.errors import ConfigError, DataValidationError

__all__ = [
    "check_arms",
    "check_context",
    "check_contexts",
    "check_eligible",
    "check_positive_int",
    "check_real",
    "check_rewards",
    "check_values",
    "check_weights",
]


def _shape(a: Any) -> str:
    return str(tuple(np.shape(a)))


def check_positive_int(name: str, value: object, *, minimum: int = 1) -> int:
    """An integer parameter ``>= minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(
            f"{name}: expected an integer >= {minimum}, got {value!r} "
            f"({type(value).__name__})"
        )
    if value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def check_real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real parameter within ``[low, high]`` (ends optionally open)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ConfigError(f"{name}: expected a real number, got {value!r}")
    v = float(value)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    rng = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    bad = not np.isfinite(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        raise ConfigError(f"{name}: expected a finite number in {rng}, got {v!r}")
    return v


def _as_float(name: str, a: object) -> NDArray[np.float64]:
    arr = np.asarray(a)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise DataValidationError(
            f"{name}: expected a real-valued numeric array, got dtype {arr.dtype}"
        )
    return arr.astype(np.float64, copy=False)


def _first_non_finite(name: str, arr: NDArray[np.float64], what: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = (
            f"row {idx[0]}, column {idx[1]}"
            if len(idx) == 2
            else f"position {idx[0]}"
            if idx
            else "value"
        )
        raise DataValidationError(
            f"{name}: {where} is {float(arr[idx])!r}; {what} must be finite "
            f"({int(bad.sum())} non-finite value(s) in all)"
        )


def check_context(x: object, n_features: int) -> NDArray[np.float64]:
    """One context: a finite 1-D array of ``n_features`` numbers."""
    arr = _as_float("x", x)
    if arr.ndim != 1 or arr.shape[0] != n_features:
        raise DataValidationError(
            f"x: expected a 1-D array of {n_features} features, got shape "
            f"{_shape(arr)}"
            + (" (use select_batch for many rows)" if arr.ndim == 2 else "")
        )
    _first_non_finite("x", arr, "contexts")
    return arr


def check_contexts(
    X: object, n_features: int, *, name: str = "X"
) -> NDArray[np.float64]:
    """Contexts: a finite array of shape ``(n, n_features)``."""
    arr = _as_float(name, X)
    if arr.ndim != 2 or arr.shape[1] != n_features:
        raise DataValidationError(
            f"{name}: expected a 2-D array of shape (n, {n_features}), got shape "
            f"{_shape(arr)}"
        )
    _first_non_finite(name, arr, "contexts")
    return arr


def check_eligible(
    eligible: object, n: int, n_arms: int, *, batch: bool
) -> NDArray[np.bool_] | None:
    """An eligibility mask broadcastable to ``(n, n_arms)``; ``None`` = all.

    Returns ``None`` for "every arm", else a bool array of shape ``(n_arms,)``
    (shared by every row) or ``(n, n_arms)``. Raises if some row has no
    eligible arm: a policy cannot choose from nothing.
    """
    if eligible is None:
        return None
    arr = np.asarray(eligible)
    if arr.dtype != np.bool_:
        raise DataValidationError(
            f"eligible: expected a boolean mask over the {n_arms} arms, got dtype "
            f"{arr.dtype}"
        )
    shapes = f"({n_arms},) or ({n}, {n_arms})" if batch else f"({n_arms},)"
    ok = arr.shape == (n_arms,) or (batch and arr.shape == (n, n_arms))
    if not ok:
        raise DataValidationError(
            f"eligible: expected a boolean mask of shape {shapes}, got shape "
            f"{_shape(arr)}"
        )
    none = ~arr.any(axis=-1)
    if np.any(none):
        if arr.ndim == 1:
            raise DataValidationError(
                "eligible: no arm is eligible (mask is all False); at least one "
                "arm must be eligible to choose"
            )
        rows = np.flatnonzero(none)
        raise DataValidationError(
            f"eligible: row {int(rows[0])} has no eligible arm (mask all False; "
            f"{rows.size} such row(s)); at least one arm must be eligible per row"
        )
    return arr


def check_values(
    values: object, n: int, n_arms: int, *, batch: bool
) -> NDArray[np.float64] | None:
    """Business value per conversion, shape ``(n_arms,)`` or ``(n, n_arms)``,
    finite and strictly positive; ``None`` means 1 for every arm."""
    if values is None:
        return None
    arr = _as_float("values", values)
    shapes = f"({n_arms},) or ({n}, {n_arms})" if batch else f"({n_arms},)"
    if not (arr.shape == (n_arms,) or (batch and arr.shape == (n, n_arms))):
        raise DataValidationError(
            f"values: expected an array of shape {shapes}, got shape {_shape(arr)}"
        )
    _first_non_finite("values", arr, "values")
    if (arr <= 0).any():
        idx = tuple(int(i) for i in np.argwhere(arr <= 0)[0])
        raise DataValidationError(
            f"values: entry {idx} is {float(arr[idx])!r}; values must be > 0 (make an "
            "offer with no positive value ineligible instead)"
        )
    return arr


def check_arms(arms: object, n: int, n_arms: int) -> NDArray[np.int64]:
    """Arm indices, integers in ``[0, n_arms)``, shape ``(n,)``."""
    arr = np.asarray(arms)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise DataValidationError(
            f"arms: expected integer arm indices in [0, {n_arms}), got dtype "
            f"{arr.dtype}"
        )
    if arr.shape != (n,):
        raise DataValidationError(
            f"arms: expected shape ({n},) to match the contexts, got shape "
            f"{_shape(arr)}"
        )
    out = arr.astype(np.int64, copy=False)
    bad = (out < 0) | (out >= n_arms)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"arms: row {i} is {int(out[i])}; expected an arm index in [0, {n_arms})"
        )
    return out


def check_rewards(
    rewards: object, n: int, *, low: float | None = None, high: float | None = None
) -> NDArray[np.float64]:
    """Rewards, finite, shape ``(n,)``, optionally within ``[low, high]``."""
    arr = _as_float("rewards", rewards)
    if arr.shape != (n,):
        raise DataValidationError(
            f"rewards: expected shape ({n},) to match the contexts, got shape "
            f"{_shape(arr)}"
        )
    _first_non_finite("rewards", arr, "rewards")
    if low is not None and high is not None:
        bad = (arr < low) | (arr > high)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"rewards: row {i} is {float(arr[i])!r}; this policy models a "
                f"probability and expects rewards in [{low}, {high}] "
                "(e.g. converted 0/1)"
            )
    return arr


def check_weights(weights: object, n: int) -> NDArray[np.float64] | None:
    """Observation weights, finite and ``>= 0``, shape ``(n,)``; ``None`` = 1."""
    if weights is None:
        return None
    arr = _as_float("weights", weights)
    if arr.shape != (n,):
        raise DataValidationError(
            f"weights: expected shape ({n},) to match the contexts, got shape "
            f"{_shape(arr)}"
        )
    _first_non_finite("weights", arr, "weights")
    if (arr < 0).any():
        i = int(np.flatnonzero(arr < 0)[0])
        raise DataValidationError(
            f"weights: row {i} is {float(arr[i])!r}; weights must be >= 0"
        )
    return arr

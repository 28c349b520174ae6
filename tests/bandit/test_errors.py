"""Error paths: each message says what was received and what was expected."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from nbo_engine.bandit import (
    BanditPolicy,
    EpsilonGreedy,
    Forgetting,
    LinearTS,
    LinUCB,
    LogisticTS,
    warm_start,
)
from nbo_engine.errors import ConfigError, DataValidationError, StateFormatError


@pytest.fixture
def pol() -> LinUCB:
    return LinUCB(3, 2, rng=0)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: LinUCB(0, 2), r"n_arms: expected an integer >= 1, got 0"),
        (
            lambda: LinUCB(2.5, 2),
            r"n_arms: expected an integer >= 1, got 2.5 \(float\)",
        ),  # type: ignore[arg-type]
        (lambda: LinUCB(3, True), r"n_features: expected an integer >= 1, got True"),
        (
            lambda: LinUCB(3, 2, alpha=-1),
            r"alpha: expected a finite number in \[0.0, inf\], got -1.0",
        ),
        (
            lambda: EpsilonGreedy(3, 2, epsilon=1.5),
            r"epsilon: expected a finite number in \[0.0, 1.0\], got 1.5",
        ),
        (
            lambda: LinearTS(3, 2, n_draws=0),
            r"n_draws: expected an integer >= 1, got 0",
        ),
        (
            lambda: LinearTS(10, 2, propensity_floor=0.1),
            r"propensity_floor: expected at most 0.5 / n_arms = 0.05 for 10 arms, got 0.1",
        ),
        (
            lambda: LogisticTS(3, 2, prior_precision=0),
            r"prior_precision: expected a finite number in \(0.0, inf\], got 0.0",
        ),
        (lambda: LinUCB(3, 2, noise=float("nan")), r"noise: expected a finite number"),
        (
            lambda: LinUCB(3, 2, noise="auto"),
            r"noise: expected 'pooled', 'per_arm' or a number > 0, got 'auto'",
        ),
        (
            lambda: LinUCB(3, 2, rng="seed"),
            r"rng: expected a numpy Generator, an integer seed or None, got 'seed'",
        ),  # type: ignore[arg-type]
        (
            lambda: LinUCB(3, 2, forgetting=100),
            r"forgetting: expected Forgetting\(half_life=..., unit=...\) or None, got 100",
        ),  # type: ignore[arg-type]
        (
            lambda: Forgetting(0),
            r"forgetting.half_life: expected a finite number in \(0.0, inf\], got 0.0",
        ),
        (
            lambda: Forgetting(10, "days"),
            r"forgetting.unit: expected 'decisions' or 'observations', got 'days'",
        ),  # type: ignore[arg-type]
    ],
)
def test_bad_parameters(make: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make()  # type: ignore[operator]


def test_bad_contexts(pol: LinUCB) -> None:
    with pytest.raises(
        DataValidationError,
        match=r"x: expected a 1-D array of 2 features, got shape \(3,\)",
    ):
        pol.select(np.ones(3))
    with pytest.raises(
        DataValidationError,
        match=r"got shape \(1, 2\) \(use select_batch for many rows\)",
    ):
        pol.select(np.ones((1, 2)))
    with pytest.raises(
        DataValidationError, match=r"x: position 1 is nan; contexts must be finite"
    ):
        pol.select(np.array([1.0, np.nan]))
    with pytest.raises(
        DataValidationError,
        match=r"X: expected a 2-D array of shape \(n, 2\), got shape \(4, 3\)",
    ):
        pol.select_batch(np.ones((4, 3)))
    X = np.ones((4, 2))
    X[2, 1] = np.inf
    with pytest.raises(
        DataValidationError,
        match=r"X: row 2, column 1 is inf; contexts must be finite \(1 non-finite",
    ):
        pol.select_batch(X)
    with pytest.raises(
        DataValidationError,
        match=r"X: expected a real-valued numeric array, got dtype <U1",
    ):
        pol.select_batch(np.array([["a", "b"]]))


def test_bad_eligibility(pol: LinUCB) -> None:
    with pytest.raises(
        DataValidationError, match=r"eligible: no arm is eligible \(mask is all False\)"
    ):
        pol.select(np.ones(2), np.zeros(3, dtype=bool))
    el = np.ones((4, 3), dtype=bool)
    el[2] = False
    with pytest.raises(
        DataValidationError,
        match=r"eligible: row 2 has no eligible arm \(mask all False; 1 such row",
    ):
        pol.select_batch(np.ones((4, 2)), el)
    with pytest.raises(
        DataValidationError,
        match=r"eligible: expected a boolean mask over the 3 arms, got dtype int64",
    ):
        pol.select(np.ones(2), np.array([1, 0, 1]))
    with pytest.raises(
        DataValidationError,
        match=r"expected a boolean mask of shape \(3,\) or \(4, 3\), got shape \(4, 2\)",
    ):
        pol.select_batch(np.ones((4, 2)), np.ones((4, 2), dtype=bool))
    with pytest.raises(
        DataValidationError,
        match=r"expected a boolean mask of shape \(3,\), got shape \(1, 3\)",
    ):
        pol.select(np.ones(2), np.ones((1, 3), dtype=bool))


def test_bad_values(pol: LinUCB) -> None:
    with pytest.raises(
        DataValidationError, match=r"values: entry \(1,\) is 0.0; values must be > 0"
    ):
        pol.select(np.ones(2), values=np.array([1.0, 0.0, 2.0]))
    with pytest.raises(
        DataValidationError,
        match=r"values: expected an array of shape \(3,\) or \(2, 3\), got shape \(2,\)",
    ):
        pol.select_batch(np.ones((2, 2)), values=np.ones(2))
    with pytest.raises(
        DataValidationError, match=r"values: position 2 is nan; values must be finite"
    ):
        pol.select(np.ones(2), values=np.array([1.0, 1.0, np.nan]))


def test_bad_updates(pol: LinUCB) -> None:
    X = np.ones((3, 2))
    with pytest.raises(
        DataValidationError,
        match=r"arms: row 1 is 3; expected an arm index in \[0, 3\)",
    ):
        pol.update(X, np.array([0, 3, 1]), np.zeros(3))
    with pytest.raises(
        DataValidationError,
        match=r"arms: expected integer arm indices in \[0, 3\), got dtype float64",
    ):
        pol.update(X, np.array([0.0, 1.0, 1.0]), np.zeros(3))
    with pytest.raises(
        DataValidationError,
        match=r"arms: expected shape \(3,\) to match the contexts, got shape \(2,\)",
    ):
        pol.update(X, np.array([0, 1]), np.zeros(3))
    with pytest.raises(
        DataValidationError,
        match=r"rewards: expected shape \(3,\) to match the contexts, got shape \(4,\)",
    ):
        pol.update(X, np.array([0, 1, 2]), np.zeros(4))
    with pytest.raises(
        DataValidationError, match=r"rewards: position 0 is nan; rewards must be finite"
    ):
        pol.update(X, np.array([0, 1, 2]), np.array([np.nan, 0, 0]))
    with pytest.raises(
        DataValidationError, match=r"weights: row 2 is -1.0; weights must be >= 0"
    ):
        pol.update(
            X, np.array([0, 1, 2]), np.zeros(3), weights=np.array([1.0, 1.0, -1.0])
        )
    with pytest.raises(
        DataValidationError,
        match=r"rewards: row 1 is 2.0; this policy models a probability and expects rewards in \[0.0, 1.0\]",
    ):
        LogisticTS(3, 2).update(X, np.array([0, 1, 2]), np.array([0.0, 2.0, 1.0]))
    with pytest.raises(
        DataValidationError,
        match=r"propensities: row 0 is 0.0; a logged propensity must be in \(0, 1\]",
    ):
        warm_start(pol, X, np.array([0, 1, 2]), np.zeros(3), np.array([0.0, 0.5, 0.5]))


def test_bad_state_bytes(pol: LinUCB) -> None:
    with pytest.raises(
        StateFormatError,
        match=r"not a state written by to_bytes\(\) \(5 bytes starting b'hello'\)",
    ):
        LinUCB.from_bytes(b"hello")
    with pytest.raises(
        StateFormatError, match=r"expected bytes from to_bytes\(\), got str"
    ):
        LinUCB.from_bytes("hello")  # type: ignore[arg-type]
    ts = LinearTS(3, 2).to_bytes()
    with pytest.raises(
        StateFormatError,
        match=r"the bytes hold a LinearTS state, but LinUCB.from_bytes expects a LinUCB state",
    ):
        LinUCB.from_bytes(ts)


def _rewrite_header(state: bytes, **changes: object) -> bytes:
    with np.load(io.BytesIO(state)) as z:
        arrays = {f: z[f] for f in z.files}
    header = json.loads(arrays["header"].tobytes())
    header.update(changes)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_state_of_other_version_or_format(pol: LinUCB) -> None:
    b = pol.to_bytes()
    with pytest.raises(
        StateFormatError,
        match=r"format version 2 is not supported; this release reads version 1",
    ):
        LinUCB.from_bytes(_rewrite_header(b, version=2))
    with pytest.raises(
        StateFormatError, match=r"format is 'other', expected 'nbo_engine.bandit'"
    ):
        LinUCB.from_bytes(_rewrite_header(b, format="other"))
    with pytest.raises(StateFormatError, match=r"unknown policy 'Nope'; known: "):
        BanditPolicy.from_bytes(_rewrite_header(b, policy="Nope"))


def test_state_with_bad_arrays(pol: LinUCB) -> None:
    with np.load(io.BytesIO(pol.to_bytes())) as z:
        arrays = {f: z[f] for f in z.files}
    arrays["xy"] = np.zeros((2, 2))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(
        StateFormatError,
        match=r"array 'xy' has shape \(2, 2\), expected finite values of shape \(3, 2\)",
    ):
        LinUCB.from_bytes(buf.getvalue())
    arrays["obj"] = np.array([object()], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(
        StateFormatError,
        match=r"not a state written by to_bytes\(\).*allow_pickle=False",
    ):
        LinUCB.from_bytes(buf.getvalue())

"""Evaluate every uplift model on any table: the pure core of ``nbo uplift evaluate``.

A frame in (the file as read), a :class:`TableEvaluation` out. Messages name the
command-line option that carries the bad value, since this is what the CLI
shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.evaluation.encoding import FeatureEncoder
from nbo_engine.evaluation.selection import MODELS, Selection, fit_and_score, split_rows

__all__ = [
    "MIN_ROWS_PER_ARM",
    "TableEvaluation",
    "evaluate_table",
    "treatment_indicator",
]

#: Fewer treated or control rows than this in the table is refused.
MIN_ROWS_PER_ARM = 20
_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n"}


@dataclass(frozen=True)
class TableEvaluation:
    """Models fitted on the train rows and scored on the test rows."""

    selection: Selection
    features: tuple[str, ...]
    encoded_features: int
    rows: int
    rows_dropped: int
    test_rows: NDArray[np.int64]  # 0-based row numbers in the input
    treatment: NDArray[np.int64]  # of the test rows
    outcome: NDArray[np.float64]  # of the test rows


def treatment_indicator(
    values: pd.Series, column: str, treated_value: str | None
) -> NDArray[np.int64]:
    """0/1 treatment from a 0/1, boolean or two-label column (no missing values)."""
    text = values.astype("string").str.strip()
    labels = sorted(set(text.tolist()))
    if treated_value is not None:
        if treated_value not in labels:
            raise DataValidationError(
                f"--treated-value: got {treated_value!r}, which column {column!r} "
                f"never holds; expected one of {', '.join(map(repr, labels[:10]))}"
            )
        if len(labels) != 2:
            raise DataValidationError(
                f"--treatment: column {column!r} has {len(labels)} distinct values "
                f"({', '.join(map(repr, labels[:10]))}), expected exactly 2"
            )
        return np.asarray(text == treated_value, dtype=np.int64)
    low = {v.lower() for v in labels}
    if low <= _TRUE | _FALSE and len(low & _TRUE) <= 1 and len(low & _FALSE) <= 1:
        return np.asarray(text.str.lower().isin(_TRUE), dtype=np.int64)
    if len(labels) == 2:
        raise DataValidationError(
            f"--treatment: column {column!r} holds the labels {labels[0]!r} and "
            f"{labels[1]!r}; name the treated one with --treated-value"
        )
    raise DataValidationError(
        f"--treatment: column {column!r} has {len(labels)} distinct values "
        f"({', '.join(map(repr, labels[:10]))}), expected 0/1 or two labels"
    )


def _outcome(values: pd.Series, column: str) -> NDArray[np.float64]:
    if pd.api.types.is_bool_dtype(values):
        return np.asarray(values, dtype=np.float64)
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        text = values.astype("string").str.strip().str.lower()
        if set(text.dropna()) <= _TRUE | _FALSE:
            return np.asarray(text.isin(_TRUE), dtype=np.float64)
        raise DataValidationError(
            f"--outcome: column {column!r} row {i} is {values.iloc[i]!r}, "
            "expected a number (or 0/1, true/false)"
        )
    return num.to_numpy(dtype=np.float64)


def evaluate_table(
    frame: pd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    features: Sequence[str] | None = None,
    treated_value: str | None = None,
    test_size: float = 0.3,
    seed: int = 0,
    models: Sequence[str] | None = None,
) -> TableEvaluation:
    """Fit every model (or ``models``) on a random train split and score the rest.

    Rows whose treatment or outcome is missing are dropped (counted in
    ``rows_dropped``); features may have missing values and text columns
    (see :class:`FeatureEncoder`).
    """
    cols = [str(c) for c in frame.columns]
    for option, col in (("--treatment", treatment), ("--outcome", outcome)):
        if col not in cols:
            raise DataValidationError(
                f"{option}: unknown column {col!r}; the table has {', '.join(cols)}"
            )
    if treatment == outcome:
        raise DataValidationError(
            f"--outcome: {outcome!r} is also the treatment column, expected another"
        )
    if features is None:
        feats = [c for c in cols if c not in (treatment, outcome)]
    else:
        unknown = [c for c in features if c not in cols]
        if unknown:
            raise DataValidationError(
                f"--features: unknown column(s) {', '.join(map(repr, unknown))}; "
                f"the table has {', '.join(cols)}"
            )
        clash = [c for c in features if c in (treatment, outcome)]
        if clash:
            raise DataValidationError(
                f"--features: {', '.join(map(repr, clash))} is the treatment or "
                "outcome column, expected other columns"
            )
        feats = list(dict.fromkeys(features))
    if not feats:
        raise DataValidationError(
            "--features: no feature columns left, expected one or more"
        )
    if not 0.0 < test_size < 1.0:
        raise DataValidationError(
            f"--test-size: got {test_size!r}, expected a share in (0, 1)"
        )
    if models is not None:
        unknown_models = [m for m in models if m not in MODELS]
        if unknown_models:
            raise DataValidationError(
                f"--models: unknown model(s) {', '.join(unknown_models)}; expected "
                f"some of {', '.join(MODELS)}"
            )
    keep = (frame[treatment].notna() & frame[outcome].notna()).to_numpy()
    rows = np.flatnonzero(keep).astype(np.int64)
    data = frame.iloc[rows]
    t = treatment_indicator(data[treatment], treatment, treated_value)
    y = _outcome(data[outcome], outcome)
    n_t = int(t.sum())
    n_c = t.size - n_t
    if min(n_t, n_c) < MIN_ROWS_PER_ARM:
        raise DataValidationError(
            f"--treatment: column {treatment!r} gives {n_t} treated and {n_c} "
            f"control rows, expected at least {MIN_ROWS_PER_ARM} in each arm"
        )
    rng = np.random.default_rng(seed)
    train, test = split_rows(rows.size, test_size, rng)
    for part, idx in (("train", train), ("test", test)):
        arm = t[idx]
        if arm.sum() == 0 or arm.sum() == arm.size:
            raise DataValidationError(
                f"--test-size: {test_size} leaves the {part} split with one arm "
                f"only ({int(arm.sum())} treated of {arm.size}); expected both"
            )
    enc = FeatureEncoder().fit(data[feats].iloc[train])
    X = enc.transform(data[feats])
    sel = fit_and_score(
        X[train], t[train], y[train], X[test], t[test], y[test], names=models, seed=seed
    )
    return TableEvaluation(
        selection=sel,
        features=tuple(feats),
        encoded_features=len(enc.names_),
        rows=len(frame),
        rows_dropped=int((~keep).sum()),
        test_rows=rows[test],
        treatment=t[test],
        outcome=y[test],
    )

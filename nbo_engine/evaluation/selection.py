"""Every uplift/CATE model by name, fitted and scored side by side; the best
chosen by Qini (then AUUC) on held-out rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.evaluation.cate import (
    EconmlCausalForest,
    EconmlDRLearner,
    EconmlLinearDML,
    HistDRLearner,
)
from nbo_engine.evaluation.metrics import UpliftScores, evaluate_uplift
from nbo_engine.evaluation.uplift import (
    CausalmlMetaLearner,
    CausalmlUpliftForest,
    UpliftModel,
    validate_xty,
)

__all__ = [
    "MODELS",
    "ModelResult",
    "Selection",
    "choose_best",
    "fit_and_score",
    "make_model",
    "split_rows",
]

#: Every model by name, in report order.
MODELS: dict[str, Callable[[int], UpliftModel]] = {
    "causalml_s": lambda seed: CausalmlMetaLearner("s", seed),
    "causalml_t": lambda seed: CausalmlMetaLearner("t", seed),
    "causalml_x": lambda seed: CausalmlMetaLearner("x", seed),
    "causalml_r": lambda seed: CausalmlMetaLearner("r", seed),
    "causalml_dr": lambda seed: CausalmlMetaLearner("dr", seed),
    "causalml_uplift_forest": lambda seed: CausalmlUpliftForest(seed),
    "econml_linear_dml": lambda seed: EconmlLinearDML(seed),
    "econml_causal_forest": lambda seed: EconmlCausalForest(seed),
    "econml_dr": lambda seed: EconmlDRLearner(seed),
    "nbo_hist_dr": lambda seed: HistDRLearner(seed),
}


def make_model(name: str, seed: int = 0) -> UpliftModel:
    """A fresh model by name (see :data:`MODELS`)."""
    try:
        return MODELS[name](seed)
    except KeyError:
        raise DataValidationError(
            f"model: got {name!r}, expected one of {', '.join(MODELS)}"
        ) from None


@dataclass(frozen=True)
class ModelResult:
    """One model fitted on the training rows and scored on the test rows.

    ``scores`` is None and ``skipped`` says why when the model could not be
    fitted on these data (e.g. the uplift forest on a continuous outcome).
    """

    name: str
    fit_seconds: float
    scores: UpliftScores | None
    uplift: NDArray[np.float64] | None
    skipped: str = ""


@dataclass(frozen=True)
class Selection:
    """Results of every model, best first by Qini then AUUC."""

    results: tuple[ModelResult, ...]

    @property
    def best(self) -> ModelResult:
        return self.results[0]


def split_rows(
    n: int, test_size: float, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Random train/test row numbers, sorted, the test part ``round(n * test_size)``."""
    if not 0.0 < test_size < 1.0:
        raise DataValidationError(
            f"test_size: got {test_size!r}, expected a share in (0, 1)"
        )
    perm = rng.permutation(n)
    k = round(n * test_size)
    return np.sort(perm[k:]), np.sort(perm[:k])


def _rank_key(r: ModelResult) -> tuple[float, float]:
    if r.scores is None:
        return (np.inf, np.inf)
    q, a = r.scores.qini, r.scores.auuc
    return (-q if np.isfinite(q) else np.inf, -a if np.isfinite(a) else np.inf)


def fit_and_score(
    X_train: NDArray[np.float64],
    t_train: NDArray[np.int64],
    y_train: NDArray[np.float64],
    X_test: NDArray[np.float64],
    t_test: NDArray[np.int64],
    y_test: NDArray[np.float64],
    *,
    names: Sequence[str] | None = None,
    seed: int = 0,
    clock: Callable[[], float] = time.perf_counter,
) -> Selection:
    """Fit each named model (all by default) and score it on the test rows.

    A model that refuses the data (:class:`~nbo_engine.errors.DataValidationError`)
    is reported as skipped with the reason; others still run.
    """
    X_train, t_train, y_train = validate_xty(X_train, t_train, y_train)
    X_test, t_test, y_test = validate_xty(X_test, t_test, y_test)
    out: list[ModelResult] = []
    for name in names if names is not None else list(MODELS):
        model = make_model(name, seed)
        start = clock()
        try:
            model.fit(X_train, t_train, y_train)
        except DataValidationError as exc:
            out.append(ModelResult(name, 0.0, None, None, skipped=str(exc)))
            continue
        seconds = clock() - start
        u = model.predict(X_test)
        out.append(ModelResult(name, seconds, evaluate_uplift(y_test, t_test, u), u))
    return Selection(tuple(sorted(out, key=_rank_key)))


def choose_best(
    X: NDArray[np.float64],
    t: NDArray[np.int64],
    y: NDArray[np.float64],
    *,
    names: Sequence[str] | None = None,
    valid_size: float = 0.3,
    seed: int = 0,
    refit: bool = True,
) -> tuple[UpliftModel, Selection]:
    """Pick the model with the highest Qini (ties: AUUC) on a validation split.

    Parameters
    ----------
    X, t, y : arrays, shapes (n, p), (n,), (n,)
        The training rows; ``valid_size`` of them are held out for the choice.
    refit : bool
        Refit the winner on all rows (default) rather than the fitting part.

    Returns
    -------
    (UpliftModel, Selection)
        The chosen model, fitted, and the validation results of all.
    """
    rng = np.random.default_rng(seed)
    fit_rows, valid_rows = split_rows(X.shape[0], valid_size, rng)
    sel = fit_and_score(
        X[fit_rows],
        t[fit_rows],
        y[fit_rows],
        X[valid_rows],
        t[valid_rows],
        y[valid_rows],
        names=names,
        seed=seed,
    )
    if sel.best.scores is None:
        raise DataValidationError(
            "no model could be fitted: "
            + "; ".join(f"{r.name}: {r.skipped}" for r in sel.results)
        )
    model = make_model(sel.best.name, seed)
    if refit:
        model.fit(X, t, y)
    else:
        model.fit(X[fit_rows], t[fit_rows], y[fit_rows])
    return model, sel

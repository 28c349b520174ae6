"""Uplift models behind one small interface, and causalml's learners behind it.

Every model the engine uses (causalml's meta-learners and uplift random
forest here, econml's CATE estimators and our own DR-learner in
:mod:`nbo_engine.evaluation.cate`) is an :class:`UpliftModel`:

* ``fit(X, t, y)`` with ``X`` (n, p) finite floats, ``t`` (n,) 0/1, ``y`` (n,);
* ``predict(X)`` -> predicted uplift ``E[y | x, t=1] - E[y | x, t=0]``, (n,);
* ``predict_interval(X, alpha)`` -> ``(low, high)``, each (n,), or ``None``
  when the model has no intervals (``has_intervals`` tells in advance).

The learning is done by causalml/econml/LightGBM; this module only adapts.
Qini and AUUC assume randomised treatment: the propensity given to the
learners is the treated share of the training rows unless one is passed.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError, NotFittedError

__all__ = [
    "CausalmlMetaLearner",
    "CausalmlUpliftForest",
    "UpliftModel",
    "lgbm_regressor",
    "validate_xty",
]

MetaKind = Literal["s", "t", "x", "r", "dr"]


def lgbm_regressor(seed: int, **overrides: Any) -> Any:
    """The LightGBM base learner every meta-learner shares (one thread)."""
    from lightgbm import LGBMRegressor

    params: dict[str, Any] = {
        "n_estimators": 200,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": 50,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "n_jobs": 1,
        "verbose": -1,
        "random_state": seed,
    }
    params.update(overrides)
    return LGBMRegressor(**params)


def validate_xty(
    X: ArrayLike, t: ArrayLike | None = None, y: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Check shapes, finiteness and a 0/1 treatment; return typed arrays."""
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim != 2:
        raise DataValidationError(f"X: expected a 2-D array, got shape {Xa.shape}")
    bad = ~np.isfinite(Xa)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataValidationError(
            f"X: row {r} column {c} is {Xa[r, c].item()!r}, expected a finite number "
            "(encode features with FeatureEncoder)"
        )
    n = Xa.shape[0]
    ta = np.zeros(n, dtype=np.int64)
    ya = np.zeros(n)
    if t is not None:
        traw = np.asarray(t)
        tf = traw.astype(np.float64)
        if traw.shape != (n,):
            raise DataValidationError(
                f"t: expected shape ({n},) to match X, got {traw.shape}"
            )
        not01 = (tf != 0) & (tf != 1)
        if not01.any():
            i = int(np.argmax(not01))
            raise DataValidationError(
                f"t: row {i} is {traw[i].item()!r}, expected 0 (control) or 1 (treated)"
            )
        ta = tf.astype(np.int64)
    if y is not None:
        ya = np.asarray(y, dtype=np.float64)
        if ya.shape != (n,):
            raise DataValidationError(
                f"y: expected shape ({n},) to match X, got {ya.shape}"
            )
        if not np.isfinite(ya).all():
            i = int(np.argmax(~np.isfinite(ya)))
            raise DataValidationError(
                f"y: row {i} is {ya[i].item()!r}, expected a finite number"
            )
    return Xa, ta, ya


class UpliftModel(ABC):
    """Predicts the uplift of treatment for each row of a feature matrix."""

    name: str = "model"
    has_intervals: ClassVar[bool] = False
    #: Only fits binary 0/1 outcomes.
    binary_outcome_only: ClassVar[bool] = False
    #: Rows per arm below which the model is not fitted.
    min_rows_per_arm: ClassVar[int] = 10

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.n_features_: int | None = None

    def fit(self, X: ArrayLike, t: ArrayLike, y: ArrayLike) -> UpliftModel:
        """Fit on features ``X`` (n, p), treatment ``t`` (n,) 0/1, outcome ``y`` (n,)."""
        Xa, ta, ya = validate_xty(X, t, y)
        n_t = int(ta.sum())
        arms = min(n_t, ta.size - n_t)
        if arms < self.min_rows_per_arm:
            raise DataValidationError(
                f"{self.name}: {n_t} treated and {ta.size - n_t} control rows, "
                f"expected at least {self.min_rows_per_arm} in each arm"
            )
        if self.binary_outcome_only and not np.all((ya == 0) | (ya == 1)):
            raise DataValidationError(
                f"{self.name}: outcome has values other than 0 and 1, expected a "
                "binary outcome"
            )
        with warnings.catch_warnings():
            # Third-party learners warn about their own internals (feature
            # names, deprecated sklearn helpers); nothing the caller can act on.
            warnings.simplefilter("ignore")
            self._fit(Xa, ta, ya)
        self.n_features_ = Xa.shape[1]
        return self

    def _check(self, X: ArrayLike) -> NDArray[np.float64]:
        if self.n_features_ is None:
            raise NotFittedError(f"{self.name}: predict called before fit")
        Xa, _, _ = validate_xty(X)
        if Xa.shape[1] != self.n_features_:
            raise DataValidationError(
                f"{self.name}: X has {Xa.shape[1]} columns, expected "
                f"{self.n_features_} as in fit"
            )
        return Xa

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Predicted uplift, shape (n,), in outcome units."""
        Xa = self._check(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = self._predict(Xa)
        return np.asarray(out, dtype=np.float64).reshape(-1)

    def predict_interval(
        self, X: ArrayLike, alpha: float = 0.05
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        """``(low, high)`` of a ``1 - alpha`` interval per row, or None."""
        if not 0.0 < alpha < 1.0:
            raise DataValidationError(
                f"alpha: got {alpha!r}, expected a value in (0, 1)"
            )
        Xa = self._check(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._interval(Xa, alpha)

    @abstractmethod
    def _fit(
        self, X: NDArray[np.float64], t: NDArray[np.int64], y: NDArray[np.float64]
    ) -> None: ...

    @abstractmethod
    def _predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]: ...

    def _interval(
        self, X: NDArray[np.float64], alpha: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
        return None


class CausalmlMetaLearner(UpliftModel):
    """causalml's S, T, X, R or DR meta-learner with LightGBM base learners.

    Parameters
    ----------
    kind : {"s", "t", "x", "r", "dr"}
        The meta-learner (``BaseSRegressor`` ... ``BaseDRRegressor``).
    seed : int
        Seed of the base learners and of the learners' own splits.
    defaults : bool
        Use causalml's own defaults for everything but the base learner
        (e.g. the R-learner's 5 folds and elastic-net propensity) instead of a
        constant propensity; the benchmarks use this for the peer rows.
    """

    def __init__(
        self, kind: MetaKind, seed: int = 0, *, defaults: bool = False
    ) -> None:
        super().__init__(seed)
        if kind not in ("s", "t", "x", "r", "dr"):
            raise DataValidationError(
                f"kind: got {kind!r}, expected one of s, t, x, r, dr"
            )
        self.kind: MetaKind = kind
        self.defaults = defaults
        self.name = f"causalml_{kind}"
        self._model: Any = None
        self._p = 0.5

    def _fit(
        self, X: NDArray[np.float64], t: NDArray[np.int64], y: NDArray[np.float64]
    ) -> None:
        from causalml.inference import meta  # type: ignore[import-untyped]

        base = lgbm_regressor(self.seed)
        self._p = float(t.mean())
        p = None if self.defaults else np.full(t.size, self._p)
        if self.kind == "s":
            self._model = meta.BaseSRegressor(base)
            self._model.fit(X, t, y)
        elif self.kind == "t":
            self._model = meta.BaseTRegressor(base)
            self._model.fit(X, t, y)
        elif self.kind == "x":
            self._model = meta.BaseXRegressor(base)
            self._model.fit(X, t, y, p=p)
        elif self.kind == "r":
            kw: dict[str, Any] = {} if self.defaults else {"n_fold": 3}
            self._model = meta.BaseRRegressor(base, random_state=self.seed, **kw)
            self._model.fit(X, t, y, p=p, verbose=False)
        else:
            self._model = meta.BaseDRRegressor(base)
            self._model.fit(X, t, y, p=p, seed=self.seed)

    def _predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.kind in ("x", "dr") and not self.defaults:
            return self._model.predict(X, p=np.full(X.shape[0], self._p))
        return self._model.predict(X)


class CausalmlUpliftForest(UpliftModel):
    """causalml's ``UpliftRandomForestClassifier`` (binary outcomes only).

    Parameters
    ----------
    n_estimators, max_depth, min_samples_leaf : int
        Passed to causalml; the defaults there are 10 trees of depth 5 with
        100 rows per leaf.
    evaluation : str
        Split criterion (``KL``, ``ED``, ``Chi``, ``CTS``, ``DDP``).
    """

    name = "causalml_uplift_forest"
    binary_outcome_only = True

    def __init__(
        self,
        seed: int = 0,
        *,
        n_estimators: int = 50,
        max_depth: int = 6,
        min_samples_leaf: int = 100,
        evaluation: str = "KL",
    ) -> None:
        super().__init__(seed)
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.evaluation = evaluation
        self._model: Any = None

    def _fit(
        self, X: NDArray[np.float64], t: NDArray[np.int64], y: NDArray[np.float64]
    ) -> None:
        from causalml.inference.tree import (  # type: ignore[import-untyped]
            UpliftRandomForestClassifier,
        )

        self._model = UpliftRandomForestClassifier(
            control_name="control",
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            max_features=max(1, int(np.sqrt(X.shape[1])) + 1),
            evaluationFunction=self.evaluation,
            random_state=self.seed,
            n_jobs=1,
        )
        labels = np.where(t == 1, "treatment", "control")
        self._model.fit(X, labels, y.astype(np.int64))

    def _predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self._model.predict(X))[:, 0]

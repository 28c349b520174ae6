"""CATE models with intervals: econml's estimators and our histogram DR-learner.

All are :class:`~nbo_engine.evaluation.uplift.UpliftModel` s with
``has_intervals = True``.

:class:`HistDRLearner` is built for a million rows on one core:

1. cross-fitted LightGBM outcome model ``mu(x, t)`` (histogram trees, the
   treatment a feature), giving out-of-fold ``mu0``, ``mu1``;
2. the doubly robust pseudo-outcome (:func:`dr_pseudo_outcome`);
3. cross-fitted LightGBM regression of the pseudo-outcome on ``x``;
4. a linear final stage: OLS of the pseudo-outcome on
   ``z(x) = [1, tau_S(x), tau_DR(x), x]`` where ``tau_S = mu1 - mu0`` and
   ``tau_DR`` are the out-of-fold predictions of steps 1 and 3, with an HC1
   sandwich covariance. The point estimate is ``z(x) @ beta`` and the interval
   ``z(x) @ beta +- z_{1-alpha/2} sqrt(z(x)' V z(x))``.

Step 4 stacks the two nonlinear rankers and the linear CATE of
econml's ``LinearDRLearner``; its intervals are those of the best linear
predictor of the CATE in ``z(x)`` (Chernozhukov, Demirer, Duflo and
Fernández-Val, 2018), so they cover the true effect where the CATE lies in
that span. Memory is O(n) beyond the input: the final stage accumulates
``Z'Z`` in chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from nbo_engine.errors import DataValidationError
from nbo_engine.evaluation.uplift import UpliftModel, lgbm_regressor

__all__ = [
    "EconmlCausalForest",
    "EconmlDRLearner",
    "EconmlLinearDML",
    "HistDRLearner",
    "dr_pseudo_outcome",
]

_CHUNK = 65_536


def dr_pseudo_outcome(
    y: ArrayLike,
    t: ArrayLike,
    mu0: ArrayLike,
    mu1: ArrayLike,
    propensity: ArrayLike | float,
) -> NDArray[np.float64]:
    """Doubly robust (AIPW) score of each row's treatment effect, shape (n,).

    ``phi = mu1 - mu0 + t (y - mu1) / e - (1 - t) (y - mu0) / (1 - e)``
    (Robins, Rotnitzky and Zhao, 1994); its mean over a group estimates the
    group's average effect whenever either the outcome model or the propensity
    ``e`` is right.

    Examples
    --------
    >>> dr_pseudo_outcome([1, 0], [1, 0], [0.2, 0.2], [0.5, 0.5], 0.5).tolist()
    [1.3, 0.7]
    """
    ya, ta = np.asarray(y, dtype=np.float64), np.asarray(t, dtype=np.float64)
    m0, m1 = np.asarray(mu0, dtype=np.float64), np.asarray(mu1, dtype=np.float64)
    e = np.asarray(propensity, dtype=np.float64)
    if np.any((e <= 0) | (e >= 1)):
        raise DataValidationError(
            "propensity: expected values strictly between 0 and 1, got "
            f"min {float(np.min(e))!r} max {float(np.max(e))!r}"
        )
    return m1 - m0 + ta * (ya - m1) / e - (1 - ta) * (ya - m0) / (1 - e)


def _dummy_propensity() -> Any:
    # Randomised experiments: the propensity is the treated share, not a model.
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="prior")


class _Econml(UpliftModel):
    has_intervals = True

    def __init__(self, seed: int = 0, *, defaults: bool = False) -> None:
        super().__init__(seed)
        self.defaults = defaults
        self._model: Any = None

    def _predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self._model.effect(X), dtype=np.float64).reshape(-1)

    def _interval(
        self, X: NDArray[np.float64], alpha: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        lo, hi = self._model.effect_interval(X, alpha=alpha)
        return (
            np.asarray(lo, dtype=np.float64).reshape(-1),
            np.asarray(hi, dtype=np.float64).reshape(-1),
        )

    def _nuisance(self) -> dict[str, Any]:
        return {} if self.defaults else {"random_state": self.seed}


class EconmlLinearDML(_Econml):
    """econml ``LinearDML``: CATE linear in ``x``, intervals by OLS inference."""

    name = "econml_linear_dml"

    def _fit(
        self, X: NDArray[np.float64], t: NDArray[np.int64], y: NDArray[np.float64]
    ) -> None:
        from econml.dml import LinearDML  # type: ignore[import-untyped]

        kw: dict[str, Any] = {"discrete_treatment": True, "random_state": self.seed}
        if not self.defaults:
            kw |= {"model_y": lgbm_regressor(self.seed), "model_t": _dummy_propensity()}
        self._model = LinearDML(**kw)
        self._model.fit(y, t, X=X)


class EconmlCausalForest(_Econml):
    """econml ``CausalForestDML`` (generalised random forest, BLB intervals)."""

    name = "econml_causal_forest"

    def __init__(
        self, seed: int = 0, *, defaults: bool = False, n_estimators: int = 100
    ) -> None:
        super().__init__(seed, defaults=defaults)
        self.n_estimators = n_estimators

    def _fit(
        self, X: NDArray[np.float64], t: NDArray[np.int64], y: NDArray[np.float64]
    ) -> None:
        from econml.dml import CausalForestDML

        kw: dict[str, Any] = {
            "discrete_treatment": True,
            "random_state": self.seed,
            "n_jobs": 1,
        }
        if not self.defaults:
            kw |= {
                "model_y": lgbm_regressor(self.seed),
                "model_t": _dummy_propensity(),
                "n_estimators": self.n_estimators,
                "min_samples_leaf": 20,
            }
        self._model = CausalForestDML(**kw)
        self._model.fit(y, t, X=X)


class EconmlDRLearner(_Econml):
    """econml ``DRLearner`` with its default linear (statsmodels) final stage."""

    name = "econml_dr"

    def _fit(
        self, X: NDArray[np.float64], t: NDArray[np.int64], y: NDArray[np.float64]
    ) -> None:
        from econml.dr import DRLearner  # type: ignore[import-untyped]

        kw: dict[str, Any] = {"random_state": self.seed}
        if not self.defaults:
            kw |= {
                "model_regression": lgbm_regressor(self.seed),
                "model_propensity": _dummy_propensity(),
            }
        self._model = DRLearner(**kw)
        self._model.fit(y, t, X=X)


class HistDRLearner(UpliftModel):
    """Cross-fitted LightGBM DR-learner with a stacked linear final stage.

    Parameters
    ----------
    seed : int
        Seeds the fold split and LightGBM.
    n_folds : int
        Cross-fitting folds (>= 2).
    n_estimators : int
        Trees of each outcome model (learning rate 0.05, 31 leaves).
    final_estimators : int
        Trees of each pseudo-outcome model (15 leaves).
    propensity : float, optional
        Known treatment probability; default the treated share of the rows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(4000, 3)); t = rng.integers(0, 2, 4000)
    >>> y = X[:, 0] + t * (1 + X[:, 1]) + rng.normal(size=4000)
    >>> m = HistDRLearner(n_estimators=60, final_estimators=30).fit(X, t, y)
    >>> lo, hi = m.predict_interval(np.array([[0.0, 1.0, 0.0]]))
    >>> bool(lo[0] < 2.0 < hi[0])
    True
    """

    name = "nbo_hist_dr"
    has_intervals = True

    def __init__(
        self,
        seed: int = 0,
        *,
        n_folds: int = 2,
        n_estimators: int = 200,
        final_estimators: int = 100,
        propensity: float | None = None,
    ) -> None:
        super().__init__(seed)
        if n_folds < 2:
            raise DataValidationError(f"n_folds: got {n_folds}, expected >= 2")
        self.n_folds = n_folds
        self.n_estimators = n_estimators
        self.final_estimators = final_estimators
        self.propensity = propensity
        self.outcome_models_: list[Any] = []
        self.effect_models_: list[Any] = []
        #: Out-of-fold outcome predictions without/with treatment, (n_train,),
        #: for doubly robust effects per segment (``segment_effects``).
        self.mu0_: NDArray[np.float64] = np.zeros(0)
        self.mu1_: NDArray[np.float64] = np.zeros(0)
        self.coef_: NDArray[np.float64] = np.zeros(0)
        self.cov_: NDArray[np.float64] = np.zeros((0, 0))
        self._mean: NDArray[np.float64] = np.zeros(0)
        self._scale: NDArray[np.float64] = np.ones(0)

    def _outcome_model(self) -> Any:
        return lgbm_regressor(
            self.seed,
            n_estimators=self.n_estimators,
            num_leaves=31,
            min_child_samples=100,
            max_bin=63,
        )

    def _effect_model(self) -> Any:
        return lgbm_regressor(
            self.seed,
            n_estimators=self.final_estimators,
            num_leaves=15,
            min_child_samples=400,
            max_bin=63,
            reg_lambda=10.0,
        )

    @staticmethod
    def _with_t(
        X: NDArray[np.float32], t: int | NDArray[np.int64]
    ) -> NDArray[np.float32]:
        col = np.broadcast_to(np.asarray(t, dtype=np.float32), (X.shape[0],))
        return np.column_stack([X, col])

    def _tau_s(
        self, X32: NDArray[np.float32], models: list[Any]
    ) -> NDArray[np.float64]:
        out = np.zeros(X32.shape[0])
        for m in models:
            out += m.predict(self._with_t(X32, 1)) - m.predict(self._with_t(X32, 0))
        return out / len(models)

    def _design(
        self,
        X: NDArray[np.float64],
        tau_s: NDArray[np.float64],
        tau_dr: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        xs = (X - self._mean) / self._scale
        return np.column_stack([np.ones(X.shape[0]), tau_s, tau_dr, xs])

    def _fit(
        self, X: NDArray[np.float64], t: NDArray[np.int64], y: NDArray[np.float64]
    ) -> None:
        rng = np.random.default_rng(self.seed)
        n = X.shape[0]
        fold = rng.permutation(n) % self.n_folds
        e = float(t.mean()) if self.propensity is None else self.propensity
        X32 = X.astype(np.float32)
        mu0, mu1 = np.zeros(n), np.zeros(n)
        self.outcome_models_ = []
        for k in range(self.n_folds):
            tr, te = fold != k, fold == k
            m = self._outcome_model().fit(self._with_t(X32[tr], t[tr]), y[tr])
            self.outcome_models_.append(m)
            Xk = X32[te]
            mu0[te] = m.predict(self._with_t(Xk, 0))
            mu1[te] = m.predict(self._with_t(Xk, 1))
        phi = dr_pseudo_outcome(y, t, mu0, mu1, e)
        tau_s = mu1 - mu0
        self.mu0_, self.mu1_ = mu0, mu1
        tau_dr = np.zeros(n)
        self.effect_models_ = []
        for k in range(self.n_folds):
            tr, te = fold != k, fold == k
            g = self._effect_model().fit(X32[tr], phi[tr])
            self.effect_models_.append(g)
            tau_dr[te] = g.predict(X32[te])
        del X32
        self._mean = X.mean(axis=0)
        sd = X.std(axis=0)
        self._scale = np.where(sd > 0, sd, 1.0)
        self._final_stage(X, tau_s, tau_dr, phi)

    def _final_stage(
        self,
        X: NDArray[np.float64],
        tau_s: NDArray[np.float64],
        tau_dr: NDArray[np.float64],
        phi: NDArray[np.float64],
    ) -> None:
        n, p = X.shape[0], X.shape[1] + 3
        zz, zphi = np.zeros((p, p)), np.zeros(p)
        for s in range(0, n, _CHUNK):
            z = self._design(
                X[s : s + _CHUNK], tau_s[s : s + _CHUNK], tau_dr[s : s + _CHUNK]
            )
            zz += z.T @ z
            zphi += z.T @ phi[s : s + _CHUNK]
        # pinv: one-hot blocks are collinear with the intercept; estimable
        # combinations (every z(x) of the training design) are still unique.
        bread = np.linalg.pinv(zz, hermitian=True)
        beta = bread @ zphi
        meat = np.zeros((p, p))
        for s in range(0, n, _CHUNK):
            z = self._design(
                X[s : s + _CHUNK], tau_s[s : s + _CHUNK], tau_dr[s : s + _CHUNK]
            )
            r = phi[s : s + _CHUNK] - z @ beta
            zr = z * r[:, None]
            meat += zr.T @ zr
        rank = int(np.linalg.matrix_rank(zz, hermitian=True))
        hc1 = n / max(n - rank, 1)
        self.coef_ = beta
        self.cov_ = hc1 * bread @ meat @ bread

    def _point_and_se(
        self, X: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        X32 = X.astype(np.float32)
        tau_s = self._tau_s(X32, self.outcome_models_)
        tau_dr = np.zeros(X.shape[0])
        for g in self.effect_models_:
            tau_dr += g.predict(X32)
        tau_dr /= len(self.effect_models_)
        point, se = np.zeros(X.shape[0]), np.zeros(X.shape[0])
        for s in range(0, X.shape[0], _CHUNK):
            z = self._design(
                X[s : s + _CHUNK], tau_s[s : s + _CHUNK], tau_dr[s : s + _CHUNK]
            )
            point[s : s + _CHUNK] = z @ self.coef_
            se[s : s + _CHUNK] = np.sqrt(
                np.maximum(np.einsum("ij,jk,ik->i", z, self.cov_, z), 0.0)
            )
        return point, se

    def _predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return self._point_and_se(X)[0]

    def _interval(
        self, X: NDArray[np.float64], alpha: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        point, se = self._point_and_se(X)
        q = float(norm.ppf(1 - alpha / 2))
        return point - q * se, point + q * se

"""Model families for binary scores, serialised without pickles.

Every family imputes missing values (training medians), fits, predicts
probabilities and writes itself to a JSON-safe dict (LightGBM as its own text
format inside it), so model artefacts can be stored in the database and loaded
back without running untrusted code.

Families (the candidates an AutoML search compares): ``logistic`` (standardised
L2 logistic regression, the baseline), ``lightgbm`` (gradient boosting),
``random_forest`` (LightGBM's bagged random-forest mode) and ``mlp`` (a small
scikit-learn neural network, weights exported and evaluated with numpy).
Probabilities can be calibrated on held-out data with isotonic regression,
stored as its step function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError, NotFittedError
from nbo_engine.threads import lgb_threads

__all__ = ["FAMILIES", "BinaryModel", "Calibration", "fit_binary", "load_model"]

FAMILIES = ("logistic", "lightgbm", "random_forest", "mlp")


@dataclass(frozen=True)
class Calibration:
    """Isotonic calibration as a step function: ``x`` thresholds -> ``y``."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def apply(self, p: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self.x:
            return p
        return np.interp(p, np.asarray(self.x), np.asarray(self.y))

    @classmethod
    def fit(cls, p: NDArray[np.float64], y: NDArray[np.float64]) -> Calibration:
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6)
        iso.fit(p, y)
        return cls(
            tuple(float(v) for v in iso.X_thresholds_),
            tuple(float(v) for v in iso.y_thresholds_),
        )


@dataclass
class BinaryModel:
    """A fitted binary classifier (family, features, parameters, calibration)."""

    family: str
    features: list[str]
    medians: NDArray[np.float64]
    state: dict[str, Any]
    calibration: Calibration = field(default_factory=lambda: Calibration((), ()))
    _booster: Any = None

    # ------------------------------------------------------------------ predict
    def _matrix(self, X: Any) -> NDArray[np.float64]:
        import pandas as pd

        if isinstance(X, pd.DataFrame):
            missing = [f for f in self.features if f not in X.columns]
            if missing:
                raise DataValidationError(
                    f"{self.family} model: input lacks feature(s) {', '.join(missing[:5])}"
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                )
            M = X[self.features].to_numpy(np.float64)
        else:
            M = np.asarray(X, np.float64)
            if M.ndim != 2 or M.shape[1] != len(self.features):
                raise DataValidationError(
                    f"{self.family} model: expected shape (n, {len(self.features)}), "
                    f"got {M.shape}"
                )
        return np.where(np.isnan(M), self.medians[None, :], M)

    def predict_raw(self, X: Any) -> NDArray[np.float64]:
        """Uncalibrated probability of the positive class, shape (n,)."""
        M = self._matrix(X)
        s = self.state
        if self.family in ("lightgbm", "random_forest"):
            if self._booster is None:
                import lightgbm as lgb

                self._booster = lgb.Booster(model_str=s["booster"])
            return np.asarray(self._booster.predict(M), np.float64)
        Z = (M - np.asarray(s["mean"])) / np.asarray(s["scale"])
        if self.family == "mlp":
            Z = np.clip(Z, -10, 10)
        if self.family == "logistic":
            z = Z @ np.asarray(s["coef"]) + s["intercept"]
            return 1.0 / (1.0 + np.exp(-z))
        if self.family == "mlp":
            h = Z
            layers = list(zip(s["coefs"], s["intercepts"], strict=True))
            for i, (w, b) in enumerate(layers):
                h = h @ np.asarray(w) + np.asarray(b)
                if i < len(layers) - 1:
                    h = np.maximum(h, 0.0)
            return 1.0 / (1.0 + np.exp(-h[:, 0]))
        raise NotFittedError(f"unknown model family {self.family!r}")

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Calibrated probability of the positive class, shape (n,)."""
        return self.calibration.apply(self.predict_raw(X))

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "nbo-binary-model/1",
            "family": self.family,
            "features": self.features,
            "medians": self.medians.tolist(),
            "state": self.state,
            "calibration": {
                "x": list(self.calibration.x),
                "y": list(self.calibration.y),
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=True)


def load_model(data: str | dict[str, Any]) -> BinaryModel:
    """A model from :meth:`BinaryModel.to_json` output."""
    d = json.loads(data) if isinstance(data, str) else data
    if d.get("format") != "nbo-binary-model/1":
        raise DataValidationError(
            f"not a stored nbo binary model (format {d.get('format')!r})"
        )
    cal = d.get("calibration") or {"x": [], "y": []}
    return BinaryModel(
        d["family"],
        list(d["features"]),
        np.asarray(d["medians"], np.float64),
        d["state"],
        Calibration(tuple(cal["x"]), tuple(cal["y"])),
    )


def fit_binary(
    family: str,
    X: Any,
    y: NDArray[np.float64],
    *,
    seed: int = 0,
    n_jobs: int | None = None,
) -> BinaryModel:
    """Fit one family on features ``X`` (DataFrame) and labels ``y`` in {0, 1}.

    ``n_jobs`` threads for LightGBM (default: :func:`lgb_threads`)."""
    import pandas as pd

    if family not in FAMILIES:
        raise DataValidationError(
            f"unknown model family {family!r}; expected one of {', '.join(FAMILIES)}"
        )
    if not isinstance(X, pd.DataFrame):
        raise DataValidationError("fit_binary: X must be a DataFrame of features")
    yv = np.asarray(y, np.float64)
    if len(X) != yv.size:
        raise DataValidationError(f"fit_binary: X has {len(X)} rows, y has {yv.size}")
    if yv.min(initial=0) < 0 or yv.max(initial=0) > 1 or len(np.unique(yv)) < 2:
        raise DataValidationError("fit_binary: y must contain both 0 and 1")
    features = [str(c) for c in X.columns]
    M = X.to_numpy(np.float64)
    medians = np.nanmedian(np.where(np.isfinite(M), M, np.nan), axis=0)
    medians = np.nan_to_num(medians, nan=0.0)
    M = np.where(np.isnan(M), medians[None, :], M)
    state: dict[str, Any]
    if family in ("lightgbm", "random_forest"):
        import lightgbm as lgb

        params: dict[str, Any] = {
            "objective": "binary",
            "verbose": -1,
            "num_threads": lgb_threads(len(X), n_jobs),
            "seed": seed,
        }
        if family == "lightgbm":
            params.update(
                learning_rate=0.06,
                num_leaves=31,
                min_data_in_leaf=50,
                feature_fraction=0.8,
                bagging_fraction=0.8,
                bagging_freq=1,
                lambda_l2=1.0,
                max_bin=127,
            )
            rounds = 200
        else:
            params.update(
                boosting="rf",
                num_leaves=63,
                min_data_in_leaf=20,
                feature_fraction=0.6,
                bagging_fraction=0.632,
                max_bin=127,
                bagging_freq=1,
            )
            rounds = 150
        booster = lgb.train(params, lgb.Dataset(M, yv, free_raw_data=True), rounds)
        state = {"booster": booster.model_to_string()}
    else:
        mean = M.mean(axis=0)
        scale = M.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        Z = (M - mean) / scale
        if family == "logistic":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1.0, max_iter=2000)
            lr.fit(Z, yv)
            state = {
                "mean": mean.tolist(),
                "scale": scale.tolist(),
                "coef": lr.coef_[0].tolist(),
                "intercept": float(lr.intercept_[0]),
            }
        else:
            import warnings

            from sklearn.exceptions import ConvergenceWarning
            from sklearn.neural_network import MLPClassifier

            mlp = MLPClassifier(
                hidden_layer_sizes=(32, 16),
                alpha=1e-2,
                learning_rate_init=1e-3,
                max_iter=150,
                random_state=seed,
            )
            with warnings.catch_warnings():
                # A capped iteration budget is deliberate (bounded refresh time).
                warnings.simplefilter("ignore", ConvergenceWarning)
                mlp.fit(np.clip(Z, -10, 10), yv)
            state = {
                "mean": mean.tolist(),
                "scale": scale.tolist(),
                "coefs": [w.tolist() for w in mlp.coefs_],
                "intercepts": [b.tolist() for b in mlp.intercepts_],
            }
    return BinaryModel(family, features, medians, state)

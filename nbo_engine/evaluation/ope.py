"""Off-policy evaluation: the value of a target policy from logged bandit data.

The log holds, per decision ``i``: the context ``x_i``, the offer (arm) ``a_i``
the logging policy chose with probability ``mu_i = mu(a_i | x_i)`` (the logged
propensity) and the observed reward ``r_i``. The target policy is given as its
action probabilities ``pi(a | x_i)`` for every arm, shape ``(n, n_arms)``. All
estimators below are means of per-row terms, so one function computes the
terms, one the point estimate and one the interval:

* ``ips``   inverse propensity scoring (Horvitz-Thompson), ``w_i r_i`` with
  ``w_i = pi(a_i | x_i) / mu_i``; unbiased, high variance.
* ``snips`` self-normalised IPS, ``sum(w r) / sum(w)`` (Swaminathan & Joachims
  2015); slightly biased, bounded by the reward range, interval by the delta
  method.
* ``dr``    doubly robust (Dudik, Langford & Li 2011):
  ``sum_a pi(a|x_i) q(x_i, a) + w_i (r_i - q(x_i, a_i))`` with a reward model
  ``q``; unbiased whatever ``q`` (the propensities are known) and of lower
  variance the better ``q`` predicts.
* ``switch-dr`` DR that drops the correction term for rows whose weight exceeds
  ``tau`` and trusts the model there (Wang, Agarwal & Dudik 2017).
* ``dr-os`` DR with optimistic shrinkage of the weights,
  ``w' = lambda w / (w^2 + lambda)`` (Su, Dimakopoulou, Krishnamurthy & Dudik
  2020).

``switch-dr`` and ``dr-os`` trade a small bias for variance; when their
hyper-parameter is not given it is chosen on a grid by the estimated mean
squared error (sample variance plus a debiased squared bias measured against
DR). Their intervals are widened by a bias allowance: the estimated bias
against DR plus ``z`` standard errors of it, because their per-row variance
ignores the reward model's own error, which they lean on (without the allowance
their 95% intervals covered the truth 25-60% of the time on the simulated
bank). So their point estimates can beat DR's, their intervals cannot be
narrower than DR's; ``benchmarks/ope_accuracy.py`` measures both.

The reward model (``reward_model``) is one of:

* ``None``: a per-arm ridge regression on ``contexts`` (standardised, with an
  intercept, ``ridge`` penalty), **cross-fitted** over ``n_folds`` interleaved
  folds (row ``i`` is predicted by models fitted without the fold of row ``i``),
  so the prediction for a row never saw its own reward and DR stays unbiased.
  An arm with fewer logged rows in a training fold than features + 2 is
  predicted by its mean reward there (the overall mean if it has none). See
  :func:`cross_fit_ridge_rewards`.
* an array of shape ``(n, n_arms)``: predicted mean reward of every arm for
  every logged row, fitted elsewhere (ideally on other data or cross-fitted).
* a callable ``f(contexts) -> (n, n_arms)`` array: an already fitted model,
  called once on ``contexts``.

Rewards are in the caller's units (a conversion indicator, or currency).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError

__all__ = [
    "METHODS",
    "Estimate",
    "Method",
    "RewardModel",
    "cross_fit_ridge_rewards",
    "estimate_policy_value",
    "estimator_terms",
    "importance_weights",
]

Method = Literal["ips", "snips", "dr", "switch-dr", "dr-os"]
METHODS: tuple[str, ...] = get_args(Method)
RewardModel = (
    NDArray[np.float64] | Callable[[NDArray[np.float64]], ArrayLike] | ArrayLike
)

#: Tolerance on the sum of each row of ``target_probs``.
PROB_SUM_ATOL = 1e-6
#: Largest number of resample x row cells built at once by the bootstrap.
_BOOTSTRAP_CELLS = 4_000_000
#: Candidate hyper-parameters, as quantiles of the importance weights (switch)
#: or multiples of their mean square (shrinkage); the untouched DR is included.
_GRID = np.array([0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99])
_SHRINK_GRID = np.array([0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0])
#: Ridge penalties tried by leave-one-out, per training row.
_RIDGE_GRID = np.logspace(-3, 3, 13)


@dataclass(frozen=True)
class Estimate:
    """An estimated policy value and its confidence interval.

    Attributes
    ----------
    value, ci_low, ci_high : float
        Estimated mean reward per decision under the target policy and the
        two-sided interval, in the rewards' units.
    std_err : float
        Standard error of ``value`` (CLT on the per-row terms; for ``snips`` by
        the delta method). With ``interval="bootstrap"``, the standard
        deviation of the bootstrap estimates.
    n : int
        Logged rows used.
    effective_sample_size : float
        ``(sum w)^2 / sum w^2`` of the importance weights: how many rows the
        reweighted log is worth. Far below ``n`` means the target policy is
        far from the logging policy and the estimate leans on few rows.
    method : str
        The estimator (one of :data:`METHODS`).
    confidence : float
        Level of the interval, e.g. 0.95.
    interval : str
        ``"normal"`` or ``"bootstrap"``.
    hyperparameter : float or None
        ``tau`` of ``switch-dr`` or ``lambda`` of ``dr-os`` (given or tuned).
    """

    value: float
    ci_low: float
    ci_high: float
    std_err: float = float("nan")
    n: int = 0
    effective_sample_size: float = float("nan")
    method: str = "dr"
    confidence: float = 0.95
    interval: str = "normal"
    hyperparameter: float | None = None


# ---------------------------------------------------------------- formulas
def importance_weights(
    actions: NDArray[np.int64],
    propensities: NDArray[np.float64],
    target_probs: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``w_i = pi(a_i | x_i) / mu(a_i | x_i)``, shape (n,).

    The one home of the IPS weight. Inputs are trusted (validated by
    :func:`estimate_policy_value`).
    """
    rows = np.arange(actions.shape[0])
    return target_probs[rows, actions] / propensities


def estimator_terms(
    method: Method,
    rewards: NDArray[np.float64],
    actions: NDArray[np.int64],
    weights: NDArray[np.float64],
    target_probs: NDArray[np.float64],
    q_hat: NDArray[np.float64] | None,
    hyperparameter: float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Per-row numerator terms and, for ``snips``, denominator terms.

    The estimate is ``sum(num) / sum(den)`` (``den`` is None: ``mean(num)``).

    Parameters
    ----------
    method : {"ips", "snips", "dr", "switch-dr", "dr-os"}
    rewards, weights : ndarray of shape (n,)
    actions : ndarray of int, shape (n,)
    target_probs : ndarray of shape (n, n_arms)
    q_hat : ndarray of shape (n, n_arms) or None
        Predicted rewards; required by the DR family.
    hyperparameter : float, optional
        ``tau`` (switch-dr: rows with ``w > tau`` keep only the model term) or
        ``lambda`` (dr-os: ``w' = lambda w / (w^2 + lambda)``); None is plain DR.
    """
    if method == "ips":
        return weights * rewards, None
    if method == "snips":
        return weights * rewards, weights
    assert q_hat is not None
    rows = np.arange(rewards.shape[0])
    direct = np.einsum("ij,ij->i", target_probs, q_hat)
    residual = rewards - q_hat[rows, actions]
    if hyperparameter is None or method == "dr":
        w = weights
    elif method == "switch-dr":
        w = np.where(weights <= hyperparameter, weights, 0.0)
    else:  # dr-os
        w = hyperparameter * weights / (weights**2 + hyperparameter)
    return direct + w * residual, None


def _ridge_loo(
    z: NDArray[np.float64], y: NDArray[np.float64], ridge: float | None
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Ridge fit of ``y`` on ``z``: intercept, centre of ``z`` and coefficients.

    With ``ridge=None`` the penalty minimises the exact leave-one-out error
    over :data:`_RIDGE_GRID` (times the row count), computed for every penalty
    at once from one SVD (the hat-matrix identity
    ``e_loo = e / (1 - h)``, as in scikit-learn's ``RidgeCV``).
    """
    zc = z.mean(axis=0)
    yc = float(y.mean())
    zz = z - zc
    yy = y - yc
    u, s, vt = np.linalg.svd(zz, full_matrices=False)
    uty = u.T @ yy
    s2 = s**2
    if ridge is None:
        lams = _RIDGE_GRID * z.shape[0]
        shrink = s2[None, :] / (s2[None, :] + lams[:, None])  # (n_lams, d)
        fitted = (shrink * uty) @ u.T  # (n_lams, n_rows)
        hat = shrink @ (u**2).T + 1.0 / y.size
        loo = ((yy[None, :] - fitted) / np.maximum(1.0 - hat, 1e-12)) ** 2
        lam = float(lams[int(np.argmin(loo.mean(axis=1)))])
    else:
        lam = ridge
    beta = vt.T @ (s / (s2 + lam) * uty)
    return yc, zc, beta


def cross_fit_ridge_rewards(
    contexts: NDArray[np.float64],
    actions: NDArray[np.int64],
    rewards: NDArray[np.float64],
    n_arms: int,
    *,
    n_folds: int = 5,
    ridge: float | None = None,
) -> NDArray[np.float64]:
    """Cross-fitted per-arm ridge predictions of the reward, shape (n, n_arms).

    Row ``i`` falls in fold ``i % n_folds``; its predictions come from models
    fitted on the other folds, one ridge regression per arm on the rows that
    logged that arm (features standardised on the training rows, unpenalised
    intercept). Arms with fewer than ``n_features + 2`` training rows are
    predicted by their training mean reward (the overall training mean if
    none).

    Parameters
    ----------
    contexts : ndarray of shape (n, n_features)
    actions : ndarray of int, shape (n,)
    rewards : ndarray of shape (n,)
    n_arms : int
    n_folds : int, default 5
        At least 2; capped at ``n``.
    ridge : float or None, default None
        L2 penalty on the standardised coefficients; None chooses it per arm
        and fold by exact leave-one-out error over ``n_rows x`` a log grid
        from 1e-3 to 1e3.

    Returns
    -------
    ndarray of shape (n, n_arms)
    """
    n, d = contexts.shape
    folds = np.arange(n) % max(2, min(n_folds, n))
    out = np.empty((n, n_arms))
    for f in np.unique(folds):
        test = folds == f
        train = ~test
        x_tr, y_tr, a_tr = contexts[train], rewards[train], actions[train]
        mean_x = x_tr.mean(axis=0)
        sd_x = x_tr.std(axis=0)
        sd_x[sd_x == 0] = 1.0
        z_tr = (x_tr - mean_x) / sd_x
        z_te = (contexts[test] - mean_x) / sd_x
        overall = float(y_tr.mean()) if y_tr.size else 0.0
        for k in range(n_arms):
            m = a_tr == k
            cnt = int(m.sum())
            if cnt < d + 2:
                out[test, k] = float(y_tr[m].mean()) if cnt else overall
                continue
            yc, zc, beta = _ridge_loo(z_tr[m], y_tr[m], ridge)
            out[test, k] = yc + (z_te - zc) @ beta
    return out


# ---------------------------------------------------------------- validation
def _as_1d(name: str, values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise DataValidationError(
            f"{name}: expected a 1-D array, got shape {arr.shape}"
        )
    if arr.dtype.kind not in "biuf":
        raise DataValidationError(f"{name}: expected numbers, got dtype {arr.dtype}")
    out = arr.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataValidationError(
            f"{name}: {int(bad.sum())} non-finite value(s), first at row {i} "
            f"({out[i]}); expected finite numbers"
        )
    return out


def _validate(
    rewards: ArrayLike,
    actions: ArrayLike,
    propensities: ArrayLike,
    target_probs: ArrayLike,
) -> tuple[
    NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]
]:
    r = _as_1d("rewards", rewards)
    a_f = _as_1d("actions", actions)
    p = _as_1d("propensities", propensities)
    t = np.asarray(target_probs)
    if t.ndim != 2:
        raise DataValidationError(
            f"target_probs: expected shape (n, n_arms), got shape {t.shape}"
        )
    if t.dtype.kind not in "biuf":
        raise DataValidationError(
            f"target_probs: expected numbers, got dtype {t.dtype}"
        )
    t = t.astype(np.float64)
    n, n_arms = t.shape
    for name, arr in (("rewards", r), ("actions", a_f), ("propensities", p)):
        if arr.shape[0] != n:
            raise DataValidationError(
                f"{name}: length {arr.shape[0]} does not match target_probs with "
                f"{n} rows"
            )
    if n < 2:
        raise DataValidationError(f"expected at least 2 logged rows, got {n}")
    if n_arms < 1:
        raise DataValidationError("target_probs: expected at least one arm column")
    frac = a_f != np.round(a_f)
    out_of_range = (a_f < 0) | (a_f >= n_arms)
    bad = frac | out_of_range
    if bad.any():
        i = int(np.argmax(bad))
        raise DataValidationError(
            f"actions: row {i} is {a_f[i]:g}; expected an integer arm index in "
            f"[0, {n_arms - 1}] ({int(bad.sum())} bad row(s))"
        )
    bad = (p <= 0) | (p > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataValidationError(
            f"propensities: row {i} is {p[i]:g}; expected a probability in (0, 1] "
            f"({int(bad.sum())} bad row(s))"
        )
    finite = np.isfinite(t).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise DataValidationError(
            f"target_probs: row {i} has non-finite values ({int((~finite).sum())} "
            "bad row(s)); expected probabilities"
        )
    neg = (t < 0).any(axis=1)
    if neg.any():
        i = int(np.argmax(neg))
        raise DataValidationError(
            f"target_probs: row {i} has a negative probability "
            f"({float(t[i].min()):g}); expected values in [0, 1]"
        )
    sums = t.sum(axis=1)
    off = np.abs(sums - 1.0) > PROB_SUM_ATOL
    if off.any():
        i = int(np.argmax(off))
        raise DataValidationError(
            f"target_probs: row {i} sums to {sums[i]:.6g}; expected each row to sum "
            f"to 1 (+/- {PROB_SUM_ATOL:g}); {int(off.sum())} bad row(s)"
        )
    return r, a_f.astype(np.int64), p, t


def _reward_predictions(
    reward_model: RewardModel | None,
    contexts: ArrayLike | None,
    actions: NDArray[np.int64],
    rewards: NDArray[np.float64],
    n_arms: int,
    n_folds: int,
    ridge: float | None,
) -> NDArray[np.float64]:
    n = rewards.shape[0]
    x: NDArray[np.float64] | None = None
    if contexts is not None:
        xa = np.asarray(contexts)
        if xa.ndim == 1:
            xa = xa[:, None]
        if xa.ndim != 2 or xa.shape[0] != n or xa.dtype.kind not in "biuf":
            raise DataValidationError(
                f"contexts: expected a numeric array of shape ({n}, n_features), "
                f"got shape {xa.shape} and dtype {xa.dtype}"
            )
        x = xa.astype(np.float64)
        if not np.isfinite(x).all():
            i = int(np.argmin(np.isfinite(x).all(axis=1)))
            raise DataValidationError(
                f"contexts: row {i} has non-finite values; expected finite numbers"
            )
    if reward_model is None:
        if x is None:
            raise DataValidationError(
                "the DR family needs a reward model: pass reward_model (an array "
                "(n, n_arms) or a callable) or contexts (n, n_features) to fit the "
                "default cross-fitted ridge model; got neither"
            )
        return cross_fit_ridge_rewards(
            x, actions, rewards, n_arms, n_folds=n_folds, ridge=ridge
        )
    if callable(reward_model):
        if x is None:
            raise DataValidationError(
                "reward_model is a callable, so contexts (n, n_features) are "
                "needed to call it; got contexts=None"
            )
        q = np.asarray(reward_model(x))
        what = "reward_model(contexts)"
    else:
        q = np.asarray(reward_model)
        what = "reward_model"
    if q.shape != (n, n_arms) or q.dtype.kind not in "biuf":
        raise DataValidationError(
            f"{what}: expected predicted rewards of shape ({n}, {n_arms}), got "
            f"shape {q.shape} and dtype {q.dtype}"
        )
    q = q.astype(np.float64)
    if not np.isfinite(q).all():
        i = int(np.argmin(np.isfinite(q).all(axis=1)))
        raise DataValidationError(
            f"{what}: row {i} has non-finite predictions; expected finite numbers"
        )
    return q


# ---------------------------------------------------------------- statistics
def _point_and_se(
    num: NDArray[np.float64], den: NDArray[np.float64] | None
) -> tuple[float, float]:
    n = num.shape[0]
    if den is None:
        return float(num.mean()), float(num.std(ddof=1) / np.sqrt(n))
    total = float(den.sum())
    if total <= 0:
        # The target policy puts no mass on any logged action: nothing to say.
        return float("nan"), float("nan")
    value = float(num.sum()) / total
    # Delta method: influence of row i on the ratio of means.
    psi = (num - value * den) / (total / n)
    return value, float(psi.std(ddof=1) / np.sqrt(n))


def _bootstrap_t(
    num: NDArray[np.float64],
    den: NDArray[np.float64] | None,
    n_bootstrap: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Studentized statistics ``(V* - V) / se*`` and estimates ``V*`` over
    ``n_bootstrap`` row resamples, each drawn as multinomial row counts so that
    every statistic is a count-weighted sum (no per-resample copies)."""
    n = num.shape[0]
    d = np.ones(n) if den is None else den
    value = float(num.sum() / d.sum())
    chunk = max(1, _BOOTSTRAP_CELLS // n)
    pvals = np.full(n, 1.0 / n)
    stats = np.column_stack([num, d, num * num, num * d, d * d])
    t = np.empty(n_bootstrap)
    v = np.empty(n_bootstrap)
    for start in range(0, n_bootstrap, chunk):
        b = min(chunk, n_bootstrap - start)
        counts = rng.multinomial(n, pvals, size=b).astype(np.float64)
        s_num, s_den, s_nn, s_nd, s_dd = (counts @ stats).T
        with np.errstate(invalid="ignore", divide="ignore"):
            vb = s_num / s_den
            # sum of (num - V* den)^2 over the resample; its plain sum is 0
            ss = np.maximum(s_nn - 2 * vb * s_nd + vb * vb * s_dd, 0.0)
            se = np.sqrt(ss / (n - 1) / n) / (s_den / n)
            t[start : start + b] = (vb - value) / se
        v[start : start + b] = vb
    return t, v


def _tune(
    method: Method,
    rewards: NDArray[np.float64],
    actions: NDArray[np.int64],
    weights: NDArray[np.float64],
    target_probs: NDArray[np.float64],
    q_hat: NDArray[np.float64],
) -> float | None:
    """Hyper-parameter minimising the estimated MSE; None keeps plain DR.

    MSE(h) ~ var(terms_h) / n + bias(h)^2 where the bias against the unbiased
    DR is estimated by the mean difference of the terms ``d``, squared and
    debiased (``mean(d)^2 - var(d) / n``, floored at 0), after Su et al. (2020).
    """
    n = rewards.shape[0]
    dr, _ = estimator_terms("dr", rewards, actions, weights, target_probs, q_hat)
    best_h: float | None = None
    best_mse = float(dr.var(ddof=1)) / n
    if method == "switch-dr":
        grid = np.unique(np.quantile(weights, _GRID))
    else:
        grid = _SHRINK_GRID * float(np.mean(weights**2))
    for h in grid:
        if h <= 0:
            continue
        terms, _ = estimator_terms(
            method, rewards, actions, weights, target_probs, q_hat, float(h)
        )
        d = terms - dr
        bias2 = max(float(d.mean()) ** 2 - float(d.var(ddof=1)) / n, 0.0)
        mse = float(terms.var(ddof=1)) / n + bias2
        if mse < best_mse:
            best_h, best_mse = float(h), mse
    return best_h


# ---------------------------------------------------------------- entry point
def estimate_policy_value(
    rewards: ArrayLike,
    actions: ArrayLike,
    propensities: ArrayLike,
    target_probs: ArrayLike,
    method: Method = "dr",
    reward_model: RewardModel | None = None,
    contexts: ArrayLike | None = None,
    *,
    confidence: float = 0.95,
    interval: Literal["normal", "bootstrap"] = "normal",
    n_bootstrap: int = 2000,
    rng: np.random.Generator | None = None,
    hyperparameter: float | None = None,
    n_folds: int = 5,
    ridge: float | None = None,
) -> Estimate:
    """Estimate the mean reward per decision of a target policy from a log.

    Parameters
    ----------
    rewards : array of shape (n,)
        Observed reward of each logged decision (e.g. 1 = converted, or
        currency); finite.
    actions : array of int, shape (n,)
        Arm chosen by the logging policy, in ``[0, n_arms)``.
    propensities : array of shape (n,)
        Probability with which the logging policy chose that arm, in (0, 1].
    target_probs : array of shape (n, n_arms)
        Target policy's probability of each arm in each logged context; rows
        are non-negative and sum to 1 (+/- 1e-6). A deterministic policy is a
        one-hot row.
    method : {"dr", "ips", "snips", "switch-dr", "dr-os"}, default "dr"
    reward_model : None, array of shape (n, n_arms) or callable, optional
        Predicted mean reward of every arm for every row (DR family only):
        None fits the cross-fitted per-arm ridge on ``contexts``; a callable
        is called as ``reward_model(contexts)`` and must return (n, n_arms).
    contexts : array of shape (n, n_features), optional
        Needed by the DR family unless ``reward_model`` is an array.
    confidence : float, default 0.95
        Level of the two-sided interval, in (0, 1).
    interval : {"normal", "bootstrap"}, default "normal"
        Normal (CLT) interval on the per-row terms, or a studentized
        (bootstrap-t) interval over row resamples, which follows the skew that
        rare rewards times large weights give the estimate (the reward model
        and any tuned hyper-parameter are held fixed); the bootstrap needs
        ``rng``.
    n_bootstrap : int, default 2000
    rng : numpy.random.Generator, optional
    hyperparameter : float, optional
        ``tau`` > 0 for switch-dr, ``lambda`` > 0 for dr-os; None tunes it by
        the estimated MSE (see module docstring).
    n_folds, ridge : int, float
        Settings of the default reward model.

    Returns
    -------
    Estimate

    Raises
    ------
    DataValidationError
        On inconsistent shapes, non-finite values, propensities outside
        (0, 1], target rows not summing to 1, actions outside the arms, an
        unknown method or a DR method without a reward model or contexts.

    Examples
    --------
    A uniform logging policy over two arms; the target always plays arm 0,
    whose logged rewards are all 1:

    >>> import numpy as np
    >>> rewards = np.array([1.0, 0.0, 1.0, 0.0])
    >>> actions = np.array([0, 1, 0, 1])
    >>> target = np.tile([1.0, 0.0], (4, 1))
    >>> est = estimate_policy_value(rewards, actions, np.full(4, 0.5), target,
    ...                             method="ips")
    >>> est.value, est.effective_sample_size
    (1.0, 2.0)
    >>> est = estimate_policy_value(rewards, actions, np.full(4, 0.5), target,
    ...                             method="dr", reward_model=np.full((4, 2), 0.5))
    >>> est.value
    1.0
    """
    if method not in METHODS:
        raise DataValidationError(
            f"method: expected one of {', '.join(METHODS)}, got {method!r}"
        )
    if interval not in ("normal", "bootstrap"):
        raise DataValidationError(
            f"interval: expected 'normal' or 'bootstrap', got {interval!r}"
        )
    if not 0.0 < confidence < 1.0:
        raise DataValidationError(
            f"confidence: expected a level in (0, 1), got {confidence!r}"
        )
    if hyperparameter is not None and not (
        np.isfinite(hyperparameter) and hyperparameter > 0
    ):
        raise DataValidationError(
            f"hyperparameter: expected a finite number > 0, got {hyperparameter!r}"
        )
    if interval == "bootstrap" and (rng is None or n_bootstrap < 10):
        raise DataValidationError(
            "interval='bootstrap' needs rng (a numpy Generator) and n_bootstrap "
            f">= 10; got rng={rng!r}, n_bootstrap={n_bootstrap}"
        )
    r, a, p, t = _validate(rewards, actions, propensities, target_probs)
    n, n_arms = t.shape
    w = importance_weights(a, p, t)
    q_hat: NDArray[np.float64] | None = None
    h: float | None = None
    if method in ("dr", "switch-dr", "dr-os"):
        q_hat = _reward_predictions(
            reward_model, contexts, a, r, n_arms, n_folds, ridge
        )
        if method != "dr":
            h = (
                hyperparameter
                if hyperparameter is not None
                else _tune(method, r, a, w, t, q_hat)
            )
    num, den = estimator_terms(method, r, a, w, t, q_hat, h)
    value, se = _point_and_se(num, den)
    # Bias allowance of a switched/shrunk DR: its estimated bias against the
    # unbiased DR plus z standard errors of that estimate (bias-aware interval).
    bias_bound = 0.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    if h is not None and q_hat is not None:
        dr, _ = estimator_terms("dr", r, a, w, t, q_hat)
        d = dr - num
        bias_bound = abs(float(d.mean())) + z * float(d.std(ddof=1)) / np.sqrt(n)
    sum_w2 = float(np.sum(w**2))
    ess = float(np.sum(w)) ** 2 / sum_w2 if sum_w2 > 0 else 0.0
    if interval == "normal":
        lo, hi = value - z * se, value + z * se
    else:
        assert rng is not None
        t_stats, boot = _bootstrap_t(num, den, n_bootstrap, rng)
        t_stats = t_stats[np.isfinite(t_stats)]
        tail = (1.0 - confidence) / 2.0
        if t_stats.size and np.isfinite(se):
            # bootstrap-t: V - t*_(1-a/2) se, V - t*_(a/2) se (Hall 1988)
            lo = value - float(np.quantile(t_stats, 1.0 - tail)) * se
            hi = value - float(np.quantile(t_stats, tail)) * se
        else:
            lo = hi = float("nan")
        boot = boot[np.isfinite(boot)]
        se = float(boot.std(ddof=1)) if boot.size > 1 else float("nan")
    return Estimate(
        value=value,
        ci_low=float(lo) - bias_bound,
        ci_high=float(hi) + bias_bound,
        std_err=se,
        n=n,
        effective_sample_size=ess,
        method=method,
        confidence=confidence,
        interval=interval,
        hyperparameter=h,
    )

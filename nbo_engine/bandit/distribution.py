"""Action distributions and sampling: where propensities come from.

Every policy turns its scores into an explicit distribution ``P`` of shape
``(n, n_arms)`` over the arms for each row, and the arm is then *drawn from
``P``*. The logged propensity is ``P[row, arm]``: exactly the probability with
which the arm was chosen, so it can be used for inverse propensity weighting.

* deterministic argmax (LinUCB, the greedy part of epsilon-greedy): ties share,
  ``1 / |ties|``; two scores tie when they differ by at most
  ``TIE_RTOL * |max|`` (floating-point noise between arms with identical
  statistics, e.g. before any data).
* epsilon-greedy: ``(1 - eps) / |ties|`` on the greedy arms plus
  ``eps / |eligible|`` on every eligible arm.
* Thompson sampling: the probability that each arm's posterior draw is the
  largest has no closed form, so it is estimated from ``n_draws`` posterior
  draws per row (antithetic pairs), mixed with a floor,
  ``P = floor + (1 - |eligible| floor) p_hat`` on eligible arms, and the arm is
  drawn from ``P``. ``P`` is therefore the exact choice probability given the
  draws (unbiased for IPS: ``E[r 1{a} / P_a] = r_a`` whatever the draws), every
  eligible arm has probability at least ``floor``, and ``P`` is a Monte Carlo
  estimate of the Thompson-sampling probability with standard error at most
  ``0.5 / sqrt(n_draws)`` per arm.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "TIE_RTOL",
    "epsilon_distribution",
    "sample_arm",
    "sample_arms",
    "thompson_distribution",
    "tie_distribution",
]

#: Relative tolerance under which two scores count as a tie.
TIE_RTOL = 1e-9

#: Upper bound on the number of (row, draw, arm) cells held at once.
_MC_CELLS = 1 << 20


def _ties(scores: NDArray[np.float64]) -> NDArray[np.bool_]:
    mx = scores.max(axis=1, keepdims=True)
    return scores >= mx - TIE_RTOL * np.abs(mx)


def tie_distribution(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Uniform over each row's best arms; ineligible arms carry ``-inf``.

    Examples
    --------
    >>> import numpy as np
    >>> tie_distribution(np.array([[1.0, 3.0, 3.0, -np.inf]]))
    array([[0. , 0.5, 0.5, 0. ]])
    """
    t = _ties(scores).astype(np.float64)
    t /= t.sum(axis=1, keepdims=True)
    return t


def epsilon_distribution(
    scores: NDArray[np.float64], eligible: NDArray[np.bool_] | None, epsilon: float
) -> NDArray[np.float64]:
    """``(1 - eps) / |ties|`` on the greedy arms plus ``eps / |eligible|``.

    Parameters
    ----------
    scores : (n, K) with ``-inf`` on ineligible arms.
    eligible : (n, K) or (K,) mask, or ``None`` (every arm).
    """
    out = tie_distribution(scores)
    out *= 1.0 - epsilon
    if eligible is None:
        out += epsilon / scores.shape[1]
    else:
        e = np.broadcast_to(eligible, scores.shape)
        out += (epsilon / e.sum(axis=1, keepdims=True)) * e
    return out


def thompson_distribution(
    mean: NDArray[np.float64],
    sd: NDArray[np.float64],
    eligible: NDArray[np.bool_] | None,
    values: NDArray[np.float64] | None,
    *,
    link: Literal["identity", "logistic"],
    n_draws: int,
    floor: float,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Monte Carlo probability that each arm has the best posterior draw.

    Arm ``k``'s draw for a row is ``v_k g(mean_k + sd_k z)`` with ``z`` standard
    normal (independent per row, draw and arm, in antithetic pairs ``+-z``),
    ``g`` the identity or the logistic function and ``v_k`` the value per
    conversion. The frequencies of the argmax over ``n_draws`` draws are mixed
    with ``floor`` on the eligible arms.

    Parameters
    ----------
    mean, sd : (n, K) posterior mean and standard deviation of each arm's
        linear predictor for each row.
    eligible : (K,), (n, K) or ``None`` (all arms).
    values : (K,), (n, K) or ``None`` (all 1).

    Returns
    -------
    (n, K) probabilities; each row sums to 1, eligible arms get ``>= floor``,
    ineligible ones 0.
    """
    n, k = mean.shape
    half = (n_draws + 1) // 2
    el = None if eligible is None else np.broadcast_to(eligible, (n, k))
    vals = None if values is None else np.broadcast_to(values, (n, k))
    # float32 halves memory traffic; the draws only feed an argmax.
    pen = None if el is None else np.where(el, 0.0, -np.inf).astype(np.float32)
    v32 = None if vals is None else vals.astype(np.float32)
    counts = np.empty((n, k))
    step = max(1, _MC_CELLS // (n_draws * k))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        mu = mean[lo:hi, None, :].astype(np.float32)
        dz = sd[lo:hi, None, :].astype(np.float32) * rng.standard_normal(
            (hi - lo, half, k), dtype=np.float32
        )
        best = []
        for draws in (mu + dz, mu - dz):  # antithetic pair
            if v32 is not None:
                if link == "logistic":
                    # v * sigmoid(u); without values the argmax of u is enough.
                    draws = 0.5 * (1.0 + np.tanh(0.5 * draws))
                draws *= v32[lo:hi, None, :]
            if pen is not None:
                draws += pen[lo:hi, None, :]
            best.append(draws.argmax(axis=2))
        idx = np.concatenate(best, axis=1)[:, :n_draws]
        rows = np.arange(hi - lo)[:, None] * k
        counts[lo:hi] = np.bincount(
            (idx + rows).ravel(), minlength=(hi - lo) * k
        ).reshape(hi - lo, k)
    e = np.ones((n, k)) if el is None else el.astype(np.float64)
    n_el = e.sum(axis=1, keepdims=True)
    return floor * e + (1.0 - floor * n_el) * (counts / n_draws)


def sample_arms(
    probabilities: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """Draw one arm per row from ``probabilities`` (n, K) by inverse CDF.

    Arms of probability 0 are never drawn: their CDF step is empty.
    """
    cdf: NDArray[np.float64] = np.cumsum(probabilities, axis=1)
    u: NDArray[np.float64] = rng.random((cdf.shape[0], 1)) * cdf[:, -1:]
    arms = (cdf <= u).sum(axis=1)
    k = probabilities.shape[1]
    over = arms >= k  # u rounded up to the total: take the last possible arm
    if over.any():
        last = k - 1 - np.argmax(probabilities[over, ::-1] > 0, axis=1)
        arms[over] = last
    return arms.astype(np.int64)


def sample_arm(probabilities: NDArray[np.float64], rng: np.random.Generator) -> int:
    """One draw from ``probabilities`` (K,): :func:`sample_arms` for one row
    (same random number, same arm), without the array overhead."""
    cdf = np.cumsum(probabilities)
    arm = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    if arm >= cdf.size:
        arm = int(cdf.size - 1 - np.argmax(probabilities[::-1] > 0))
    return arm

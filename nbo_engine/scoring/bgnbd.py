"""BG/NBD and MBG/NBD: likelihood with analytic gradient, p(alive), expectations.

BG/NBD (Fader, Hardie and Lee 2005, "Counting your customers the easy way"):
while alive a customer buys as a Poisson process with rate ``lambda ~
Gamma(r, alpha)`` and drops out after each repeat purchase with probability
``p ~ Beta(a, b)``. MBG/NBD (Batislam, Denizel and Filiztekin 2007) also lets
the customer drop out right after the first purchase. For ``x`` repeat
purchases, the last at ``t_x``, observed for ``T``::

    ll = log G(r+x) - log G(r) + r log(alpha)
         + log B(a, b+x+s) - log B(a, b)
         + log( (alpha+T)^-(r+x)
                + [x > 0 or s] a / (b+x+s-1) (alpha+t_x)^-(r+x) )

with ``s = 0`` (BG/NBD) or ``1`` (MBG/NBD). The second term of the sum is the
probability of having died after the last purchase, so its share ``pi`` is
``1 - P(alive)`` and enters every derivative. Gradients are with respect to
the log-parameters, the scale the optimiser works on.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray
from scipy.special import digamma, gammaln

from nbo_engine.scoring.compress import PurchaseRows
from nbo_engine.scoring.hypergeometric import euler_bracket

__all__ = [
    "BGNBD_PARAMS",
    "bgnbd_expected_purchases",
    "bgnbd_loglik",
    "bgnbd_loglik_sum",
    "bgnbd_p_alive",
    "bgnbd_starts",
    "mbgnbd_loglik",
    "mbgnbd_loglik_sum",
]

FloatArray = NDArray[np.float64]
BGNBD_PARAMS = ("r", "alpha", "a", "b")


def at_values(
    fun: Callable[[FloatArray], FloatArray],
    base: FloatArray,
    values: FloatArray,
    index: NDArray[np.int64],
    full: FloatArray,
) -> FloatArray:
    """``fun(base + full)``, evaluated once per distinct value when ``base`` is a
    scalar (one population) and per row otherwise (covariates)."""
    if np.ndim(base) == 0:
        return fun(base + values)[index]
    return fun(base + full)


def _split(logp: FloatArray) -> tuple[FloatArray, ...]:
    p = np.exp(logp)
    return tuple(p[..., k] for k in range(p.shape[-1]))


def _log_terms(
    logp: FloatArray, rows: PurchaseRows, shift: float
) -> tuple[FloatArray, FloatArray, FloatArray, NDArray[np.bool_], FloatArray]:
    """``A3``, ``A4`` (-inf where the dead branch is impossible), ``log(a+T)``,
    the branch mask and ``log(alpha+t_x)``."""
    r, alpha, a, b = _split(logp)
    x = rows.x
    log_aT = at_values(np.log, alpha, rows.T_u, rows.T_i, rows.T)
    log_atx = at_values(np.log, alpha, rows.tx_u, rows.tx_i, rows.t_x)
    a3 = -(r + x) * log_aT
    has = (x > 0) | (shift > 0)
    denom = np.where(has, b + x + shift - 1.0, 1.0)
    a4 = np.where(has, np.log(a) - np.log(denom) - (r + x) * log_atx, -np.inf)
    return a3, a4, log_aT, has, log_atx


def _loglik(
    logp: FloatArray, rows: PurchaseRows, shift: float
) -> tuple[FloatArray, FloatArray]:
    r, alpha, a, b = _split(logp)
    x = rows.x
    xs = (rows.x_u, rows.x_i, x)
    a3, a4, log_aT, has, log_atx = _log_terms(logp, rows, shift)
    m = np.logaddexp(a3, a4)
    ll = (
        at_values(gammaln, r, *xs)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + at_values(gammaln, b + shift, *xs)
        - gammaln(b)
        - at_values(gammaln, a + b + shift, *xs)
        + m
    )
    pi = np.exp(a4 - m)  # probability of the dropped-out branch
    inv_aT = np.exp(-log_aT)
    inv_atx = np.exp(-log_atx)
    denom = np.where(has, b + x + shift - 1.0, 1.0)
    d_abx = at_values(digamma, a + b + shift, *xs)
    d_ab = digamma(a + b)
    g = np.empty((x.size, 4))
    g[:, 0] = r * (
        at_values(digamma, r, *xs)
        - digamma(r)
        + np.log(alpha)
        - (1 - pi) * log_aT
        - pi * log_atx
    )
    g[:, 1] = r - alpha * (r + x) * ((1 - pi) * inv_aT + pi * inv_atx)
    g[:, 2] = a * (d_ab - d_abx) + pi
    g[:, 3] = b * (
        d_ab + at_values(digamma, b + shift, *xs) - digamma(b) - d_abx - pi / denom
    )
    return ll, g


def _loglik_sum(
    logp: FloatArray, rows: PurchaseRows, w: FloatArray, shift: float
) -> tuple[float, FloatArray]:
    """``sum_i w_i ll_i`` and its gradient: terms that depend on ``x`` alone
    are summed once per distinct ``x`` (weights ``W_x``), the rest is a few
    passes over the rows."""
    r, alpha, a, b = np.exp(logp)
    xu = rows.x_u
    wx = np.bincount(rows.x_i, weights=w, minlength=xu.size)
    total_w = float(wx.sum())
    x = rows.x
    log_aT_u = np.log(alpha + rows.T_u)
    log_atx_u = np.log(alpha + rows.tx_u)
    log_aT = log_aT_u[rows.T_i]
    log_atx = log_atx_u[rows.tx_i]
    has_u = (xu > 0) | (shift > 0)
    denom_u = np.where(has_u, b + xu + shift - 1.0, 1.0)
    rx = r + x
    a3 = -rx * log_aT
    a4_x = np.where(has_u, np.log(a) - np.log(denom_u), -np.inf)[rows.x_i]
    a4 = a4_x - rx * log_atx
    # log(e^a3 + e^a4) = a3 + softplus(a4 - a3); its share pi = sigmoid(a4 - a3):
    # one exp and one log1p per row (x = 0 rows of BG/NBD have a4 = -inf).
    d = a4 - a3
    e = np.exp(-np.abs(d))
    m = a3 + np.maximum(d, 0.0) + np.log1p(e)
    pi = np.where(d > 0, 1.0, e) / (1.0 + e)
    wpi = w * pi
    w1 = w - wpi
    d_ab = digamma(a + b)
    d_abx = digamma(a + b + xu + shift)
    ll = (
        wx
        @ (
            gammaln(r + xu)
            - gammaln(r)
            + gammaln(a + b)
            + gammaln(b + xu + shift)
            - gammaln(b)
            - gammaln(a + b + xu + shift)
        )
        + total_w * r * np.log(alpha)
        + float(w @ m)
    )
    inv_aT = (1.0 / (alpha + rows.T_u))[rows.T_i]
    inv_atx = (1.0 / (alpha + rows.tx_u))[rows.tx_i]
    pi_x = np.bincount(rows.x_i, weights=wpi, minlength=xu.size)
    g = np.empty(4)
    g[0] = r * (
        wx @ (digamma(r + xu) - digamma(r))
        + total_w * np.log(alpha)
        - w1 @ log_aT
        - wpi @ log_atx
    )
    g[1] = total_w * r - alpha * ((w1 * rx) @ inv_aT + (wpi * rx) @ inv_atx)
    g[2] = a * (wx @ (d_ab - d_abx)) + float(wpi.sum())
    g[3] = b * (
        wx @ (d_ab + digamma(b + xu + shift) - digamma(b) - d_abx)
        - pi_x @ (1.0 / denom_u)
    )
    return float(ll), g


def bgnbd_loglik_sum(
    logp: FloatArray, rows: PurchaseRows, weight: FloatArray
) -> tuple[float, FloatArray]:
    """BG/NBD total weighted log-likelihood and gradient (see ``bgnbd_loglik``)."""
    return _loglik_sum(logp, rows, weight, 0.0)


def mbgnbd_loglik_sum(
    logp: FloatArray, rows: PurchaseRows, weight: FloatArray
) -> tuple[float, FloatArray]:
    """MBG/NBD total weighted log-likelihood and gradient."""
    return _loglik_sum(logp, rows, weight, 1.0)


def bgnbd_loglik(logp: FloatArray, rows: PurchaseRows) -> tuple[FloatArray, FloatArray]:
    """BG/NBD log-likelihood of each row and its gradient.

    Parameters
    ----------
    logp : ndarray (4,) or (n, 4)
        ``log(r), log(alpha), log(a), log(b)``, for all rows or per row.
    rows : PurchaseRows
        ``n`` purchase patterns; times in the unit ``alpha`` is a rate of.

    Returns
    -------
    ll : ndarray (n,)
        Log-likelihood of one customer with each pattern.
    grad : ndarray (n, 4)
        Its derivatives with respect to ``logp``.

    Examples
    --------
    >>> import numpy as np
    >>> rows = PurchaseRows.build(np.array([0.0, 2]), np.array([0.0, 30]), np.array([40.0, 40]))
    >>> ll, g = bgnbd_loglik(np.log([0.24, 4.41, 0.79, 2.43]), rows)
    >>> ll.round(4).tolist()
    [-0.5543, -9.4999]
    """
    return _loglik(logp, rows, 0.0)


def mbgnbd_loglik(
    logp: FloatArray, rows: PurchaseRows
) -> tuple[FloatArray, FloatArray]:
    """MBG/NBD log-likelihood and gradient (see ``bgnbd_loglik``)."""
    return _loglik(logp, rows, 1.0)


def bgnbd_p_alive(
    logp: FloatArray, rows: PurchaseRows, modified: bool = False
) -> FloatArray:
    """Probability that each pattern's customer is still alive at ``T``, (n,).

    ``1 / (1 + [x>0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))``, computed as
    ``exp(A3 - logaddexp(A3, A4))`` so it stays in (0, 1] for any ``x``.
    """
    a3, a4, _, _, _ = _log_terms(logp, rows, 1.0 if modified else 0.0)
    return np.exp(a3 - np.logaddexp(a3, a4))


def bgnbd_expected_purchases(
    logp: FloatArray, rows: PurchaseRows, t: float, modified: bool = False
) -> FloatArray:
    """Expected repeat purchases in ``(T, T + t]`` given each pattern, (n,).

    ``E = P(alive) (a+b+x+s-1) [1 - (1-z)^(r+x) 2F1(r+x, b+x+s; a+b+x+s-1; z)]
    / (a - 1)`` with ``z = t / (alpha + T + t)`` (Fader, Hardie and Lee 2005,
    eq. 10; MBG/NBD with ``s = 1``), the bracket evaluated by
    ``euler_bracket``.
    """
    shift = 1.0 if modified else 0.0
    r, alpha, a, b = _split(logp)
    x = rows.x
    c = a + b + x + shift - 1.0
    z = t / (alpha + rows.T + t)
    bracket = euler_bracket(a + b + shift - 1.0 - r, a, c, z)
    return bgnbd_p_alive(logp, rows, modified) * c * bracket


def bgnbd_starts(rows: PurchaseRows) -> list[FloatArray]:
    """Starting log-parameters: purchase rate matched to the data, two dropouts."""
    rate = max(
        float(rows.weight @ rows.x) / max(float(rows.weight @ rows.T), 1e-12), 1e-6
    )
    return [
        np.log([1.0, 1.0 / rate, 1.0, 3.0]),
        np.log([0.5, 0.5 / rate, 0.5, 10.0]),
    ]

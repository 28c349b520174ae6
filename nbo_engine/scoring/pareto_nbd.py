"""Pareto/NBD: likelihood with analytic gradient, p(alive), expectations.

Schmittlein, Morrison and Colombo (1987): purchases at rate ``lambda ~
Gamma(r, alpha)`` while alive, lifetime exponential with rate ``mu ~ Gamma(s,
beta)``. Integrating the individual likelihood ``lambda^x e^-(lambda+mu)T +
lambda^x mu int_{t_x}^T e^-(lambda+mu)tau dtau`` over both gammas gives::

    L = G(r+x) alpha^r beta^s / G(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s J ]
    J = int_{t_x}^T (alpha+tau)^-(r+x) (beta+tau)^-(s+1) dtau

Fader and Hardie (2005, note 009, eqs. 18-20) write ``s J`` as the difference
of two Gauss hypergeometric functions ``2F1(r+s+x, .; r+s+x+1; .)`` at ``t_x``
and ``T``; that difference cancels catastrophically and the 2F1 overflows for
heavy buyers, which is where ``lifetimes`` fails. We evaluate the integral
itself: its integrand is positive, log-convex and decreasing, so a composite
Gauss-Legendre rule on panels that double in width away from ``t_x`` (the first
one e-folding length of the integrand there) integrates it to near machine
precision in log space, for any ``x``, with no cancellation. The derivatives
of ``log J`` are expectations under the normalised integrand, taken with the
same rule.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import NDArray
from scipy.special import digamma, gammaln

from nbo_engine.scoring.bgnbd import at_values
from nbo_engine.scoring.compress import PurchaseRows
from nbo_engine.scoring.hypergeometric import expm1_ratio

__all__ = [
    "PARETO_PARAMS",
    "pareto_log_integral",
    "pareto_nbd_expected_purchases",
    "pareto_nbd_loglik",
    "pareto_nbd_p_alive",
    "pareto_nbd_starts",
]

FloatArray = NDArray[np.float64]
PARETO_PARAMS = ("r", "alpha", "s", "beta")

_NODES, _WEIGHTS = leggauss(8)
_U = (_NODES + 1.0) / 2.0  # nodes on [0, 1]
_LOG_W = np.log(_WEIGHTS / 2.0)
_MAX_PANELS = 80
#: Panels per block of the quadrature sweep.
_BLOCK = 8192


def pareto_log_integral(
    k1: FloatArray,
    k2: FloatArray | float,
    alpha: FloatArray | float,
    beta: FloatArray | float,
    lo: FloatArray,
    hi: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """``log int_lo^hi (alpha+tau)^-k1 (beta+tau)^-k2 dtau`` and expectations.

    Parameters
    ----------
    k1, k2 : ndarray (n,) or float
        Positive exponents (``r + x`` and ``s + 1``).
    alpha, beta : ndarray (n,) or float
        Positive shifts.
    lo, hi : ndarray (n,)
        Limits, ``0 <= lo <= hi``.

    Returns
    -------
    log_j : ndarray (n,)
        Log of the integral (``-inf`` where ``lo == hi``).
    e_log_a, e_inv_a, e_log_b, e_inv_b : ndarray (n,)
        ``E[log(alpha+tau)]``, ``E[1/(alpha+tau)]``, ``E[log(beta+tau)]`` and
        ``E[1/(beta+tau)]`` under the normalised integrand (0 where empty).

    Examples
    --------
    >>> import numpy as np
    >>> lj, *_ = pareto_log_integral(np.array([3.0]), 2.0, 1.0, 1.0, np.array([0.0]), np.array([np.inf]))
    >>> round(float(np.exp(lj[0])), 10)  # int_0^inf (1+t)^-5 dt = 1/4
    0.25
    """
    n = lo.size
    k1, k2, alpha, beta = (
        np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))
        for v in (k1, k2, alpha, beta)
    )
    log_j = np.full(n, -np.inf)
    outs = [np.zeros(n) for _ in range(4)]
    pos = np.flatnonzero(hi > lo)
    if pos.size == 0:
        return log_j, *outs  # type: ignore[return-value]
    k1p, k2p, ap, bp, lop = k1[pos], k2[pos], alpha[pos], beta[pos], lo[pos]
    span = hi[pos] - lop
    # e-folding length of the integrand at lo; panels double from it.
    slope = k1p / (ap + lop) + k2p / (bp + lop)
    h = np.minimum(span, 1.0 / slope)
    inf_span = ~np.isfinite(span)
    ratio = np.where(inf_span, 2.0**_MAX_PANELS, span / h)
    panels = np.clip(np.ceil(np.log2(ratio + 1.0)), 1, _MAX_PANELS).astype(np.int64)
    # Blocks of whole rows with about _BLOCK panels each keep the (panels,
    # nodes) temporaries in cache: the sweep is memory-bound otherwise.
    cum = np.cumsum(panels)
    cuts = np.searchsorted(cum, np.arange(_BLOCK, int(cum[-1]), _BLOCK)) + 1
    edges = np.unique(np.concatenate([[0], cuts, [pos.size]]))
    res = np.empty((5, pos.size))
    for i0, i1 in itertools.pairwise(edges):
        sl = slice(int(i0), int(i1))
        res[:, sl] = _block(
            k1p[sl], k2p[sl], ap[sl], bp[sl], lop[sl], span[sl], h[sl], panels[sl]
        )
    log_j[pos] = res[0]
    for k, out in enumerate(outs):
        out[pos] = res[k + 1]
    return log_j, *outs  # type: ignore[return-value]


def _block(
    k1: FloatArray,
    k2: FloatArray,
    a: FloatArray,
    b: FloatArray,
    lo: FloatArray,
    span: FloatArray,
    h: FloatArray,
    panels: NDArray[np.int64],
) -> FloatArray:
    """``log J`` and the four expectations for a block of rows, (5, n)."""
    row = np.repeat(np.arange(lo.size), panels)
    starts = np.cumsum(panels) - panels
    j = np.arange(row.size) - starts[row]
    left = np.minimum(h[row] * (2.0**j - 1.0), span[row])
    right = np.minimum(h[row] * (2.0 ** (j + 1) - 1.0), span[row])
    width = right - left
    a_tau = np.multiply(width[:, None], _U[None, :])
    a_tau += (lo[row] + left)[:, None]
    b_tau = a_tau + b[row][:, None]
    a_tau += a[row][:, None]
    log_a = np.log(a_tau)
    log_b = np.log(b_tau)
    lf = np.multiply(log_a, -k1[row][:, None])
    lf -= np.multiply(log_b, k2[row][:, None])
    with np.errstate(divide="ignore"):
        lf += np.log(width)[:, None]
    lf += _LOG_W[None, :]
    peak = np.maximum.reduceat(lf.max(axis=1), starts)
    lf -= peak[row][:, None]
    e = np.exp(lf, out=lf)
    out = np.empty((5, lo.size))
    total = np.add.reduceat(e.sum(axis=1), starts)
    out[0] = peak + np.log(total)
    np.reciprocal(a_tau, out=a_tau)
    np.reciprocal(b_tau, out=b_tau)
    for k, g in enumerate((log_a, a_tau, log_b, b_tau)):
        out[k + 1] = np.add.reduceat(np.einsum("ij,ij->i", e, g), starts) / total
    return out


def _terms(logp: FloatArray, rows: PurchaseRows) -> tuple[FloatArray, ...]:
    r, alpha, s, beta = (np.exp(logp[..., k]) for k in range(4))
    x = rows.x
    log_aT = at_values(np.log, alpha, rows.T_u, rows.T_i, rows.T)
    log_bT = at_values(np.log, beta, rows.T_u, rows.T_i, rows.T)
    a1 = -(r + x) * log_aT - s * log_bT
    log_j, e_la, e_ia, e_lb, e_ib = pareto_log_integral(
        r + x, s + 1.0, alpha, beta, rows.t_x, rows.T
    )
    a2 = np.log(s) + log_j
    return r, alpha, s, beta, log_aT, log_bT, a1, a2, e_la, e_ia, e_lb, e_ib


def pareto_nbd_loglik(
    logp: FloatArray, rows: PurchaseRows
) -> tuple[FloatArray, FloatArray]:
    """Pareto/NBD log-likelihood of each row and its gradient.

    Parameters
    ----------
    logp : ndarray (4,) or (n, 4)
        ``log(r), log(alpha), log(s), log(beta)``.
    rows : PurchaseRows

    Returns
    -------
    ll : ndarray (n,)
    grad : ndarray (n, 4)
        Derivatives with respect to ``logp``.
    """
    r, alpha, s, beta, log_aT, log_bT, a1, a2, e_la, e_ia, e_lb, e_ib = _terms(
        logp, rows
    )
    x = rows.x
    xs = (rows.x_u, rows.x_i, x)
    m = np.logaddexp(a1, a2)
    ll = (
        at_values(gammaln, r, *xs)
        - gammaln(r)
        + r * np.log(alpha)
        + s * np.log(beta)
        + m
    )
    pi = np.exp(a2 - m)  # share of the died-in-(t_x, T] branch
    g = np.empty((x.size, 4))
    g[:, 0] = r * (
        at_values(digamma, r, *xs)
        - digamma(r)
        + np.log(alpha)
        - (1 - pi) * log_aT
        - pi * e_la
    )
    g[:, 1] = r - alpha * (r + x) * ((1 - pi) * np.exp(-log_aT) + pi * e_ia)
    g[:, 2] = s * (np.log(beta) - (1 - pi) * log_bT - pi * e_lb) + pi
    g[:, 3] = s - beta * ((1 - pi) * s * np.exp(-log_bT) + pi * (s + 1) * e_ib)
    return ll, g


def pareto_nbd_p_alive(logp: FloatArray, rows: PurchaseRows) -> FloatArray:
    """P(alive at T | x, t_x, T): the share of the alive branch, (n,)."""
    *_, a1, a2, _, _, _, _ = _terms(logp, rows)
    return np.exp(a1 - np.logaddexp(a1, a2))


def pareto_nbd_expected_purchases(
    logp: FloatArray, rows: PurchaseRows, t: float
) -> FloatArray:
    """Expected purchases in ``(T, T + t]`` given each pattern, (n,).

    ``P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]``
    (Fader and Hardie 2005, note 009 eq. 41), with the ``s -> 1`` limit.
    """
    r, alpha, s, beta = (np.exp(logp[..., k]) for k in range(4))
    bT = beta + rows.T
    life = bT * expm1_ratio(s - 1.0, np.log1p(t / bT))
    return pareto_nbd_p_alive(logp, rows) * (r + rows.x) / (alpha + rows.T) * life


def pareto_nbd_starts(rows: PurchaseRows) -> list[FloatArray]:
    """Starting log-parameters: the purchase rate matched, two lifetimes."""
    mean_T = max(float(rows.weight @ rows.T) / float(rows.weight.sum()), 1e-9)
    rate = max(
        float(rows.weight @ rows.x) / max(float(rows.weight @ rows.T), 1e-12), 1e-6
    )
    return [
        np.log([1.0, 1.0 / rate, 1.0, mean_T]),
        np.log([0.5, 0.5 / rate, 0.5, 5 * mean_T]),
    ]

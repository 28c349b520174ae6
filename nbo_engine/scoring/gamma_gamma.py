"""Gamma-Gamma spend model: likelihood with analytic gradient, expected spend.

Fader, Hardie and Lee (2005, note 025): a customer's spends per transaction are
``Gamma(p, nu)`` with ``nu ~ Gamma(q, gamma)`` across customers. The mean ``m``
of ``x`` spends is ``Gamma(p x, nu x)``, and integrating over ``nu``::

    ll = log G(p x + q) - log G(p x) - log G(q) + q log(gamma)
         + (p x - 1) log(m) + p x log(x) - (p x + q) log(x m + gamma)

The conditional expected spend per transaction is
``p (gamma + x m) / (p x + q - 1)``, a weighted average of the population mean
``p gamma / (q - 1)`` and the customer's own mean ``m``. Covariates on
``log gamma`` (the scale of spend) and ``log q`` follow ``mle.Covariates``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import digamma, gammaln

from nbo_engine.scoring.compress import unique_index

__all__ = [
    "GG_PARAMS",
    "SpendRows",
    "gamma_gamma_expected_spend",
    "gamma_gamma_loglik",
    "gamma_gamma_loglik_sum",
    "gamma_gamma_starts",
]

FloatArray = NDArray[np.float64]
GG_PARAMS = ("p", "q", "gamma")


@dataclass(frozen=True)
class SpendRows:
    """Customers with repeat purchases: ``x`` of them, mean spend ``m`` (> 0)."""

    x: FloatArray
    m: FloatArray
    weight: FloatArray
    x_u: FloatArray
    x_i: NDArray[np.int64]
    #: ``x m`` and ``x (log m + log x)``, fixed across likelihood evaluations
    xm: FloatArray
    c1: FloatArray
    log_m: FloatArray

    @classmethod
    def build(
        cls, x: FloatArray, m: FloatArray, weight: FloatArray | None = None
    ) -> SpendRows:
        x = np.asarray(x, dtype=np.float64)
        m = np.asarray(m, dtype=np.float64)
        w = np.ones(x.size) if weight is None else np.asarray(weight, np.float64)
        x_u, x_i = unique_index(x)
        log_m = np.log(m)
        return cls(x, m, w, x_u, x_i, x * m, x * (log_m + np.log(x)), log_m)

    @property
    def n(self) -> int:
        return int(self.x.size)

    def subset(self, keep: NDArray[np.bool_]) -> SpendRows:
        return SpendRows.build(self.x[keep], self.m[keep], self.weight[keep])

    def scaled(self, factor: float) -> SpendRows:
        """Spend multiplied by ``factor`` (a change of currency unit)."""
        lf = float(np.log(factor))
        return SpendRows(
            self.x,
            self.m * factor,
            self.weight,
            self.x_u,
            self.x_i,
            self.xm * factor,
            self.c1 + self.x * lf,
            self.log_m + lf,
        )


def gamma_gamma_loglik(
    logp: FloatArray, rows: SpendRows
) -> tuple[FloatArray, FloatArray]:
    """Gamma-Gamma log-likelihood of each row and its gradient.

    Parameters
    ----------
    logp : ndarray (3,) or (n, 3)
        ``log(p), log(q), log(gamma)``.
    rows : SpendRows

    Returns
    -------
    ll : ndarray (n,)
    grad : ndarray (n, 3)
        Derivatives with respect to ``logp``.

    Examples
    --------
    >>> import numpy as np
    >>> rows = SpendRows.build(np.array([1.0, 4.0]), np.array([20.0, 35.5]))
    >>> ll, g = gamma_gamma_loglik(np.log([6.25, 3.74, 15.44]), rows)
    >>> ll.round(4).tolist()
    [-3.5942, -4.0743]
    """
    p, q, gam = (np.exp(logp[..., k]) for k in range(3))
    x, m = rows.x, rows.m
    px = p * x
    if np.ndim(p) == 0 and np.ndim(q) == 0:
        # one population: special functions once per distinct x
        pxu = p * rows.x_u
        lg_pxq, dg_pxq = gammaln(pxu + q)[rows.x_i], digamma(pxu + q)[rows.x_i]
        lg_px, dg_px = gammaln(pxu)[rows.x_i], digamma(pxu)[rows.x_i]
    else:
        lg_pxq, dg_pxq = gammaln(px + q), digamma(px + q)
        lg_px, dg_px = gammaln(px), digamma(px)
    log_m = np.log(m)
    log_x = np.log(x)
    log_xmg = np.log(x * m + gam)
    ll = (
        lg_pxq
        - lg_px
        - gammaln(q)
        + q * np.log(gam)
        + (px - 1.0) * log_m
        + px * log_x
        - (px + q) * log_xmg
    )
    g = np.empty((x.size, 3))
    g[:, 0] = px * (dg_pxq - dg_px + log_m + log_x - log_xmg)
    g[:, 1] = q * (dg_pxq - digamma(q) + np.log(gam) - log_xmg)
    g[:, 2] = q - gam * (px + q) / (x * m + gam)
    return ll, g


def gamma_gamma_loglik_sum(
    logp: FloatArray, rows: SpendRows, weight: FloatArray
) -> tuple[float, FloatArray]:
    """Total weighted Gamma-Gamma log-likelihood and gradient: the terms in
    ``log m`` and ``log x`` are fixed sums, those in ``x`` alone are summed per
    distinct ``x``; one log and one reciprocal per row remain."""
    p, q, gam = np.exp(logp)
    w = weight
    xu = rows.x_u
    wx = np.bincount(rows.x_i, weights=w, minlength=xu.size)
    total_w = float(wx.sum())
    pxu = p * xu
    s = rows.xm + gam
    log_s = np.log(s)
    inv_s = 1.0 / s
    wxr = w * rows.x
    sx_log = float(wxr @ log_s)
    s_log = float(w @ log_s)
    c1 = float(w @ rows.c1)
    ll = (
        wx @ (gammaln(pxu + q) - gammaln(pxu))
        - total_w * gammaln(q)
        + total_w * q * np.log(gam)
        + p * c1
        - float(w @ rows.log_m)
        - p * sx_log
        - q * s_log
    )
    dg = digamma(pxu + q)
    g = np.empty(3)
    g[0] = p * (wx @ (xu * (dg - digamma(pxu))) + c1 - sx_log)
    g[1] = q * (wx @ dg - total_w * digamma(q) + total_w * np.log(gam) - s_log)
    g[2] = total_w * q - gam * (p * float(wxr @ inv_s) + q * float(w @ inv_s))
    return float(ll), g


def gamma_gamma_expected_spend(
    logp: FloatArray, x: FloatArray, m: FloatArray
) -> FloatArray:
    """Expected spend per transaction given ``x`` repeat purchases of mean ``m``.

    ``p (gamma + x m) / (p x + q - 1)``; for ``x = 0`` the population mean
    ``p gamma / (q - 1)``, which is infinite when ``q <= 1`` (returned as inf:
    the caller decides the fallback).
    """
    p, q, gam = (np.exp(logp[..., k]) for k in range(3))
    xm = np.where(x > 0, x * np.where(x > 0, m, 0.0), 0.0)
    denom = p * x + q - 1.0
    with np.errstate(divide="ignore"):
        out = np.where(
            denom > 0, p * (gam + xm) / np.where(denom > 0, denom, 1.0), np.inf
        )
    return np.asarray(out, dtype=np.float64)


def gamma_gamma_starts(rows: SpendRows) -> list[FloatArray]:
    """Starting log-parameters on the scale of the observed spend."""
    mean = float(rows.weight @ rows.m) / max(float(rows.weight.sum()), 1e-12)
    return [np.log([2.0, 3.0, 2.0 * mean / 2.0]), np.log([1.0, 1.5, 0.5 * mean])]

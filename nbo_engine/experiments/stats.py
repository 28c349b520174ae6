"""Fixed-horizon A/B statistics from sufficient statistics.

Each function compares a treatment with a control and returns an
:class:`Effect`: the estimate, its standard error, a two-sided ``1 - alpha``
interval and p-value. Inputs are array-valued (any leading shape), so one call
covers variants x segments x looks x simulation runs; ``alpha`` may be an array
too (adjusted interval levels, see ``multiple.py``).

Methods
-------
- proportions: Wald z-test with unpooled variances ``p (1 - p) / n``
  (``statsmodels`` ``test_proportions_2indep(method="wald")``);
- means: Welch's t-test with Welch-Satterthwaite degrees of freedom
  (``scipy.stats.ttest_ind(equal_var=False)``);
- ratio metrics ``sum(num) / sum(den)``: delta method (Deng, Knoblich & Lu 2018,
  "Applying the delta method in metric analytics"), z-test;
- CUPED (Deng, Xu, Kohavi & Walker 2013): outcome minus ``theta . (x - mean x)``
  with ``theta`` from the within-arm pooled covariances, any number of
  covariates; the variance of the estimate shrinks by about ``1 - rho**2``; z-test;
- relative lift ``(m_t - m_c) / |m_c|``: delta method,
  ``se^2 = V_t / m_c^2 + m_t^2 V_c / m_c^4`` (``V`` = variance of the arm mean).

Degenerate input gives a neutral result (estimate 0, interval (0, 0), p = 1) and
a reason code instead of NaN or an exception, as GrowthBook's gbstats does:
``n_too_small`` (an arm with n < 2), ``zero_variance``, ``zero_baseline``
(relative lift of a zero control mean), ``zero_denominator`` (ratio metric).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from nbo_engine.errors import DataValidationError
from nbo_engine.experiments.sufficient import CupedStats, RatioStats, SampleStats

__all__ = [
    "N_TOO_SMALL",
    "OK",
    "REASONS",
    "ZERO_BASELINE",
    "ZERO_DENOMINATOR",
    "ZERO_VARIANCE",
    "Effect",
    "EffectSummary",
    "cuped_effect",
    "mean_effect",
    "proportion_effect",
    "ratio_effect",
    "ratio_means",
]

F64 = NDArray[np.float64]

REASONS = ("ok", "n_too_small", "zero_variance", "zero_baseline", "zero_denominator")
OK, N_TOO_SMALL, ZERO_VARIANCE, ZERO_BASELINE, ZERO_DENOMINATOR = range(5)


@dataclass(frozen=True)
class EffectSummary:
    """One comparison as plain floats (see :class:`Effect`)."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    reason: str


@dataclass(frozen=True)
class Effect:
    """Treatment minus control (or relative lift), element-wise over the inputs.

    Attributes
    ----------
    estimate, se, ci_low, ci_high, p_value : ndarray
        Two-sided, at level ``1 - alpha``. Neutral (0, 0, 0, 0, 1) where
        ``reason != OK``.
    df : ndarray
        Degrees of freedom of the t reference (``inf``: normal reference).
    alpha : ndarray
    reason : ndarray of int8
        Index into ``REASONS``.
    relative : bool
    variance_ratio : ndarray or None
        CUPED only: variance of the adjusted estimate over the unadjusted one.
    """

    estimate: F64
    se: F64
    ci_low: F64
    ci_high: F64
    p_value: F64
    df: F64
    alpha: F64
    reason: NDArray[np.int8]
    relative: bool
    variance_ratio: F64 | None = None

    @property
    def ok(self) -> NDArray[np.bool_]:
        """Where the comparison could be made."""
        return self.reason == OK

    @property
    def reason_names(self) -> NDArray[np.str_]:
        """Reason codes as names."""
        return np.asarray(REASONS)[self.reason]

    def summary(self, index: Any = ()) -> EffectSummary:
        """The comparison at ``index`` as floats."""
        return EffectSummary(
            float(self.estimate[index]),
            float(self.se[index]),
            float(self.ci_low[index]),
            float(self.ci_high[index]),
            float(self.p_value[index]),
            REASONS[int(self.reason[index])],
        )


def _alpha(alpha: ArrayLike) -> F64:
    a = np.asarray(alpha, dtype=np.float64)
    if not ((a > 0) & (a < 1)).all():
        raise DataValidationError(f"alpha: expected levels in (0, 1), got {alpha!r}")
    return a


def _critical(alpha: F64, df: F64) -> F64:
    """Two-sided critical value; normal where ``df`` is infinite."""
    z = special.ndtri(1 - alpha / 2)
    finite = np.isfinite(df)
    if not finite.any():
        return z
    with np.errstate(invalid="ignore"):
        t = special.stdtrit(np.where(finite, df, 1.0), 1 - alpha / 2)
    return np.where(finite, t, z)


def _two_sided_p(stat: F64, df: F64) -> F64:
    p_norm = 2 * special.ndtr(-np.abs(stat))
    finite = np.isfinite(df)
    if not finite.any():
        return p_norm
    with np.errstate(invalid="ignore"):
        p_t = 2 * special.stdtr(np.where(finite, df, 1.0), -np.abs(stat))
    return np.where(finite, p_t, p_norm)


def _compare(
    mean_c: F64,
    vmean_c: F64,
    n_c: F64,
    mean_t: F64,
    vmean_t: F64,
    n_t: F64,
    alpha: ArrayLike,
    *,
    relative: bool,
    welch: bool,
    reason: NDArray[np.int8] | None = None,
) -> Effect:
    """The one formula behind every comparison.

    ``vmean_*`` is the variance of the arm's mean estimate (unit variance / n).
    """
    a = _alpha(alpha)
    shape = np.broadcast_shapes(
        mean_c.shape, mean_t.shape, n_c.shape, n_t.shape, a.shape
    )
    code = (
        np.zeros(shape, dtype=np.int8)
        if reason is None
        else np.broadcast_to(reason, shape).copy()
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if relative:
            base = np.abs(mean_c)
            est = (mean_t - mean_c) / base
            var = vmean_t / base**2 + mean_t**2 * vmean_c / base**4
        else:
            est = mean_t - mean_c
            var = vmean_t + vmean_c
        if welch:
            # Welch-Satterthwaite: (Vc + Vt)^2 / (Vc^2 / (nc - 1) + Vt^2 / (nt - 1))
            df = (vmean_c + vmean_t) ** 2 / (
                vmean_c**2 / (n_c - 1) + vmean_t**2 / (n_t - 1)
            )
        else:
            df = np.full(shape, np.inf)
        se = np.sqrt(var)
        stat = est / se
    df = np.broadcast_to(df, shape)
    code = np.where((code == OK) & ((n_c < 2) | (n_t < 2)), N_TOO_SMALL, code)
    if relative:
        code = np.where((code == OK) & (mean_c == 0), ZERO_BASELINE, code)
    code = np.where((code == OK) & ~(np.isfinite(var) & (var > 0)), ZERO_VARIANCE, code)
    good = code == OK
    df = np.where(good, df, np.inf)
    crit = _critical(np.broadcast_to(a, shape), df)
    p = np.where(good, _two_sided_p(np.where(good, stat, 0.0), df), 1.0)
    est = np.where(good, est, 0.0)
    se = np.where(good, se, 0.0)
    half = crit * se
    return Effect(
        estimate=est,
        se=se,
        ci_low=est - half,
        ci_high=est + half,
        p_value=p,
        df=df,
        alpha=np.broadcast_to(a, shape).astype(np.float64),
        reason=code.astype(np.int8),
        relative=relative,
    )


def proportion_effect(
    control: SampleStats,
    treatment: SampleStats,
    alpha: ArrayLike = 0.05,
    *,
    relative: bool = False,
) -> Effect:
    """Difference (or relative lift) of two proportions, Wald z-test.

    Parameters
    ----------
    control, treatment : SampleStats
        ``sum`` = number of successes; shapes broadcast.
    alpha : float or array
    relative : bool

    Returns
    -------
    Effect

    Examples
    --------
    >>> c = SampleStats.from_proportion(10_000, 300)
    >>> t = SampleStats.from_proportion(10_000, 360)
    >>> e = proportion_effect(c, t)
    >>> round(float(e.estimate), 4), round(float(e.p_value), 4)
    (0.006, 0.0175)
    """
    control.check_proportion("control")
    treatment.check_proportion("treatment")
    pc, pt = control.mean, treatment.mean
    with np.errstate(divide="ignore", invalid="ignore"):
        vc = np.where(control.n > 0, pc * (1 - pc) / control.n, 0.0)
        vt = np.where(treatment.n > 0, pt * (1 - pt) / treatment.n, 0.0)
    return _compare(
        pc, vc, control.n, pt, vt, treatment.n, alpha, relative=relative, welch=False
    )


def mean_effect(
    control: SampleStats,
    treatment: SampleStats,
    alpha: ArrayLike = 0.05,
    *,
    relative: bool = False,
) -> Effect:
    """Difference (or relative lift) of two means, Welch's t-test.

    Examples
    --------
    >>> c = SampleStats(n=100, sum=1000.0, sum_sq=10_400.0)   # mean 10, sd 2.01
    >>> t = SampleStats(n=100, sum=1100.0, sum_sq=12_500.0)   # mean 11, sd 2.01
    >>> e = mean_effect(c, t)
    >>> round(float(e.estimate), 3), round(float(e.p_value), 4)
    (1.0, 0.0005)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        vc = np.where(control.n > 0, control.var / control.n, 0.0)
        vt = np.where(treatment.n > 0, treatment.var / treatment.n, 0.0)
    return _compare(
        control.mean,
        vc,
        control.n,
        treatment.mean,
        vt,
        treatment.n,
        alpha,
        relative=relative,
        welch=True,
    )


def ratio_means(s: RatioStats) -> tuple[F64, F64, NDArray[np.bool_]]:
    """Ratio ``sum_num / sum_den``, the variance of that ratio (delta method)
    and a mask of where the denominator is non-zero."""
    n = s.n
    with np.errstate(divide="ignore", invalid="ignore"):
        m, d = s.sum_num / n, s.sum_den / n
        r = s.sum_num / s.sum_den
        var_m = (s.sum_num_sq - n * m * m) / (n - 1)
        var_d = (s.sum_den_sq - n * d * d) / (n - 1)
        cov = (s.sum_num_den - n * m * d) / (n - 1)
        # linearisation (m - r d) / dbar, Deng et al. 2018 eq. (3)
        unit_var = (var_m - 2 * r * cov + r * r * var_d) / (d * d)
        vmean = np.maximum(unit_var, 0.0) / n
    nonzero = s.sum_den != 0
    return np.where(nonzero, r, 0.0), np.where(nonzero & (n >= 2), vmean, 0.0), nonzero


def ratio_effect(
    control: RatioStats,
    treatment: RatioStats,
    alpha: ArrayLike = 0.05,
    *,
    relative: bool = False,
) -> Effect:
    """Difference (or relative lift) of two ratio metrics, delta method, z-test."""
    rc, vc, okc = ratio_means(control)
    rt, vt, okt = ratio_means(treatment)
    reason = np.where(okc & okt, OK, ZERO_DENOMINATOR).astype(np.int8)
    return _compare(
        rc,
        vc,
        control.n,
        rt,
        vt,
        treatment.n,
        alpha,
        relative=relative,
        welch=False,
        reason=reason,
    )


def _theta(control: CupedStats, treatment: CupedStats) -> F64:
    """CUPED coefficients from the within-arm covariances of both arms pooled,
    shape (..., k). Covariates without variance (e.g. an all-ones missing
    indicator) get 0 through a pseudo-inverse of the correlation matrix."""
    cxx = np.zeros(np.broadcast_shapes(control.sum_xx.shape, treatment.sum_xx.shape))
    cxy = np.zeros(cxx.shape[:-1])
    for s in (control, treatment):
        with np.errstate(divide="ignore", invalid="ignore"):
            xbar = np.where(s.n[..., None] > 0, s.sum_x / s.n[..., None], 0.0)
            ybar = np.where(s.n > 0, s.sum_y / s.n, 0.0)
        cxx = (
            cxx
            + s.sum_xx
            - s.n[..., None, None] * xbar[..., :, None] * xbar[..., None, :]
        )
        cxy = cxy + s.sum_xy - s.n[..., None] * xbar * ybar[..., None]
    diag = np.einsum("...ii->...i", cxx)
    scale = np.where(diag > 0, 1 / np.sqrt(np.where(diag > 0, diag, 1.0)), 0.0)
    corr = cxx * scale[..., :, None] * scale[..., None, :]
    inv = np.linalg.pinv(corr, rtol=1e-10, hermitian=True)
    return scale * np.einsum("...ij,...j->...i", inv, scale * cxy)


def _adjusted_var(s: CupedStats, theta: F64) -> tuple[F64, F64]:
    """Unit variance of ``y - theta . x`` and of ``y`` in one arm (ddof=1)."""
    n = s.n
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar = s.sum_x / n[..., None]
        ybar = s.sum_y / n
        cyy = s.sum_yy - n * ybar * ybar
        cxy = s.sum_xy - n[..., None] * xbar * ybar[..., None]
        cxx = s.sum_xx - n[..., None, None] * xbar[..., :, None] * xbar[..., None, :]
        quad = np.einsum("...i,...ij,...j->...", theta, cxx, theta)
        adj = (cyy - 2 * np.einsum("...i,...i->...", theta, cxy) + quad) / (n - 1)
        raw = cyy / (n - 1)
    ok = n >= 2
    return np.where(ok, np.maximum(adj, 0.0), 0.0), np.where(
        ok, np.maximum(raw, 0.0), 0.0
    )


def cuped_effect(
    control: CupedStats,
    treatment: CupedStats,
    alpha: ArrayLike = 0.05,
    *,
    relative: bool = False,
) -> Effect:
    """CUPED-adjusted difference (or relative lift), z-test.

    The adjusted arm means are ``ybar - theta . (xbar - xbar_pooled)``; the
    difference is ``dy - theta . dx``. ``Effect.variance_ratio`` is the variance of
    the adjusted estimate over the unadjusted one (about ``1 - rho**2``).

    Examples
    --------
    >>> import numpy as np
    >>> from nbo_engine.experiments.sufficient import cuped_stats
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=20_000)
    >>> y = 0.8 * x + 0.6 * rng.normal(size=20_000)      # rho = 0.8
    >>> arm = np.repeat([0, 1], 10_000)
    >>> s = cuped_stats(y, x[:, None], arm, 2)
    >>> e = cuped_effect(s.select(0), s.select(1))
    >>> round(float(e.variance_ratio), 2)                # 1 - 0.8**2 = 0.36
    0.36
    """
    theta = _theta(control, treatment)
    adj_c, raw_c = _adjusted_var(control, theta)
    adj_t, raw_t = _adjusted_var(treatment, theta)
    n_c, n_t = control.n, treatment.n
    with np.errstate(divide="ignore", invalid="ignore"):
        xbar_c = control.sum_x / n_c[..., None]
        xbar_t = treatment.sum_x / n_t[..., None]
        pooled = (control.sum_x + treatment.sum_x) / (n_c + n_t)[..., None]
        mean_c = control.sum_y / n_c - np.einsum(
            "...i,...i->...", theta, xbar_c - pooled
        )
        mean_t = treatment.sum_y / n_t - np.einsum(
            "...i,...i->...", theta, xbar_t - pooled
        )
        vc, vt = adj_c / n_c, adj_t / n_t
        ratio = (vc + vt) / (raw_c / n_c + raw_t / n_t)
    good_n = (n_c >= 2) & (n_t >= 2)
    effect = _compare(
        np.where(good_n, mean_c, 0.0),
        np.where(good_n, vc, 0.0),
        n_c,
        np.where(good_n, mean_t, 0.0),
        np.where(good_n, vt, 0.0),
        n_t,
        alpha,
        relative=relative,
        welch=False,
    )
    vr = np.where(effect.ok, ratio, 1.0)
    return Effect(
        **{
            **effect.__dict__,
            "variance_ratio": np.broadcast_to(vr, effect.estimate.shape),
        }
    )

"""Sample size for a two-sided test of a difference in proportions or means.

With control variance ``v1``, treatment variance ``v2``, allocation ratio
``r = n2 / n1`` and absolute effect ``delta = mde * baseline``, the standard
error of the difference is ``sigma_d = sqrt(v1 / n1 + v2 / (r n1))`` and the
exact two-sided power of the z-test at level ``alpha`` is

    power(n1) = Phi(delta / sigma_d - z) + Phi(-delta / sigma_d - z),
    z = Phi^-1(1 - alpha / 2)

(Chow, Shao & Wang 2008, *Sample Size Calculations in Clinical Research*,
sec. 4.2). We solve ``power(n1) = target`` for real ``n1`` and round each arm up.
Proportions use the unpooled variances ``p (1 - p)`` of both arms (the same
variance the Wald test in ``stats.py`` uses); means assume a common ``sd``. This
is ``statsmodels``' ``NormalIndPower`` with effect size
``delta * sqrt(1 + 1/r) / sqrt(v1 + v2 / r)``. With ``arms > 2`` every
treatment is compared with the control at ``alpha / (arms - 1)`` (Bonferroni,
which Holm's procedure in the readout never needs more than).
``variance_reduction`` (e.g. ``1 - rho**2`` for CUPED) scales both variances.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy import optimize, stats

from nbo_engine.errors import DataValidationError

__all__ = ["SamplePlan", "power_of", "sample_size"]


@dataclass(frozen=True)
class SamplePlan:
    """Planned sample for one experiment.

    ``n_control`` and ``n_treatment`` are units per arm (every treatment arm
    gets ``n_treatment``); ``n_total`` counts all ``arms``.
    """

    metric: str
    baseline: float
    mde: float
    effect: float
    sd_control: float
    sd_treatment: float
    alpha: float
    alpha_per_comparison: float
    power: float
    ratio: float
    arms: int
    variance_reduction: float
    n_control: int
    n_treatment: int
    n_total: int
    n_control_exact: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def power_of(
    n_control: float,
    effect: float,
    var_control: float,
    var_treatment: float,
    alpha: float = 0.05,
    ratio: float = 1.0,
) -> float:
    """Two-sided power of the z-test for a difference with ``n_control`` units in
    the control and ``ratio * n_control`` in the treatment."""
    sigma = math.sqrt(var_control / n_control + var_treatment / (ratio * n_control))
    z = stats.norm.isf(alpha / 2)
    shift = abs(effect) / sigma
    return float(stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z))


def _check(name: str, value: float, ok: bool, expected: str) -> None:
    if not ok:
        raise DataValidationError(f"{name}: expected {expected}, got {value!r}")


def sample_size(
    baseline: float,
    mde: float,
    *,
    metric: Literal["proportion", "mean"] = "proportion",
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    arms: int = 2,
    variance_reduction: float = 1.0,
) -> SamplePlan:
    """Units needed per arm to detect a relative change ``mde`` of ``baseline``.

    Parameters
    ----------
    baseline : float
        Control conversion rate (proportion) or control mean (mean metric).
    mde : float
        Minimum detectable effect, relative (0.1 = +10% of baseline); may be
        negative.
    metric : {"proportion", "mean"}
    sd : float, optional
        Standard deviation of the metric per unit (mean metrics only).
    alpha, power : float
        Two-sided significance level and target power.
    ratio : float
        Units in each treatment arm per control unit.
    arms : int
        Number of arms including the control.
    variance_reduction : float
        Factor in (0, 1] on the variances (CUPED: ``1 - rho**2``).

    Returns
    -------
    SamplePlan

    Examples
    --------
    >>> plan = sample_size(0.03, 0.1)
    >>> plan.n_control, plan.n_total
    (53208, 106416)
    """
    _check("alpha", alpha, 0.0 < alpha < 1.0, "a level in (0, 1)")
    _check("power", power, 0.0 < power < 1.0, "a power in (0, 1)")
    _check("ratio", ratio, ratio > 0 and math.isfinite(ratio), "a ratio > 0")
    _check("arms", arms, arms >= 2, "at least 2 arms (control + treatment)")
    _check("mde", mde, mde != 0 and math.isfinite(mde), "a non-zero relative effect")
    _check(
        "variance_reduction",
        variance_reduction,
        0.0 < variance_reduction <= 1.0,
        "a factor in (0, 1]",
    )
    if metric == "proportion":
        _check("baseline", baseline, 0.0 < baseline < 1.0, "a proportion in (0, 1)")
        treated = baseline * (1 + mde)
        _check(
            "mde",
            mde,
            0.0 < treated < 1.0,
            f"an effect keeping baseline x (1 + mde) in (0, 1) (it gives {treated:g})",
        )
        v1, v2 = baseline * (1 - baseline), treated * (1 - treated)
    elif metric == "mean":
        _check(
            "baseline",
            baseline,
            baseline != 0 and math.isfinite(baseline),
            "a non-zero mean",
        )
        if sd is None:
            raise DataValidationError(
                "sd: a mean metric needs the standard deviation, got none"
            )
        _check("sd", sd, sd > 0 and math.isfinite(sd), "a standard deviation > 0")
        v1 = v2 = sd * sd
    else:
        raise DataValidationError(
            f"metric: expected proportion or mean, got {metric!r}"
        )
    v1 *= variance_reduction
    v2 *= variance_reduction
    effect = baseline * mde
    a = alpha / (arms - 1)
    # The one-tail approximation is a lower bound; the root lies just above it.
    z = stats.norm.isf(a / 2) + stats.norm.isf(1 - power)
    approx = z * z * (v1 + v2 / ratio) / (effect * effect)

    def gap(n: float) -> float:
        return power_of(n, effect, v1, v2, a, ratio) - power

    lo, hi = approx * 0.5, approx * 2.0 + 10.0
    n1 = float(optimize.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-14))
    n_c = math.ceil(n1 - 1e-9)
    n_t = math.ceil(ratio * n1 - 1e-9)
    return SamplePlan(
        metric=metric,
        baseline=baseline,
        mde=mde,
        effect=effect,
        sd_control=math.sqrt(v1 / variance_reduction),
        sd_treatment=math.sqrt(v2 / variance_reduction),
        alpha=alpha,
        alpha_per_comparison=a,
        power=power,
        ratio=ratio,
        arms=arms,
        variance_reduction=variance_reduction,
        n_control=n_c,
        n_treatment=n_t,
        n_total=n_c + (arms - 1) * n_t,
        n_control_exact=n1,
    )

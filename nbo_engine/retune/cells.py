"""Which (offer, segment) cells are confidently harmful or helpful.

A cell is *tested* when both arms have the minimum sample and its standard
error is positive. The tested cells of a week form one family: their two-sided
p-values are adjusted together (Holm by default, or Benjamini-Hochberg;
:mod:`nbo_engine.experiments.multiple`) and their intervals are widened to the
matching level (``interval_alpha``: Bonferroni level ``alpha / m`` for Holm,
the false-coverage level of Benjamini & Yekutieli for BH). A cell is

* ``harmful`` when its adjusted p-value is at most ``alpha``, its estimate is
  on the harmful side and its adjusted interval lies wholly on that side;
* ``helpful`` symmetrically;
* ``unclear`` otherwise, ``too_small`` when untested.

With Holm, the chance that any cell of a week whose true effect is 0 or
helpful is called harmful is at most ``alpha / 2``, however many cells there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from nbo_engine.experiments import adjust, interval_alpha
from nbo_engine.retune.evidence import CellEffect
from nbo_engine.retune.guardrails import Guardrails

__all__ = ["CellVerdict", "Verdict", "classify_cells"]

Verdict = Literal["harmful", "helpful", "unclear", "too_small"]


@dataclass(frozen=True)
class CellVerdict:
    """A cell's test: raw and adjusted p-value, adjusted interval, verdict."""

    cell: CellEffect
    verdict: Verdict
    p_value: float
    p_adjusted: float
    ci_low: float
    ci_high: float
    family_size: int

    def evidence(self) -> dict[str, float | int | str]:
        """The numbers behind the verdict (JSON-ready)."""
        c = self.cell
        return {
            "metric": c.metric,
            "estimate": round(c.estimate, 6),
            "se": round(c.se, 6),
            "ci_low": round(self.ci_low, 6),
            "ci_high": round(self.ci_high, 6),
            "p_value": float(f"{self.p_value:.6g}"),
            "p_adjusted": float(f"{self.p_adjusted:.6g}"),
            "n_treated": c.n_treated,
            "n_control": c.n_control,
            "family_size": self.family_size,
        }


def _tested(c: CellEffect, g: Guardrails) -> bool:
    return c.n_treated >= g.min_treated and c.n_control >= g.min_control and c.se > 0


def classify_cells(
    cells: Sequence[CellEffect], guardrails: Guardrails = Guardrails()
) -> tuple[CellVerdict, ...]:
    """The verdict of every cell, in input order (see the module doc).

    Parameters
    ----------
    cells : sequence of CellEffect
        One week's cells; all tested cells form one multiple-testing family.
    guardrails : Guardrails
        ``alpha``, ``multiple_testing``, ``min_treated``, ``min_control``.

    Returns
    -------
    tuple of CellVerdict

    Examples
    --------
    Twenty null cells and one clearly harmful one: only that one is called.

    >>> from nbo_engine.retune.evidence import CellEffect
    >>> cells = [CellEffect(f"o{i}", "s", 0.1, 1.0, 500, 500) for i in range(20)]
    >>> cells.append(CellEffect("bad", "s", -6.0, 1.0, 500, 500))
    >>> [v.cell.offer for v in classify_cells(cells) if v.verdict == "harmful"]
    ['bad']
    """
    g = guardrails
    tested = np.array([_tested(c, g) for c in cells], dtype=bool)
    est = np.array([c.estimate for c in cells], dtype=np.float64)
    se = np.array([c.se if c.se > 0 else 1.0 for c in cells], dtype=np.float64)
    df = np.array([c.df for c in cells], dtype=np.float64)
    z = est / se
    finite_df = np.isfinite(df)
    tail = np.where(
        finite_df,
        stats.t.sf(np.abs(z), np.where(finite_df, df, 1.0)),
        stats.norm.sf(np.abs(z)),
    )
    p = np.where(tested, np.minimum(1.0, 2.0 * tail), 1.0)
    m = int(tested.sum())
    p_adj = np.ones_like(p)
    level = np.full_like(p, g.alpha)
    if m:
        p_adj[tested] = adjust(p[tested], g.multiple_testing)
        level[tested] = interval_alpha(p[tested], g.multiple_testing, g.alpha)
    crit = np.where(
        finite_df,
        stats.t.isf(level / 2.0, np.where(finite_df, df, 1.0)),
        stats.norm.isf(level / 2.0),
    )
    lo, hi = est - crit * se, est + crit * se
    out = []
    for i, c in enumerate(cells):
        sign = 1.0 if c.higher_is_better else -1.0
        verdict: Verdict = "too_small"
        if tested[i]:
            good_lo, good_hi = (lo[i], hi[i]) if sign > 0 else (-hi[i], -lo[i])
            significant = p_adj[i] <= g.alpha
            if significant and sign * est[i] < 0 and good_hi < 0:
                verdict = "harmful"
            elif significant and sign * est[i] > 0 and good_lo > 0:
                verdict = "helpful"
            else:
                verdict = "unclear"
        out.append(
            CellVerdict(
                cell=c,
                verdict=verdict,
                p_value=float(p[i]),
                p_adjusted=float(p_adj[i]),
                ci_low=float(lo[i]) if tested[i] else float("nan"),
                ci_high=float(hi[i]) if tested[i] else float("nan"),
                family_size=m,
            )
        )
    return tuple(out)

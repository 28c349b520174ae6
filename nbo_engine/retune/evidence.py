"""The week's evidence a retune reads: frozen dataclasses, validated on creation.

* :class:`CellEffect` -- the effect of one offer in one segment against the
  holdout (an A/B comparison or an uplift model's estimate), with its standard
  error and sample sizes; :meth:`CellEffect.from_stats` builds it from
  sufficient statistics with :func:`nbo_engine.experiments.mean_effect` (Welch)
  or :func:`~nbo_engine.experiments.proportion_effect` (Wald).
* :class:`ExperimentEvidence` -- an experiment spec and its readout
  (:func:`nbo_engine.experiments.readout`): the champion/challenger decision
  with its guardrail results.
* :class:`OfferUsage` -- how much audience an offer has left (share of the
  decisions in which it was eligible, now and at its peak) and its acceptance
  before and now.
* :class:`GuardrailSeries` -- a guardrail metric (complaints, churn) before
  and after the last applied change, as sufficient statistics.
* :class:`OpeLog` -- the logged decisions of the current policy, for
  off-policy evaluation of current and proposed policies
  (:func:`nbo_engine.evaluation.ope.estimate_policy_value`).
* :class:`Evidence` -- all of the above for one week.

Units: effects and OPE values are in the rewards' units (currency per
decision for the ``value`` metric); sample sizes count units (customers).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from nbo_engine.errors import RetuneError
from nbo_engine.experiments import (
    ExperimentSpec,
    GlobalHoldout,
    Readout,
    SampleStats,
    mean_effect,
    proportion_effect,
)
from nbo_engine.policy import PolicySpec

__all__ = [
    "GLOBAL_HOLDOUT_NAME",
    "BanditEvidence",
    "CellEffect",
    "Evidence",
    "ExperimentEvidence",
    "GuardrailSeries",
    "OfferUsage",
    "OpeLog",
    "TargetPolicy",
]

F64 = NDArray[np.float64]

#: The experiment name decisions in the global holdout are logged with
#: (:func:`nbo_engine.decisioning.decide.assign_experiment`; variant ``holdout``).
GLOBAL_HOLDOUT_NAME = "global_holdout"

#: ``target_probs(spec, suppressed)`` -> (n, n_offers + 1) action probabilities
#: of the policy ``spec`` on every logged row (last column: no offer), where
#: ``suppressed`` holds the (offer, segment) pairs taken out by eligibility.
TargetPolicy = Callable[[PolicySpec, frozenset[tuple[str, str]]], F64]


def _finite(where: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RetuneError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise RetuneError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _count(where: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise RetuneError(f"{where}: expected an integer count >= 0, got {value!r}")
    if value < 0:
        raise RetuneError(f"{where}: expected an integer count >= 0, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class CellEffect:
    """The effect of offering ``offer`` in ``segment`` versus the holdout.

    Attributes
    ----------
    offer, segment : str
    estimate : float
        Treated minus control mean of ``metric`` (e.g. value per customer,
        currency); negative is harm when higher is better.
    se : float
        Standard error of ``estimate`` (>= 0).
    n_treated, n_control : int
        Units behind the estimate.
    df : float
        Degrees of freedom of a t reference (``inf``: normal).
    metric : str
    higher_is_better : bool
    """

    offer: str
    segment: str
    estimate: float
    se: float
    n_treated: int
    n_control: int
    df: float = math.inf
    metric: str = "value"
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        where = f"cell ({self.offer!r}, {self.segment!r})"
        for name in ("offer", "segment", "metric"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v:
                raise RetuneError(f"{where} {name}: expected non-empty text, got {v!r}")
        object.__setattr__(
            self, "estimate", _finite(f"{where} estimate", self.estimate)
        )
        se = _finite(f"{where} se", self.se)
        if se < 0:
            raise RetuneError(f"{where} se: expected a number >= 0, got {se!r}")
        object.__setattr__(self, "se", se)
        object.__setattr__(
            self, "n_treated", _count(f"{where} n_treated", self.n_treated)
        )
        object.__setattr__(
            self, "n_control", _count(f"{where} n_control", self.n_control)
        )
        df = float(self.df)
        if not df > 0:
            raise RetuneError(f"{where} df: expected a number > 0, got {self.df!r}")
        object.__setattr__(self, "df", df)

    @classmethod
    def from_stats(
        cls,
        offer: str,
        segment: str,
        control: SampleStats,
        treated: SampleStats,
        *,
        kind: Literal["mean", "proportion"] = "mean",
        metric: str = "value",
        higher_is_better: bool = True,
        unit_scale: float | None = None,
    ) -> CellEffect:
        """The cell from per-unit sufficient statistics of both arms.

        ``kind="mean"``: Welch's t-test (:func:`~nbo_engine.experiments.mean_effect`);
        ``"proportion"``: Wald z-test. A degenerate comparison (an arm with
        fewer than 2 units, no variance) gives ``se = 0``, which the retune
        never acts on.

        ``unit_scale`` (means only): the swing one unit's outcome makes when
        its rare event happens (an offer's margin). Each arm's variance is
        then at least ``unit_scale**2 p (1 - p)`` with ``p = 1 / (n + 2)``,
        the variance of one event in ``n + 2`` units (Laplace's rule of
        succession): an arm in which nobody converted (every unit worth
        ``-cost``, variance 0) is not taken for certainty that nobody would.

        Examples
        --------
        >>> from nbo_engine.experiments import SampleStats
        >>> c = SampleStats(n=400, sum=4000.0, sum_sq=4000.0 * 10 + 399 * 25.0)
        >>> t = SampleStats(n=400, sum=3600.0, sum_sq=3600.0 * 9 + 399 * 25.0)
        >>> cell = CellEffect.from_stats("cc", "young", c, t)
        >>> round(cell.estimate, 2), round(cell.se, 3)
        (-1.0, 0.354)
        """
        if kind == "mean" and unit_scale:
            control = _floored(control, unit_scale)
            treated = _floored(treated, unit_scale)
        fn = mean_effect if kind == "mean" else proportion_effect
        eff = fn(control, treated)
        s = eff.summary()
        return cls(
            offer=offer,
            segment=segment,
            estimate=s.estimate,
            se=s.se,
            n_treated=int(np.asarray(treated.n).item()),
            n_control=int(np.asarray(control.n).item()),
            df=float(np.asarray(eff.df).item()),
            metric=metric,
            higher_is_better=higher_is_better,
        )


def _floored(stats: SampleStats, scale: float) -> SampleStats:
    """``stats`` with the sample variance raised to at least that of one
    event of size ``scale`` in ``n + 2`` units (see ``CellEffect.from_stats``)."""
    n = np.asarray(stats.n, dtype=np.float64)
    p = 1.0 / (n + 2.0)
    floor = scale * scale * p * (1.0 - p)
    var = np.maximum(stats.var, floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(n > 0, stats.sum * stats.sum / n, 0.0)
    sum_sq = np.where(n >= 2, centre + var * (n - 1.0), stats.sum_sq)
    return SampleStats(n=stats.n, sum=stats.sum, sum_sq=sum_sq)


@dataclass(frozen=True)
class ExperimentEvidence:
    """A running experiment and its readout (champion/challenger decision)."""

    spec: ExperimentSpec
    readout: Readout

    def __post_init__(self) -> None:
        if self.readout.experiment != self.spec.name:
            raise RetuneError(
                f"experiment {self.spec.name!r}: the readout is of experiment "
                f"{self.readout.experiment!r}; expected the same experiment"
            )


@dataclass(frozen=True)
class OfferUsage:
    """How much of an offer's audience is left, and how it is accepted.

    Attributes
    ----------
    offer : str
    eligible_share_now, eligible_share_peak : float
        Share of the (unblocked) decisions in which the offer was eligible,
        this week and at its best week in the look-back, in [0, 1].
    decisions_now : int
        Unblocked decisions this week (the denominator of the share).
    shown_before, accepted_before, shown_now, accepted_now : int
        Times the offer was shown first, and accepted, in the weeks before and
        this week.
    """

    offer: str
    eligible_share_now: float
    eligible_share_peak: float
    decisions_now: int
    shown_before: int = 0
    accepted_before: int = 0
    shown_now: int = 0
    accepted_now: int = 0

    def __post_init__(self) -> None:
        where = f"usage of {self.offer!r}"
        for name in ("eligible_share_now", "eligible_share_peak"):
            v = _finite(f"{where} {name}", getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise RetuneError(
                    f"{where} {name}: expected a share in [0, 1], got {v!r}"
                )
            object.__setattr__(self, name, v)
        for name in (
            "decisions_now",
            "shown_before",
            "accepted_before",
            "shown_now",
            "accepted_now",
        ):
            object.__setattr__(
                self, name, _count(f"{where} {name}", getattr(self, name))
            )
        for shown, accepted in (
            ("shown_before", "accepted_before"),
            ("shown_now", "accepted_now"),
        ):
            if getattr(self, accepted) > getattr(self, shown):
                raise RetuneError(
                    f"{where} {accepted}: expected at most {shown} "
                    f"({getattr(self, shown)}), got {getattr(self, accepted)}"
                )


@dataclass(frozen=True)
class GuardrailSeries:
    """A guardrail metric per unit before and after the last applied change.

    ``kind="mean"`` (e.g. complaints per customer) is compared with Welch's
    t-test, ``"proportion"`` (e.g. churned 0/1) with a Wald z-test.
    """

    metric: str
    before: SampleStats
    after: SampleStats
    kind: Literal["mean", "proportion"] = "mean"
    higher_is_better: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("mean", "proportion"):
            raise RetuneError(
                f"guardrail {self.metric!r} kind: expected mean or proportion, got "
                f"{self.kind!r}"
            )
        for name in ("before", "after"):
            s = getattr(self, name)
            if not isinstance(s, SampleStats) or np.asarray(s.n).shape != ():
                raise RetuneError(
                    f"guardrail {self.metric!r} {name}: expected scalar SampleStats, "
                    f"got {s!r}"
                )


@dataclass(frozen=True)
class BanditEvidence:
    """What the live policy's bandit has learned from: rewards folded in."""

    n_rewards: int

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "n_rewards", _count("bandit n_rewards", self.n_rewards)
        )


@dataclass(frozen=True)
class OpeLog:
    """Logged decisions of the current policy, for off-policy evaluation.

    Arms are the policy's offers in spec order, then one "no offer" arm.

    Attributes
    ----------
    rewards : (n,) observed reward of each decision (currency for ``value``).
    actions : (n,) int arm taken, in [0, n_offers] (n_offers: no offer).
    propensities : (n,) probability the logging policy took it, in (0, 1].
    contexts : (n, n_features) context vectors (reward model features).
    target_probs : :data:`TargetPolicy`, the action probabilities of a spec
        on these rows.
    n_arms : int
        ``n_offers + 1``.
    """

    rewards: F64
    actions: NDArray[np.int64]
    propensities: F64
    contexts: F64
    target_probs: TargetPolicy
    n_arms: int

    def __post_init__(self) -> None:
        r = np.asarray(self.rewards, dtype=np.float64)
        a = np.asarray(self.actions)
        p = np.asarray(self.propensities, dtype=np.float64)
        x = np.asarray(self.contexts, dtype=np.float64)
        n = r.shape[0] if r.ndim == 1 else -1
        if r.ndim != 1 or a.shape != (n,) or p.shape != (n,):
            raise RetuneError(
                f"ope log: expected rewards, actions and propensities of one shape "
                f"(n,), got {r.shape}, {a.shape} and {p.shape}"
            )
        if x.ndim != 2 or x.shape[0] != n:
            raise RetuneError(
                f"ope log contexts: expected shape ({n}, n_features), got {x.shape}"
            )
        if self.n_arms < 2:
            raise RetuneError(
                f"ope log n_arms: expected offers + 1 (no offer) >= 2, got {self.n_arms}"
            )
        if n and (a.min() < 0 or a.max() >= self.n_arms):
            raise RetuneError(
                f"ope log actions: expected arms in [0, {self.n_arms - 1}], got "
                f"values from {int(a.min())} to {int(a.max())}"
            )
        object.__setattr__(self, "rewards", r)
        object.__setattr__(self, "actions", a.astype(np.int64))
        object.__setattr__(self, "propensities", p)
        object.__setattr__(self, "contexts", x)

    @property
    def n(self) -> int:
        return int(self.rewards.shape[0])


@dataclass(frozen=True)
class Evidence:
    """Everything a retune weighs for one week (see the module doc).

    ``n_decisions`` counts the logged decisions behind it; ``rolled_back``
    holds the labels (:attr:`~nbo_engine.retune.changes.Change.label`) of
    changes rolled back lately, which are not proposed again; ``notes`` are
    free text for the report.
    """

    week_start: dt.date
    week_end: dt.date
    cells: tuple[CellEffect, ...] = ()
    experiments: tuple[ExperimentEvidence, ...] = ()
    usage: tuple[OfferUsage, ...] = ()
    guardrail_series: tuple[GuardrailSeries, ...] = ()
    ope: OpeLog | None = None
    bandit: BanditEvidence | None = None
    global_holdout: GlobalHoldout | None = None
    n_decisions: int = 0
    rolled_back: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.week_end <= self.week_start:
            raise RetuneError(
                f"evidence week: expected week_end after week_start, got "
                f"{self.week_start} .. {self.week_end}"
            )
        for name in (
            "cells",
            "experiments",
            "usage",
            "guardrail_series",
            "rolled_back",
            "notes",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        _unique(
            ((c.offer, c.segment, c.metric) for c in self.cells),
            "cells (offer, segment, metric)",
        )
        _unique((u.offer for u in self.usage), "usage offers")
        _unique((e.spec.name for e in self.experiments), "experiments")
        _unique((g.metric for g in self.guardrail_series), "guardrail series")

    def cell(
        self, offer: str, segment: str, metric: str = "value"
    ) -> CellEffect | None:
        """The cell of ``offer`` in ``segment`` for ``metric``, or None."""
        for c in self.cells:
            if c.offer == offer and c.segment == segment and c.metric == metric:
                return c
        return None


def _unique(keys: Iterable[object], what: str) -> None:
    seen: set[object] = set()
    dupes = []
    for k in keys:
        if k in seen:
            dupes.append(k)
        seen.add(k)
    if dupes:
        raise RetuneError(
            f"evidence {what}: expected each once, got {', '.join(map(repr, dupes))} "
            "more than once"
        )

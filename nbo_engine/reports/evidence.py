"""What a weekly report says: one frozen dataclass per section.

Each section of :class:`WeeklyEvidence` is either its evidence or a
:class:`Missing` that says why it could not be made this week; the page then
prints "not available this week because ..." instead of failing. Frames inside
the sections are the figures' tables (``figures()`` returns them as they are),
with the columns named in each class's docstring.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import pandas as pd

from nbo_engine.evaluation.metrics import Curve
from nbo_engine.experiments.readout import Readout

__all__ = [
    "SECTIONS",
    "Alerts",
    "BanditLearning",
    "Comparison",
    "DataQuality",
    "ExperimentResult",
    "Experiments",
    "Forecasts",
    "Headline",
    "Missing",
    "Playbook",
    "PolicyChanges",
    "QiniCurves",
    "SegmentPlay",
    "UpliftTable",
    "WeeklyEvidence",
    "available",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Missing:
    """A section not made this week; ``because`` completes the sentence
    "not available this week because ..."."""

    because: str

    def __str__(self) -> str:
        return f"not available this week because {self.because}"


def available(section: T | Missing) -> T | None:
    """The section, or ``None`` when it is :class:`Missing`."""
    return None if isinstance(section, Missing) else section


@dataclass(frozen=True)
class Comparison:
    """One metric, programme (treated) against the global holdout: arm means,
    the difference with its two-sided interval, and the p-value."""

    treated: float
    holdout: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


@dataclass(frozen=True)
class Headline:
    """Incremental value of the whole programme against the global holdout.

    Units are customers who had a live decision in the measured window;
    ``treated`` are those outside the global holdout (offered or not), so the
    comparison is intention-to-treat and randomised by the holdout hash.
    Per customer over at most ``attribution_days`` after their first decision
    of the window: ``value`` (currency, net of offer costs and of the CLV of
    churned customers), ``conversion`` (took up any product, 0/1), and the
    guardrails ``churn`` (0/1) and ``complaints`` (count). Intervals are
    two-sided at ``1 - alpha`` (Welch for means, Wald for proportions).
    """

    window_start: dt.date
    window_end: dt.date  # exclusive
    n_treated: int
    n_holdout: int
    value: Comparison
    conversion: Comparison
    churn: Comparison
    complaints: Comparison
    alpha: float
    currency: str
    outcome_source: str
    attribution_days: int

    @property
    def incremental_value(self) -> float:
        """Total value caused: effect per customer x treated customers."""
        return self.value.effect * self.n_treated

    @property
    def incremental_ci(self) -> tuple[float, float]:
        """Interval of :attr:`incremental_value`."""
        return (self.value.ci_low * self.n_treated, self.value.ci_high * self.n_treated)


@dataclass(frozen=True)
class UpliftTable:
    """Uplift of each offer in each segment against the holdout.

    ``frame`` columns: ``offer, offer_name, segment, metric`` (``conversion``
    or ``value``), ``n_treated, n_control, mean_treated, mean_control,
    effect, ci_low, ci_high, p_value, q_value, harmful, helpful, note``.
    Intervals are Benjamini-Yekutieli FCR-adjusted over every cell (the level
    ``q_value`` decides), so a flag is a discovery at false-discovery rate
    ``alpha``; ``harmful`` means the whole interval is below zero.
    """

    frame: pd.DataFrame
    alpha: float
    min_units: int
    note: str = ""

    @property
    def harmful(self) -> pd.DataFrame:
        """The harmful cells."""
        return self.frame[self.frame["harmful"]]


@dataclass(frozen=True)
class ExperimentResult:
    """An experiment of the week: its readout, or why there is none."""

    name: str
    kind: str
    status: str
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    stop_reason: str | None
    units: int
    readout: Readout | None
    note: str = ""


@dataclass(frozen=True)
class Experiments:
    """Experiments that finished this week (with readouts) and those running."""

    finished: tuple[ExperimentResult, ...]
    running: tuple[ExperimentResult, ...]


@dataclass(frozen=True)
class QiniCurves:
    """Qini curves of rankings of the window's customers (treated vs holdout).

    ``curves`` label -> :class:`~nbo_engine.evaluation.metrics.Curve` (x:
    customers targeted, y: incremental ``outcome``); ``coefficients`` label ->
    Qini coefficient (0 random, 1 the best ranking the outcomes allow).
    """

    curves: Mapping[str, Curve]
    coefficients: Mapping[str, float]
    n_treated: int
    n_control: int
    outcome: str


@dataclass(frozen=True)
class BanditLearning:
    """How the bandit learns, week by week.

    ``weekly`` columns: ``week, decisions, offered, accepted, accept_rate,
    value, value_per_offer, entropy, explore_share`` (``entropy``: mean
    ``-log p`` of the first-ranked choice, nats, an unbiased estimate of the
    choice distribution's entropy; ``explore_share``: share of first choices
    made with probability below 0.95). ``offer_mix`` columns: ``offer,
    offer_name, offered, share, accepted, accept_rate, share_before``.
    """

    weekly: pd.DataFrame
    offer_mix: pd.DataFrame
    rewards_folded: int | None


@dataclass(frozen=True)
class PolicyChanges:
    """Retune proposals of the week, one row per change: ``proposal_id,
    status, mode, created_at, kind, offer, segment, before, after, reason,
    evidence``."""

    changes: pd.DataFrame


@dataclass(frozen=True)
class Forecasts:
    """Forecasts: ``series, week, model, mean, lo80, hi80, lo95, hi95``."""

    frame: pd.DataFrame


@dataclass(frozen=True)
class Alerts:
    """Drift and model-health warnings: ``kind, level, subject, value,
    threshold, message`` from the newest monitoring report before the week
    ended (``level``: ``warn`` or ``alert``; empty when not given)."""

    alerts: pd.DataFrame
    as_of: dt.date | None
    retrain_requested: bool


@dataclass(frozen=True)
class DataQuality:
    """File loads of the week per entity: ``entity, runs, failed, rows_read,
    rows_inserted, rows_updated, rows_fixed, rows_quarantined,
    duplicates_dropped``; quarantined rows by ``reason, rows``."""

    runs: pd.DataFrame
    reasons: pd.DataFrame


@dataclass(frozen=True)
class SegmentPlay:
    """The playbook of one segment.

    ``trend`` columns: ``as_of, customers, clv_mean``. ``offers`` columns:
    ``offer, offer_name, effect, ci_low, ci_high, significant`` (value
    uplift per customer, best first). ``channel`` is where the segment's
    offers are accepted most (``None`` without enough offers served).
    """

    segment: str
    customers: int
    share: float
    clv_mean: float | None
    churn_mean: float | None
    trend: pd.DataFrame
    offers: pd.DataFrame
    channel: str | None
    channel_accept_rate: float | None
    channel_offered: int
    at_risk: int
    at_risk_clv: float
    retention_offers: tuple[str, ...]


@dataclass(frozen=True)
class Playbook:
    """One :class:`SegmentPlay` per segment, largest first; valuable at-risk
    customers are those with CLV at least ``clv_threshold`` (currency) and a
    90-day churn score at least ``churn_threshold``."""

    segments: tuple[SegmentPlay, ...]
    clv_threshold: float
    churn_threshold: float
    as_of: dt.date


#: Section attribute names in page order (headline first).
SECTIONS: tuple[str, ...] = (
    "headline",
    "uplift",
    "playbook",
    "experiments",
    "qini",
    "bandit",
    "policy_changes",
    "forecasts",
    "alerts",
    "data_quality",
)


@dataclass(frozen=True)
class WeeklyEvidence:
    """Everything one weekly report shows (see the module doc)."""

    week: dt.date  # Monday the week starts
    generated_at: dt.datetime
    currency: str
    headline: Headline | Missing
    uplift: UpliftTable | Missing
    playbook: Playbook | Missing
    experiments: Experiments | Missing
    qini: QiniCurves | Missing
    bandit: BanditLearning | Missing
    policy_changes: PolicyChanges | Missing
    forecasts: Forecasts | Missing
    alerts: Alerts | Missing
    data_quality: DataQuality | Missing
    policy_name: str | None = None
    offer_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def week_end(self) -> dt.date:
        """The Monday after the week (exclusive end)."""
        return self.week + dt.timedelta(days=7)

    def missing(self) -> dict[str, str]:
        """``{section: reason}`` of the sections not available."""
        return {
            name: getattr(self, name).because
            for name in SECTIONS
            if isinstance(getattr(self, name), Missing)
        }

    def sections(self) -> dict[str, Any]:
        """``{section: evidence or Missing}`` in page order."""
        names = {f.name for f in fields(self)}
        return {name: getattr(self, name) for name in SECTIONS if name in names}

"""Experiment readouts from the store: sums in SQL, statistics in Python.

A unit is a customer with a live decision logged under the experiment. Their
variant is the one logged (deterministic assignment gives one per customer;
a customer logged under two is left out and counted in ``mixed_units``), and
their outcomes (:data:`nbo_engine.store.experiments.OUTCOMES`) run from their
first decision in the experiment up to ``as_of``. The store aggregates per
variant the sums each metric needs (:func:`metric_terms`: ``n``, ``sum y``,
``sum y^2``; ratio cross-products; CUPED covariate moments), so no unit-level
row leaves the database; :func:`nbo_engine.experiments.readout` does the rest.

CUPED metrics use the same outcome over the ``pre_days`` before the
experiment's start date as the covariate, with the missing-indicator columns of
:func:`~nbo_engine.experiments.pre_period_covariates`: customers who joined
after the pre-period began (new to bank) keep their place with covariate 0 and
indicator 0, which keeps the estimate unbiased.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import ExperimentStateError
from nbo_engine.experiments import (
    CupedStats,
    ExperimentSpec,
    Metric,
    RatioStats,
    Readout,
    SampleStats,
    readout,
)
from nbo_engine.experiments.readout import MetricData
from nbo_engine.store import Engine
from nbo_engine.store import experiments as store
from nbo_engine.timeutil import naive_utc as _naive_utc

__all__ = [
    "PRE_PERIOD_DAYS",
    "ExperimentStats",
    "Results",
    "experiment_results",
    "experiment_results_detail",
    "experiment_stats",
    "metric_terms",
]

PRE_PERIOD_DAYS = 90
"""Length of the CUPED pre-period before the experiment's start date (days)."""

Term = tuple[str, ...]


def _cuped_terms(y: str) -> list[Term]:
    x = (f"pre_{y}", "has_pre")
    return [
        (y,),
        (y, y),
        *((a,) for a in x),
        *((a, b) for i, a in enumerate(x) for b in x[i:]),
        *((a, y) for a in x),
    ]


def _terms_of(m: Metric) -> list[Term]:
    y = m.column
    if m.kind == "ratio":
        den = str(m.denominator)
        return [(y,), (y, y), (den,), (den, den), (y, den)]
    if m.cuped:
        return _cuped_terms(y)
    return [(y,), (y, y)]


def metric_terms(experiment: ExperimentSpec) -> list[Term]:
    """The per-unit sums the experiment's metrics need, without repeats."""
    return list(
        dict.fromkeys(t for m in experiment.metrics.all() for t in _terms_of(m))
    )


def _stats(m: Metric, sums: pd.DataFrame) -> MetricData:
    def col(*t: str) -> NDArray[np.float64]:
        return sums["*".join(t)].to_numpy(dtype=np.float64)

    n = sums["n"].to_numpy(dtype=np.float64)
    y = m.column
    if m.kind == "ratio":
        den = str(m.denominator)
        return RatioStats(n, col(y), col(y, y), col(den), col(den, den), col(y, den))
    if m.cuped:
        x = (f"pre_{y}", "has_pre")
        k = len(x)
        sum_xx = np.empty((len(n), k, k))
        for i in range(k):
            for j in range(i, k):
                sum_xx[:, i, j] = sum_xx[:, j, i] = col(x[i], x[j])
        return CupedStats(
            n,
            col(y),
            col(y, y),
            np.stack([col(a) for a in x], axis=-1),
            sum_xx,
            np.stack([col(a, y) for a in x], axis=-1),
        )
    return SampleStats(n, col(y), col(y, y))


@dataclass(frozen=True)
class ExperimentStats:
    """An experiment's per-variant statistics as read from the store.

    ``data`` maps each metric to its statistics with fields of shape
    (n_variants,) in the spec's variant order; ``units`` the units per variant;
    ``other_variants`` units logged under variant names the spec does not have
    (e.g. ``holdout`` of the global holdout never is: such names mean the spec
    changed under a running experiment).
    """

    experiment: ExperimentSpec
    status: str
    data: dict[str, MetricData]
    units: NDArray[np.float64]
    mixed_units: int
    other_variants: dict[str, int]
    as_of: dt.datetime
    pre_start: dt.datetime
    pre_end: dt.datetime


@dataclass(frozen=True)
class Results:
    """The readout with what it was computed from."""

    stats: ExperimentStats
    readout: Readout

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the readout plus ``status``, ``as_of``, the pre-period
        and the units left out."""
        s = self.stats
        return {
            **self.readout.to_dict(),
            "status": s.status,
            "as_of": s.as_of.isoformat(),
            "pre_period": [s.pre_start.isoformat(), s.pre_end.isoformat()],
            "mixed_units": s.mixed_units,
            "other_variants": s.other_variants,
        }


def experiment_stats(
    engine: Engine,
    name: str,
    *,
    as_of: dt.datetime | None = None,
    pre_days: int = PRE_PERIOD_DAYS,
) -> ExperimentStats:
    """Read an experiment's per-variant sufficient statistics.

    Parameters
    ----------
    name : a started experiment.
    as_of : decisions and events before this time count (aware or naive UTC);
        default the stop time of a stopped experiment, else now.
    pre_days : CUPED pre-period length, days before the start date.

    Raises
    ------
    UnknownExperimentError
    ExperimentStateError
        A draft (nothing to read yet) or the global holdout (no metrics).
    """
    rec = store.get_experiment(engine, name)
    spec = rec.spec
    if not isinstance(spec, ExperimentSpec):
        raise ExperimentStateError(
            f"experiment {name!r} is the global holdout; it has no metrics to read out"
        )
    if rec.status == "draft":
        raise ExperimentStateError(
            f"experiment {name!r} is a draft; start it before reading results"
        )
    if as_of is None:
        as_of = rec.stopped_at or dt.datetime.now(dt.UTC)
    until = _naive_utc(as_of)
    pre_end = dt.datetime.combine(spec.start, dt.time())
    pre_start = pre_end - dt.timedelta(days=pre_days)
    sums = store.variant_sums(
        engine,
        spec.name,
        metric_terms(spec),
        until=until,
        pre_start=pre_start,
        pre_end=pre_end,
    )
    names = list(spec.variant_names)
    frame = sums.frame.reindex(names, fill_value=0.0)
    others = {str(v): int(n) for v, n in sums.frame["n"].items() if str(v) not in names}
    data = {m.name: _stats(m, frame) for m in spec.metrics.all()}
    return ExperimentStats(
        experiment=spec,
        status=rec.status,
        data=data,
        units=frame["n"].to_numpy(dtype=np.float64),
        mixed_units=sums.mixed_units,
        other_variants=others,
        as_of=until,
        pre_start=pre_start,
        pre_end=pre_end,
    )


def experiment_results_detail(
    engine: Engine,
    name: str,
    *,
    as_of: dt.datetime | None = None,
    pre_days: int = PRE_PERIOD_DAYS,
) -> Results:
    """:func:`experiment_stats` and the readout computed from them."""
    stats = experiment_stats(engine, name, as_of=as_of, pre_days=pre_days)
    return Results(stats, readout(stats.experiment, stats.data, units=stats.units))


def experiment_results(
    engine: Engine,
    name: str,
    *,
    as_of: dt.datetime | None = None,
    pre_days: int = PRE_PERIOD_DAYS,
) -> Readout:
    """The full readout of a started experiment from the store (see the
    module doc; arguments as :func:`experiment_stats`)."""
    return experiment_results_detail(
        engine, name, as_of=as_of, pre_days=pre_days
    ).readout

"""The weekly uplift report: evidence, measurements, charts and the HTML page.

Pure: frames and frozen dataclasses in, a :class:`WeeklyEvidence`, an HTML
string and tables of figures out. ``nbo_engine.jobs.weekly_report`` reads the
store and writes the files; see ``docs/reports.md``.
"""

from nbo_engine.reports.evidence import (
    SECTIONS,
    Alerts,
    BanditLearning,
    Comparison,
    DataQuality,
    ExperimentResult,
    Experiments,
    Forecasts,
    Headline,
    Missing,
    Playbook,
    PolicyChanges,
    QiniCurves,
    SegmentPlay,
    UpliftTable,
    WeeklyEvidence,
    available,
)
from nbo_engine.reports.figures import (
    FigureFiles,
    figures,
    figures_json,
    write_figures,
)
from nbo_engine.reports.learning import bandit_learning, week_of
from nbo_engine.reports.measure import headline, uplift_table
from nbo_engine.reports.operations import (
    alerts,
    check_forecasts,
    data_quality,
    forecasts,
    policy_changes,
)
from nbo_engine.reports.playbook import playbook
from nbo_engine.reports.qini import qini_curves, thin_curve
from nbo_engine.reports.render import render_html
from nbo_engine.reports.units import (
    OfferInfo,
    segment_from_context,
    unit_outcomes,
    units_from_decisions,
)

__all__ = [
    "SECTIONS",
    "Alerts",
    "BanditLearning",
    "Comparison",
    "DataQuality",
    "ExperimentResult",
    "Experiments",
    "FigureFiles",
    "Forecasts",
    "Headline",
    "Missing",
    "OfferInfo",
    "Playbook",
    "PolicyChanges",
    "QiniCurves",
    "SegmentPlay",
    "UpliftTable",
    "WeeklyEvidence",
    "alerts",
    "available",
    "bandit_learning",
    "check_forecasts",
    "data_quality",
    "figures",
    "figures_json",
    "forecasts",
    "headline",
    "playbook",
    "policy_changes",
    "qini_curves",
    "render_html",
    "segment_from_context",
    "thin_curve",
    "unit_outcomes",
    "units_from_decisions",
    "uplift_table",
    "week_of",
    "write_figures",
]

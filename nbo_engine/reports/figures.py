"""Every figure of a weekly report as a table, and the files that carry them.

``figures(evidence)`` returns one DataFrame per figure (the numbers behind
each chart and table of the page); :func:`write_figures` writes them as
``figures/<name>.csv`` plus one ``figures.json`` holding all of them, so an
analyst can take any number in the report into a spreadsheet or a notebook.
Sections that are missing this week appear in the ``missing`` table with the
reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nbo_engine.reports.evidence import (
    Alerts,
    BanditLearning,
    DataQuality,
    Experiments,
    Forecasts,
    Headline,
    Playbook,
    PolicyChanges,
    QiniCurves,
    UpliftTable,
    WeeklyEvidence,
)

__all__ = ["FigureFiles", "figures", "figures_json", "write_figures"]


def _headline(h: Headline) -> pd.DataFrame:
    rows = [
        (f"value per customer ({h.currency})", h.value),
        ("take-up rate", h.conversion),
        ("churn rate", h.churn),
        ("complaints per customer", h.complaints),
    ]
    frame = pd.DataFrame(
        [{"metric": name, **dataclasses.asdict(c)} for name, c in rows]
        + [
            {
                "metric": f"incremental value, total ({h.currency})",
                "treated": math.nan,
                "holdout": math.nan,
                "effect": h.incremental_value,
                "ci_low": h.incremental_ci[0],
                "ci_high": h.incremental_ci[1],
                "p_value": h.value.p_value,
            }
        ]
    )
    return frame.assign(
        n_treated=h.n_treated,
        n_holdout=h.n_holdout,
        window_start=h.window_start,
        window_end=h.window_end,
        alpha=h.alpha,
        outcome_source=h.outcome_source,
    )


def _experiments(e: Experiments) -> dict[str, pd.DataFrame]:
    runs, cells = [], []
    listed = [(r, True) for r in e.finished] + [(r, False) for r in e.running]
    for r, finished in listed:
        runs.append(
            {
                "experiment": r.name,
                "kind": r.kind,
                "status": r.status,
                "finished_this_week": finished,
                "started_at": r.started_at,
                "stopped_at": r.stopped_at,
                "units": r.units,
                "decision": r.readout.decision if r.readout else None,
                "best_variant": r.readout.best_variant if r.readout else None,
                "note": r.note,
            }
        )
        if r.readout is None:
            continue
        for m in r.readout.metrics:
            cells.append(
                {
                    "experiment": r.name,
                    "variant": m.variant,
                    "metric": m.metric,
                    "role": m.role,
                    "n_control": m.n_control,
                    "n_variant": m.n_variant,
                    "mean_control": m.mean_control,
                    "mean_variant": m.mean_variant,
                    "effect": m.absolute.estimate,
                    "ci_low": m.sequential.ci_low,
                    "ci_high": m.sequential.ci_high,
                    "p_value_adjusted": m.p_value_adjusted,
                    "direction": m.direction,
                    "significant": m.significant,
                }
            )
    return {
        "experiments": pd.DataFrame(runs),
        "experiment_metrics": pd.DataFrame(cells),
    }


def _qini(q: QiniCurves) -> dict[str, pd.DataFrame]:
    curves = pd.concat(
        [
            pd.DataFrame(
                {
                    "ranking": label,
                    "customers": c.x,
                    "share": c.x / c.x[-1] if c.x[-1] else c.x,
                    "incremental": c.y,
                }
            )
            for label, c in q.curves.items()
        ],
        ignore_index=True,
    )
    coefs = pd.DataFrame(
        {"ranking": list(q.coefficients), "qini": list(q.coefficients.values())}
    ).assign(outcome=q.outcome, n_treated=q.n_treated, n_control=q.n_control)
    return {"qini_curves": curves, "qini_coefficients": coefs}


def _playbook(p: Playbook) -> dict[str, pd.DataFrame]:
    rows, trend, offers = [], [], []
    for s in p.segments:
        rows.append(
            {
                "segment": s.segment,
                "customers": s.customers,
                "share": s.share,
                "clv_mean": s.clv_mean,
                "churn_mean": s.churn_mean,
                "best_offers": " ".join(s.offers["offer"].astype(str)),
                "channel": s.channel,
                "channel_accept_rate": s.channel_accept_rate,
                "at_risk": s.at_risk,
                "at_risk_clv": s.at_risk_clv,
                "retention_offers": " ".join(s.retention_offers),
            }
        )
        trend.append(s.trend.assign(segment=s.segment))
        offers.append(s.offers.assign(segment=s.segment))
    return {
        "playbook": pd.DataFrame(rows).assign(
            clv_threshold=p.clv_threshold,
            churn_threshold=p.churn_threshold,
            as_of=p.as_of,
        ),
        "playbook_trend": _stack(trend),
        "playbook_offers": _stack(offers),
    }


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-bind the non-empty frames (an empty frame when none has rows)."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0].iloc[0:0] if frames else pd.DataFrame()
    return pd.concat(full, ignore_index=True)


def figures(evidence: WeeklyEvidence) -> dict[str, pd.DataFrame]:
    """Every figure of the report as a DataFrame, by name.

    Names: ``headline``, ``uplift``, ``playbook``, ``playbook_trend``,
    ``playbook_offers``, ``experiments``, ``experiment_metrics``,
    ``qini_curves``, ``qini_coefficients``, ``bandit_weekly``,
    ``offer_mix``, ``policy_changes``, ``forecasts``, ``alerts``,
    ``data_quality``, ``quarantine_reasons`` (each present when its section
    is) and always ``missing`` (``section, reason``).
    """
    e = evidence
    out: dict[str, pd.DataFrame] = {}
    if isinstance(e.headline, Headline):
        out["headline"] = _headline(e.headline)
    if isinstance(e.uplift, UpliftTable):
        out["uplift"] = e.uplift.frame
    if isinstance(e.playbook, Playbook):
        out.update(_playbook(e.playbook))
    if isinstance(e.experiments, Experiments):
        out.update(_experiments(e.experiments))
    if isinstance(e.qini, QiniCurves):
        out.update(_qini(e.qini))
    if isinstance(e.bandit, BanditLearning):
        out["bandit_weekly"] = e.bandit.weekly
        out["offer_mix"] = e.bandit.offer_mix
    if isinstance(e.policy_changes, PolicyChanges):
        out["policy_changes"] = e.policy_changes.changes
    if isinstance(e.forecasts, Forecasts):
        out["forecasts"] = e.forecasts.frame
    if isinstance(e.alerts, Alerts):
        out["alerts"] = e.alerts.alerts
    if isinstance(e.data_quality, DataQuality):
        out["data_quality"] = e.data_quality.runs
        out["quarantine_reasons"] = e.data_quality.reasons
    out["missing"] = pd.DataFrame(
        sorted(e.missing().items()), columns=["section", "reason"]
    )
    return out


def _plain(v: Any) -> Any:
    """A cell as a JSON value: NaN/NaT -> null, dates ISO, numpy -> Python."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, pd.Timestamp | dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, np.datetime64):
        return None if np.isnat(v) else pd.Timestamp(v).isoformat()
    return v


def figures_json(
    evidence: WeeklyEvidence, figs: dict[str, pd.DataFrame] | None = None
) -> str:
    """One JSON document: the week, the generation time and every figure as a
    list of records (``{"week": ..., "figures": {name: [...]}}``)."""
    figs = figures(evidence) if figs is None else figs
    body = {
        "week": evidence.week.isoformat(),
        "generated_at": evidence.generated_at.isoformat(),
        "currency": evidence.currency,
        "policy": evidence.policy_name,
        "figures": {
            name: [
                {str(k): _plain(v) for k, v in zip(f.columns, row, strict=True)}
                for row in f.itertuples(index=False, name=None)
            ]
            for name, f in figs.items()
        },
    }
    return json.dumps(body, allow_nan=False, indent=1)


@dataclass(frozen=True)
class FigureFiles:
    """Where :func:`write_figures` wrote: one CSV per figure and the JSON."""

    csv: tuple[Path, ...]
    json: Path


def write_figures(evidence: WeeklyEvidence, out_dir: Path) -> FigureFiles:
    """Write ``out_dir/figures/<name>.csv`` and ``out_dir/figures.json``."""
    figs = figures(evidence)
    folder = Path(out_dir) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in figs.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    target = Path(out_dir) / "figures.json"
    target.write_text(figures_json(evidence, figs), encoding="utf-8")
    return FigureFiles(csv=tuple(paths), json=target)

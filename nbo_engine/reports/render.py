"""The weekly report as one self-contained HTML page.

:func:`render_html` fills ``templates/weekly.html.j2`` (jinja2 with
autoescaping, so an offer or segment name is always text, never markup) with
the evidence and the charts as inline SVG. The page loads nothing: no script,
no font, no stylesheet or image from elsewhere. Sections read top-down in the
order a campaign manager needs them: the headline, what needs attention, then
the detail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

from nbo_engine.reports import charts
from nbo_engine.reports.evidence import (
    BanditLearning,
    Forecasts,
    Headline,
    Missing,
    Playbook,
    QiniCurves,
    UpliftTable,
    WeeklyEvidence,
)

__all__ = ["CURRENCY_SIGNS", "TITLES", "render_html"]

CURRENCY_SIGNS = {"GBP": "£", "EUR": "€", "USD": "$"}
#: Section -> (anchor on the page, title).
TITLES = {
    "headline": ("headline", "what the programme caused"),
    "uplift": ("uplift", "uplift per offer and segment"),
    "playbook": ("playbook", "playbook per segment"),
    "experiments": ("experiments", "experiments"),
    "qini": ("qini", "Qini curves"),
    "bandit": ("bandit", "what the bandit learned"),
    "policy_changes": ("changes", "policy changes"),
    "forecasts": ("forecasts", "forecasts"),
    "alerts": ("alerts", "drift and model-health warnings"),
    "data_quality": ("data-quality", "data quality"),
}


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("nbo_engine.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(pct=_pct, pp=_pp, num=_num, signed=_signed)
    env.tests["missing"] = lambda v: isinstance(v, Missing)
    return env


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _num(v: Any, digits: int = 0) -> str:
    f = _finite(v)
    return "–" if f is None else _minus(f"{f:,.{digits}f}")


def _minus(text: str) -> str:
    """A typographic minus sign, as the money figures have."""
    return "−" + text[1:] if text.startswith("-") else text


def _pct(v: Any, digits: int = 1) -> str:
    f = _finite(v)
    return "–" if f is None else _minus(f"{100 * f:.{digits}f}%")


def _pp(v: Any, digits: int = 1) -> str:
    """A difference of two rates in percentage points, signed."""
    f = _finite(v)
    return "–" if f is None else _minus(f"{100 * f:+.{digits}f} pp")


def _signed(v: Any, digits: int = 1) -> str:
    f = _finite(v)
    return "–" if f is None else _minus(f"{f:+,.{digits}f}")


def _money(currency: str) -> Callable[..., str]:
    sign = CURRENCY_SIGNS.get(currency)

    def money(v: Any, digits: int = 0, signed: bool = False) -> str:
        f = _finite(v)
        if f is None:
            return "–"
        body = f"{abs(f):,.{digits}f}"
        lead = ("+" if f >= 0 else "−") if signed else ("−" if f < 0 else "")
        return f"{lead}{sign}{body}" if sign else f"{lead}{body} {currency}"

    return money


def _svg(fig: Any, label: str) -> Markup | None:
    # The SVG is written by matplotlib, which escapes the text it holds.
    return None if fig is None else Markup(charts.to_svg(fig, label=label))


def _uplift_matrix(table: UpliftTable) -> dict[str, Any]:
    """Offers x segments of the value uplift, with the conversion uplift of
    the same cell for the tooltip."""
    f = table.frame
    value = f[f["metric"] == "value"].set_index(["offer", "segment"])
    conv = f[f["metric"] == "conversion"].set_index(["offer", "segment"])
    segments = sorted(f["segment"].astype(str).unique())
    offers = (
        f[["offer", "offer_name"]]
        .drop_duplicates("offer")
        .sort_values("offer")
        .itertuples(index=False)
    )
    rows = []
    for o in offers:
        cells: list[dict[str, Any] | None] = []
        for s in segments:
            key = (str(o.offer), s)
            if key not in value.index:
                cells.append(None)
                continue
            v = value.loc[key]  # type: ignore[index]
            c = conv.loc[key] if key in conv.index else None  # type: ignore[index]
            cells.append(
                {
                    "effect": v["effect"],
                    "ci_low": v["ci_low"],
                    "ci_high": v["ci_high"],
                    "n_treated": int(v["n_treated"]),
                    "n_control": int(v["n_control"]),
                    "harmful": bool(v["harmful"])
                    or bool(c is not None and c["harmful"]),
                    "helpful": bool(v["helpful"]),
                    "note": str(v["note"]),
                    "conversion": None if c is None else c["effect"],
                    "conversion_low": None if c is None else c["ci_low"],
                    "conversion_high": None if c is None else c["ci_high"],
                }
            )
        rows.append({"offer": o.offer, "name": o.offer_name, "cells": cells})
    bad = f[f["harmful"]]
    harmful = [
        {
            "offer": offer,
            "offer_name": str(cells["offer_name"].iloc[0]),
            "segment": segment,
            "n_treated": int(cells["n_treated"].max()),
            "metrics": cells[["metric", "effect", "ci_low", "ci_high"]].to_dict(
                "records"
            ),
        }
        for (offer, segment), cells in bad.groupby(["offer", "segment"], sort=True)
    ]
    return {"segments": segments, "rows": rows, "harmful": harmful}


def render_html(evidence: WeeklyEvidence) -> str:
    """The report page (UTF-8 text of one self-contained HTML document).

    Parameters
    ----------
    evidence : WeeklyEvidence

    Returns
    -------
    str
        The page. Missing sections read "not available this week because ...".
    """
    e = evidence
    svgs: dict[str, Markup | None] = {}
    if isinstance(e.headline, Headline):
        svgs["headline"] = _svg(charts.headline_chart(e.headline), "value per customer")
    if isinstance(e.uplift, UpliftTable):
        svgs["uplift"] = _svg(
            charts.uplift_chart(e.uplift), "uplift per offer and segment"
        )
    if isinstance(e.qini, QiniCurves):
        svgs["qini"] = _svg(charts.qini_chart(e.qini), "Qini curves")
    if isinstance(e.bandit, BanditLearning):
        svgs["bandit"] = _svg(charts.learning_chart(e.bandit), "bandit learning")
    if isinstance(e.forecasts, Forecasts):
        svgs["forecasts"] = _svg(charts.forecast_chart(e.forecasts), "forecasts")
    if isinstance(e.playbook, Playbook):
        svgs["trend"] = _svg(charts.trend_chart(e.playbook), "segment trends")
    template = _environment().get_template("weekly.html.j2")
    return template.render(
        e=e,
        svg=svgs,
        money=_money(e.currency),
        matrix=_uplift_matrix(e.uplift) if isinstance(e.uplift, UpliftTable) else None,
        missing=[TITLES[name] for name in e.missing()],
    )

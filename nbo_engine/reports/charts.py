"""The report's charts: matplotlib figures rendered to inline SVG text.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot, so no
global state and no display backend). Text stays text in the SVG
(``svg.fonttype: none``), so a browser can find the numbers in the page, and
math parsing is off, so a ``$`` in an offer or segment name is printed as
written; matplotlib escapes ``<``, ``>`` and ``&`` in the SVG it writes. The
XML prolog, the DOCTYPE and the metadata block (which carry URLs) are dropped:
the page fetches nothing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from nbo_engine.evaluation.metrics import plot_curves
from nbo_engine.reports.evidence import (
    BanditLearning,
    Forecasts,
    Headline,
    Playbook,
    QiniCurves,
    UpliftTable,
)

__all__ = [
    "HARM",
    "HELP",
    "forecast_chart",
    "headline_chart",
    "learning_chart",
    "qini_chart",
    "to_svg",
    "trend_chart",
    "uplift_chart",
]

HARM = "#c0392b"
HELP = "#1e8449"
NEUTRAL = "#7f8c8d"
ACCENT = "#1f4e79"
_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "nbo-weekly-report",
    "text.parse_math": False,
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_SIZE = re.compile(r'\s(width|height)="[^"]*"')
#: Most cells an uplift chart shows (the largest effects either way).
MAX_CELLS = 40
#: Most forecast series charted (the rest are in the figures' CSV).
MAX_SERIES = 6


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(_RC):  # type: ignore[arg-type]
        yield


def to_svg(fig: Figure, *, label: str) -> str:
    """The figure as an ``<svg>`` element for an HTML page, scaled to the
    page width; ``label`` (plain text, escaped here) is its ``aria-label``."""
    buf = io.StringIO()
    with _style():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = _METADATA.sub("", _PROLOG.sub("", buf.getvalue(), count=1), count=1)
    head, sep, rest = svg.partition(">")
    head = _SIZE.sub("", head)
    safe = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return (
        f'{head} role="img" aria-label="{safe}" '
        f'style="width:100%;height:auto;max-width:{fig.get_figwidth() * 96:.0f}px"'
        f"{sep}{rest}"
    )


def headline_chart(h: Headline) -> Figure:
    """Value per customer, holdout vs treated, with the effect's interval."""
    with _style():
        fig = Figure(figsize=(5.2, 1.9))
        ax = fig.add_subplot()
        v = h.value
        ax.barh([1, 0], [v.holdout, v.treated], color=[NEUTRAL, ACCENT])
        ax.errorbar(
            [v.holdout + v.effect],
            [0],
            xerr=[[v.effect - v.ci_low], [v.ci_high - v.effect]],
            fmt="none",
            ecolor="black",
            capsize=4,
        )
        ax.set_yticks([1, 0], ["holdout", "programme"])
        ax.set_xlabel(f"value per customer ({h.currency})")
        fig.tight_layout()
    return fig


def uplift_chart(table: UpliftTable) -> Figure | None:
    """Value uplift per offer x segment with intervals, harmful cells red."""
    cells = table.frame[
        (table.frame["metric"] == "value") & (table.frame["note"] == "")
    ]
    if cells.empty:
        return None
    cells = cells.reindex(cells["effect"].abs().sort_values(ascending=False).index)
    cells = cells.head(MAX_CELLS).sort_values("effect", kind="stable")
    labels = [
        f"{o} | {s}" for o, s in zip(cells["offer"], cells["segment"], strict=True)
    ]
    colour = np.where(
        cells["harmful"], HARM, np.where(cells["helpful"], HELP, NEUTRAL)
    ).tolist()
    y = np.arange(len(cells))
    with _style():
        fig = Figure(figsize=(6.4, 0.6 + 0.24 * len(cells)))
        ax = fig.add_subplot()
        est = cells["effect"].to_numpy()
        ax.hlines(y, cells["ci_low"], cells["ci_high"], colors=colour, linewidth=2)
        ax.scatter(est, y, c=colour, zorder=3, s=14)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_yticks(y, labels)
        ax.set_xlabel("value uplift per customer served (FCR-adjusted interval)")
        fig.tight_layout()
    return fig


def qini_chart(q: QiniCurves) -> Figure:
    """Qini curves of each ranking (the house plot, one home for it)."""
    with _style():
        fig = plot_curves(dict(q.curves), kind="qini")
        fig.set_size_inches(6.0, 3.6)
        fig.tight_layout()
    return fig


def learning_chart(b: BanditLearning) -> Figure:
    """Acceptance rate and choice entropy per week."""
    w = b.weekly
    x = pd.to_datetime(w["week"])
    with _style():
        fig = Figure(figsize=(6.4, 2.4))
        left, right = fig.subplots(1, 2)
        left.plot(x, w["accept_rate"], marker="o", color=ACCENT)
        left.set_title("share of offers accepted")
        left.set_ylim(bottom=0)
        right.plot(x, w["entropy"], marker="o", color=NEUTRAL)
        right.set_title("choice entropy (nats)")
        right.set_ylim(bottom=0)
        for ax in (left, right):
            ax.tick_params(axis="x", labelrotation=30)
        fig.tight_layout()
    return fig


def forecast_chart(f: Forecasts) -> Figure:
    """Small multiples of the largest series with 80% and 95% bands."""
    frame = f.frame
    top = (
        frame.groupby("series")["mean"]
        .sum()
        .sort_values(ascending=False)
        .index[:MAX_SERIES]
    )
    n = len(top)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    with _style():
        fig = Figure(figsize=(6.6, 2.1 * rows))
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, name in zip(axes, top, strict=False):
            s = frame[frame["series"] == name]
            x = pd.to_datetime(s["week"])
            if s["lo95"].notna().any():
                ax.fill_between(
                    x, s["lo95"], s["hi95"], color=ACCENT, alpha=0.12, linewidth=0
                )
            if s["lo80"].notna().any():
                ax.fill_between(
                    x, s["lo80"], s["hi80"], color=ACCENT, alpha=0.25, linewidth=0
                )
            ax.plot(x, s["mean"], color=ACCENT)
            ax.set_title(str(name), fontsize=8)
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        for ax in axes[n:]:
            ax.set_visible(False)
        fig.tight_layout()
    return fig


def trend_chart(p: Playbook) -> Figure | None:
    """Customers and mean CLV of each segment over the recent snapshots."""
    if not p.segments or max(len(s.trend) for s in p.segments) < 2:
        return None
    with _style():
        fig = Figure(figsize=(6.4, 2.4))
        size_ax, clv_ax = fig.subplots(1, 2)
        for s in p.segments:
            x = pd.to_datetime(s.trend["as_of"])
            size_ax.plot(x, s.trend["customers"], marker=".", label=s.segment)
            clv_ax.plot(x, s.trend["clv_mean"], marker=".", label=s.segment)
        size_ax.set_title("customers")
        clv_ax.set_title("mean CLV")
        clv_ax.legend(fontsize=7, loc="best")
        for ax in (size_ax, clv_ax):
            ax.tick_params(axis="x", labelrotation=30, labelsize=7)
        fig.tight_layout()
    return fig

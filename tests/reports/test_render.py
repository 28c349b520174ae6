"""The page: headline first, harm highlighted, missing sections explained,
names escaped, nothing fetched from elsewhere."""

from __future__ import annotations

import dataclasses
import re

import pytest

from nbo_engine.reports import (
    SECTIONS,
    Headline,
    Missing,
    UpliftTable,
    WeeklyEvidence,
    render_html,
)
from nbo_engine.reports.render import TITLES
from tests.reports.demo import HOSTILE_OFFER, HOSTILE_SEGMENT


def _money(v: float) -> str:
    return f"{'+' if v >= 0 else '−'}£{abs(v):,.0f}"


def test_headline_comes_first_with_its_numbers(
    demo: WeeklyEvidence, demo_html: str
) -> None:
    h = demo.headline
    assert isinstance(h, Headline)
    assert f'id="headline-value">{_money(h.incremental_value)}<' in demo_html
    lo, hi = h.incremental_ci
    assert f'id="headline-interval">{_money(lo)} to {_money(hi)}<' in demo_html
    assert f"<strong>{h.n_treated:,}</strong> customers" in demo_html
    assert f"{h.n_holdout:,}" in demo_html
    order = [
        demo_html.index(f'<section id="{s}"')
        for s in ("headline", "attention", "uplift")
    ]
    assert order == sorted(order)


def test_harmful_cells_are_highlighted(demo: WeeklyEvidence, demo_html: str) -> None:
    assert isinstance(demo.uplift, UpliftTable)
    bad = demo.uplift.harmful[["offer", "segment"]].drop_duplicates()
    assert len(bad) >= 1
    marked = re.findall(r'<td class="n harmful" data-harmful="true"', demo_html)
    assert len(marked) == len(bad)
    assert demo_html.count('<li class="harmful-item">') == len(bad)
    for offer, segment in bad.itertuples(index=False):
        assert f"({offer}) in segment <strong>{segment}</strong>" in demo_html


@pytest.mark.parametrize("part", [0, 1])
def test_missing_sections_are_explained(small: WeeklyEvidence, part: int) -> None:
    # half the sections missing per page (two pages: rendering is the slow part)
    gone = SECTIONS[part::2]
    reasons = {s: f"the {s} source is switched off (test)" for s in gone}
    html = render_html(
        dataclasses.replace(small, **{s: Missing(r) for s, r in reasons.items()})
    )
    for reason in reasons.values():
        assert html.count(f"Not available this week because {reason}.") == 1
    assert html.count("Not available this week because") == len(gone)
    attention = html.split("Needs attention")[1].split("</ul>")[0]
    for s in gone:
        anchor, title = TITLES[s]
        assert f'<a href="#{anchor}">{title}</a>' in attention
        assert f'<section id="{anchor}">' in html


def test_a_week_with_nothing_renders(small: WeeklyEvidence) -> None:
    empty = dataclasses.replace(
        small, **{s: Missing(f"nothing for {s}") for s in SECTIONS}, offer_names={}
    )
    html = render_html(empty)
    assert html.count("Not available this week because") == len(SECTIONS)
    assert "Harm cannot be checked" in html
    assert "<svg" not in html


def test_hostile_names_are_text(hostile_html: str) -> None:
    for raw in (HOSTILE_SEGMENT, HOSTILE_OFFER, "<script", "<img"):
        assert raw not in hostile_html
    assert "&lt;script&gt;alert(&#34;segment&#34;)&lt;/script&gt;" in hostile_html
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; $\\frac{a}{b}$" in hostile_html
    # the chart labels too: matplotlib escapes the SVG text, math is not parsed
    assert '&lt;script&gt;alert("segment")&lt;/script&gt;' in hostile_html


def test_the_page_fetches_nothing(demo_html: str) -> None:
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', demo_html)
    assert refs
    assert all(r.startswith("#") for r in refs), [
        r for r in refs if not r.startswith("#")
    ]
    for needle in ("<script", "<link", "<iframe", "@import", "url(http", "<metadata"):
        assert needle not in demo_html
    assert (
        demo_html.count("<svg") >= 6
    )  # headline, uplift, trend, qini, learning, forecasts

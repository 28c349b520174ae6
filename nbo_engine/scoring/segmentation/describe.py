"""Automatic segment profiles, in words a campaign manager can read.

For each segment: its size and share, its value (mean and median of a value
column, and the median as a multiple of the bank's), and the traits that set it
apart. A trait is a profile column compared between the segment and the rest:

* effect size: Cohen's d (difference of means over the pooled standard
  deviation), on ``log1p`` of amounts and counts so a few large customers do
  not decide it;
* significance: Welch's t-test on the same scale, computed from sufficient
  statistics (count, sum, sum of squares per segment), so every segment x
  column test is one vectorised step; p-values are corrected for the number of
  tests with Benjamini-Hochberg (false discovery rate);
* a trait is reported when its corrected q-value is below ``alpha`` and
  ``|d| >= min_effect``, largest ``|d|`` first.

Each trait is written as a phrase with the segment's and the bank's figures,
e.g. ``mostly mobile (82% of digital activity on mobile vs 55%)``, and the
largest two traits name the segment, e.g. ``high-value mature branch-loyal``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from nbo_engine.errors import DataValidationError
from nbo_engine.ingest.schemas import INCOME_BANDS
from nbo_engine.scoring.segmentation.traits import TRAITS, Trait

__all__ = ["SegmentProfile", "SegmentReport", "describe_segments"]


@dataclass(frozen=True)
class SegmentProfile:
    """One segment's automatic profile.

    ``traits`` holds the reported traits' rows of :attr:`SegmentReport.tests`
    (largest effect first); ``summary`` the sentence; ``value_ratio`` the
    median value over the bank's median (NaN without a value column).
    """

    segment: str
    name: str
    size: int
    share: float
    value_mean: float
    value_median: float
    value_ratio: float
    traits: pd.DataFrame
    summary: str


@dataclass(frozen=True)
class SegmentReport:
    """Profiles of all segments (largest first) and every test behind them.

    ``tests`` has one row per segment x column: segment, column, stat_segment,
    stat_all, effect (Cohen's d), t, p, q (BH-corrected), reported.
    """

    profiles: tuple[SegmentProfile, ...]
    tests: pd.DataFrame

    def frame(self) -> pd.DataFrame:
        """One row per segment: name, size, share, value, summary."""
        return pd.DataFrame(
            [
                {
                    "segment": p.segment,
                    "name": p.name,
                    "size": p.size,
                    "share": p.share,
                    "value_mean": p.value_mean,
                    "value_median": p.value_median,
                    "value_ratio": p.value_ratio,
                    "summary": p.summary,
                }
                for p in self.profiles
            ]
        )

    def names(self) -> dict[str, str]:
        """Segment -> generated name."""
        return {p.segment: p.name for p in self.profiles}


def describe_segments(
    profile: pd.DataFrame,
    labels: ArrayLike,
    *,
    value: ArrayLike | None = None,
    value_label: str = "12-month value",
    traits: tuple[Trait, ...] = TRAITS,
    alpha: float = 0.01,
    min_effect: float = 0.3,
    max_traits: int = 4,
    currency: str = "£",
) -> SegmentReport:
    """Profile every segment of ``labels`` against the rest of the customers.

    Parameters
    ----------
    profile : customer profile, n rows; the columns of ``traits`` that it has
        are compared (others are skipped).
    labels : segment of each customer, shape (n,) (any hashable values).
    value : value score per customer, shape (n,), e.g. 12-month CLV (currency).
    alpha, min_effect : BH q-value and |Cohen's d| a trait must pass.
    max_traits : traits per summary.

    Returns
    -------
    :class:`SegmentReport`.

    Examples
    --------
    >>> prof = pd.DataFrame({"dig_mobile_share": [0.9, 0.8, 0.95, 0.85] * 25
    ...                      + [0.2, 0.3, 0.25, 0.1] * 25})
    >>> rep = describe_segments(prof, ["a"] * 100 + ["b"] * 100)
    >>> rep.profiles[0].summary
    '50% of customers; mostly mobile (88% of digital activity on mobile vs 54%)'
    """
    lab = np.asarray(labels)
    n = len(profile)
    if lab.shape != (n,):
        raise DataValidationError(
            f"describe_segments: labels of shape {lab.shape}; expected ({n},), one "
            "per profile row"
        )
    if n == 0:
        raise DataValidationError("describe_segments: profile has no rows")
    keys, codes = np.unique(lab.astype(str), return_inverse=True)
    codes = codes.reshape(-1)
    k = len(keys)
    used = [t for t in traits if t.column in profile.columns]
    tests = _tests(profile, used, codes, k)
    if len(tests):
        ok = np.isfinite(tests["p"].to_numpy())
        q = np.full(len(tests), np.nan)
        if ok.any():
            q[ok] = stats.false_discovery_control(
                tests["p"].to_numpy()[ok], method="bh"
            )
        tests["q"] = q
        tests["reported"] = (q < alpha) & (tests["effect"].abs() >= min_effect)
        tests["segment"] = keys[tests["code"].to_numpy()]
    v = None if value is None else np.asarray(value, dtype=np.float64)
    if v is not None and v.shape != (n,):
        raise DataValidationError(
            f"describe_segments: value of shape {v.shape}; expected ({n},)"
        )
    bank_median = float(np.nanmedian(v)) if v is not None else float("nan")
    by_trait = {t.column: t for t in used}
    size = np.bincount(codes, minlength=k)
    profiles = []
    taken: set[str] = set()
    for c in np.argsort(-size, kind="stable"):  # a few segments
        rows = tests[(tests["code"] == c) & tests["reported"]] if len(tests) else tests
        rows = rows.reindex(rows["effect"].abs().sort_values(ascending=False).index)
        vm = vmed = ratio = float("nan")
        if v is not None:
            seg_v = v[codes == c]
            vm, vmed = float(np.nanmean(seg_v)), float(np.nanmedian(seg_v))
            ratio = vmed / bank_median if bank_median > 0 else float("nan")
        phrases = [f"{size[c] / n:.0%} of customers"]
        if v is not None:
            phrases.append(_value_phrase(vm, vmed, ratio, v, value_label))
        for _, r in rows.head(max_traits).iterrows():
            phrases.append(_phrase(by_trait[r["column"]], r, currency))
        name = _name(rows, by_trait, ratio, taken)
        taken.add(name)
        profiles.append(
            SegmentProfile(
                segment=str(keys[c]),
                name=name,
                size=int(size[c]),
                share=size[c] / n,
                value_mean=vm,
                value_median=vmed,
                value_ratio=ratio,
                traits=rows.drop(columns=["code"]).reset_index(drop=True),
                summary="; ".join(phrases),
            )
        )
    if len(tests):
        tests = tests.drop(columns=["code"])[
            [
                "segment",
                "column",
                "stat_segment",
                "stat_all",
                "effect",
                "t",
                "p",
                "q",
                "reported",
            ]
        ]
    return SegmentReport(tuple(profiles), tests)


def _tests(
    profile: pd.DataFrame, used: list[Trait], codes: NDArray[np.intp], k: int
) -> pd.DataFrame:
    """Welch t and Cohen's d of every (segment, column) vs the rest, from
    per-segment sufficient statistics."""
    parts = []
    for t in used:  # a few dozen columns
        x = pd.to_numeric(profile[t.column], errors="coerce").to_numpy(np.float64)
        scale = np.log1p(np.clip(x, 0, None)) if t.kind in ("amount", "count") else x
        ok = np.isfinite(scale)
        n_s = np.bincount(codes[ok], minlength=k).astype(np.float64)
        s1 = np.bincount(codes[ok], weights=scale[ok], minlength=k)
        s2 = np.bincount(codes[ok], weights=scale[ok] ** 2, minlength=k)
        n_r, r1, r2 = n_s.sum() - n_s, s1.sum() - s1, s2.sum() - s2
        with np.errstate(invalid="ignore", divide="ignore"):
            m_s, m_r = s1 / n_s, r1 / n_r
            v_s = (s2 - n_s * m_s**2) / (n_s - 1)
            v_r = (r2 - n_r * m_r**2) / (n_r - 1)
            v_s, v_r = np.maximum(v_s, 0.0), np.maximum(v_r, 0.0)
            se2 = v_s / n_s + v_r / n_r
            tstat = (m_s - m_r) / np.sqrt(se2)
            df = se2**2 / ((v_s / n_s) ** 2 / (n_s - 1) + (v_r / n_r) ** 2 / (n_r - 1))
            p = 2.0 * stats.t.sf(np.abs(tstat), df)
            pooled = np.sqrt(((n_s - 1) * v_s + (n_r - 1) * v_r) / (n_s + n_r - 2))
            effect = (m_s - m_r) / pooled
        p = np.where(np.isfinite(tstat) & (se2 > 0), p, np.nan)
        effect = np.where(np.isfinite(effect), effect, 0.0)
        seg_stat, all_stat = _shown(x, codes, k, t.kind)
        parts.append(
            pd.DataFrame(
                {
                    "code": np.arange(k),
                    "column": t.column,
                    "stat_segment": seg_stat,
                    "stat_all": all_stat,
                    "effect": effect,
                    "t": tstat,
                    "p": p,
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            columns=[
                "code",
                "column",
                "stat_segment",
                "stat_all",
                "effect",
                "t",
                "p",
                "q",
                "reported",
            ]
        )
    return pd.concat(parts, ignore_index=True)


def _shown(
    x: NDArray[np.float64], codes: NDArray[np.intp], k: int, kind: str
) -> tuple[NDArray[np.float64], float]:
    """The statistic a reader sees: mean for shares, flags, counts and sentiment,
    median otherwise; per segment (k,) and for everyone."""
    ok = np.isfinite(x)
    if kind in ("share", "flag", "count", "sentiment"):
        n = np.bincount(codes[ok], minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            seg = np.bincount(codes[ok], weights=x[ok], minlength=k) / n
        return seg, float(x[ok].mean()) if ok.any() else float("nan")
    frame = pd.DataFrame({"c": codes[ok], "x": x[ok]})
    seg = frame.groupby("c")["x"].median().reindex(range(k)).to_numpy(np.float64)
    return seg, float(np.median(x[ok])) if ok.any() else float("nan")


def _fmt(kind: str, value: float, currency: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    formats: dict[str, Callable[[float], str]] = {
        "share": lambda v: f"{v:.0%}",
        "flag": lambda v: f"{v:.0%}",
        "amount": lambda v: f"{currency}{v:,.0f}",
        "count": lambda v: f"{v:.1f}",
        "number": lambda v: f"{v:,.0f}",
        "sentiment": lambda v: f"{v:+.2f}",
        "income": lambda v: INCOME_BANDS[
            int(np.clip(round(v), 0, len(INCOME_BANDS) - 1))
        ],
    }
    return formats[kind](value)


def _phrase(t: Trait, r: pd.Series, currency: str) -> str:
    detail = t.detail.format(
        seg=_fmt(t.kind, r["stat_segment"], currency),
        all=_fmt(t.kind, r["stat_all"], currency),
    )
    return f"{t.high if r['effect'] > 0 else t.low} ({detail})"


def _value_phrase(
    mean: float, median: float, ratio: float, v: NDArray[np.float64], label: str
) -> str:
    if not np.isfinite(ratio):
        bank = float(np.nanmean(v))
        r = mean / bank if bank > 0 else float("nan")
        word = _value_word(r)
        return (
            f"{word} (mean {label} {r:.1f}x the bank's)"
            if np.isfinite(r)
            else "value n/a"
        )
    return f"{_value_word(ratio)} (median {label} {ratio:.1f}x the bank's)"


def _value_word(ratio: float) -> str:
    if ratio >= 1.5:
        return "high value"
    if ratio <= 2 / 3:
        return "low value"
    return "average value"


def _name(
    rows: pd.DataFrame, by_trait: dict[str, Trait], ratio: float, taken: set[str]
) -> str:
    """Value word plus the two largest traits' name words; extended by further
    traits (then a number) until unique among the segments named so far."""
    words: list[str] = []
    if np.isfinite(ratio) and _value_word(ratio) != "average value":
        words.append(_value_word(ratio).replace(" ", "-"))
    trait_words = []
    for _, r in rows.iterrows():
        t = by_trait[r["column"]]
        w = t.high_name if r["effect"] > 0 else t.low_name
        if w and w not in trait_words:
            trait_words.append(w)
    base = words + trait_words[:2]
    extra = trait_words[2:]
    name = " ".join(base) or "mainstream"
    while name in taken and extra:
        base.append(extra.pop(0))
        name = " ".join(base)
    i = 2
    stem = name
    while name in taken:
        name = f"{stem} {i}"
        i += 1
    return name

"""A synthetic week with a known truth, for the report's pure tests.

Customers in three segments, 10% in the global holdout, each treated customer
served one of three offers at random; every product is taken up organically
with probability ``BASE`` and the served offer's product with ``BASE +
UPLIFT[offer, segment]`` (one cell harmful, one strongly helpful). The
evidence is built with the real pure functions, so tests can check the numbers
against the truth. ``python -m tests.reports.demo OUT`` writes the demo page.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nbo_engine.experiments import parse_experiment, readout, sample_stats
from nbo_engine.reports import (
    ExperimentResult,
    Experiments,
    Missing,
    OfferInfo,
    WeeklyEvidence,
    alerts,
    bandit_learning,
    data_quality,
    forecasts,
    headline,
    playbook,
    policy_changes,
    qini_curves,
    unit_outcomes,
    units_from_decisions,
    uplift_table,
)

WEEK = dt.date(2026, 6, 1)
SEGMENTS = ("digital_spenders", "affluent_savers", "stretched_borrowers")
OFFERS = {
    "cc_cashback": OfferInfo("credit_card", "Cashback credit card", 180.0, 1.0),
    "savings_boost": OfferInfo("savings", "Boosted savings rate", 90.0, 0.5),
    "loan_rate_discount": OfferInfo(
        "personal_loan", "Personal loan rate discount", 240.0, 1.5
    ),
}
PRODUCT_VALUE = {i.product: i.margin for i in OFFERS.values()}
BASE = 0.06
#: True 30-day take-up uplift of each offer's product, per segment.
UPLIFT = {
    ("cc_cashback", "digital_spenders"): 0.10,
    ("cc_cashback", "affluent_savers"): 0.02,
    ("cc_cashback", "stretched_borrowers"): -0.05,
    ("savings_boost", "digital_spenders"): 0.01,
    ("savings_boost", "affluent_savers"): 0.06,
    ("savings_boost", "stretched_borrowers"): 0.0,
    ("loan_rate_discount", "digital_spenders"): 0.0,
    ("loan_rate_discount", "affluent_savers"): 0.0,
    ("loan_rate_discount", "stretched_borrowers"): 0.03,
}
HOSTILE_SEGMENT = '<script>alert("segment")</script>'
HOSTILE_OFFER = "<img src=x onerror=alert(1)> & $\\frac{a}{b}$"


def true_value_uplift() -> float:
    """True value uplift per treated customer (offers served uniformly,
    segments equally likely)."""
    return float(
        np.mean([UPLIFT[o, s] * OFFERS[o][2] for o in OFFERS for s in SEGMENTS])
    )


def demo_inputs(
    n: int = 12_000, seed: int = 0, *, segments: tuple[str, ...] = SEGMENTS
) -> dict[str, pd.DataFrame]:
    """Decision rows (4 weeks), take-up, rankings and scores of the demo."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(WEEK) + pd.Timedelta(days=7)
    ids = np.array([f"C{i:06d}" for i in range(n)])
    seg_i = rng.integers(0, len(SEGMENTS), n)
    seg = np.asarray(segments, dtype=object)[seg_i]
    holdout = rng.random(n) < 0.10
    ts = end - pd.to_timedelta(rng.uniform(0.5, 27.5, n), unit="D")
    names = list(OFFERS)
    offer_i = rng.integers(0, len(names), n)
    offer = np.where(holdout, None, np.asarray(names, dtype=object)[offer_i])
    # later weeks: the bandit is surer of its choice
    age = ((end - ts) / pd.Timedelta(days=28)).to_numpy(np.float64)
    propensity = np.where(holdout, np.nan, np.clip(0.4 + 0.55 * (1 - age), 0.34, 0.99))
    decisions = pd.DataFrame(
        {
            "decision_id": [f"d{i:06d}" for i in range(n)],
            "ts": ts,
            "customer_id": ids,
            "channel": rng.choice(["web", "mobile", "email"], n, p=[0.5, 0.3, 0.2]),
            "experiment": np.where(holdout, "global_holdout", None),
            "variant": np.where(holdout, "holdout", None),
            "segment": seg,
            "rank": np.where(holdout, np.nan, 1.0),
            "offer_id": offer,
            "propensity": propensity,
        }
    )
    rows = []
    true_score = np.zeros(n)
    for k, (o, info) in enumerate(OFFERS.items()):
        lift = np.array([UPLIFT[o, SEGMENTS[j]] for j in seg_i])
        served = ~holdout & (offer_i == k)
        p = BASE + np.where(served, lift, 0.0)
        took = rng.random(n) < p
        when = ts + pd.to_timedelta(rng.uniform(0, 20, n), unit="D")
        took &= when < end
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": ids[took],
                    "ts": when[took],
                    "outcome": "product_open",
                    "product": info.product,
                }
            )
        )
        # a treated customer gets one of the offers at random: the true
        # intention-to-treat uplift is the mean over offers
        true_score += (lift * info.margin - info.cost) / len(OFFERS)
    # guardrails: a few complaints and churners everywhere
    for kind, rate in (("complaint", 0.02), ("churn", 0.005)):
        hit = rng.random(n) < rate
        when = ts + pd.to_timedelta(rng.uniform(0, 20, n), unit="D")
        hit &= when < end
        rows.append(
            pd.DataFrame(
                {
                    "customer_id": ids[hit],
                    "ts": when[hit],
                    "outcome": kind,
                    "product": None,
                }
            )
        )
    outcomes = pd.concat(rows, ignore_index=True)
    accepted = decisions[decisions["offer_id"].notna()].merge(
        outcomes[outcomes["outcome"] == "product_open"], on="customer_id"
    )
    accepted = accepted[
        accepted["product"] == accepted["offer_id"].map(lambda o: OFFERS[o].product)
    ]
    events = pd.DataFrame(
        {
            "decision_id": accepted["decision_id"],
            "offer_id": accepted["offer_id"],
            "value": accepted["offer_id"].map(lambda o: OFFERS[o].margin),
        }
    ).drop_duplicates(["decision_id", "offer_id"])
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "true uplift": true_score + rng.normal(0, 0.5, n),
            "random score": rng.random(n),
        }
    )
    latest = pd.DataFrame(
        {
            "customer_id": ids,
            "segment": seg,
            "clv_12m": rng.gamma(2.0, 400.0, n),
            "churn_90d": rng.beta(1.5, 8.0, n),
        }
    )
    return {
        "decisions": decisions,
        "outcomes": outcomes,
        "events": events,
        "scores": scores,
        "latest": latest,
    }


def _trend(latest: pd.DataFrame) -> pd.DataFrame:
    now = latest.groupby("segment").agg(
        customers=("customer_id", "size"),
        clv_mean=("clv_12m", "mean"),
        churn_mean=("churn_90d", "mean"),
    )
    frames = []
    for k, weeks in enumerate((8, 4, 0)):
        f = now.copy()
        f["customers"] = (f["customers"] * (1 - 0.01 * (2 - k))).astype(int)
        f["clv_mean"] = f["clv_mean"] * (1 - 0.02 * (2 - k))
        frames.append(f.reset_index().assign(as_of=WEEK - dt.timedelta(weeks=weeks)))
    return pd.concat(frames, ignore_index=True)


def _operations() -> dict[str, object]:
    proposals = pd.DataFrame(
        {
            "id": [7],
            "status": ["proposed"],
            "mode": ["propose"],
            "created_at": [dt.datetime(2026, 6, 7, 6, 0)],
            "changes": [
                json.dumps(
                    [
                        {
                            "kind": "suppress",
                            "offer": "cc_cashback",
                            "segment": "stretched_borrowers",
                            "before": "eligible",
                            "after": "suppressed",
                            "reason": "take-up uplift confidently negative",
                            "evidence": {
                                "effect": -0.05,
                                "ci": [-0.08, -0.02],
                                "n": 1100,
                            },
                        }
                    ]
                )
            ],
        }
    )
    monitor = pd.DataFrame(
        {
            "id": [3],
            "as_of": [dt.date(2026, 6, 6)],
            "report": [
                json.dumps(
                    {
                        "alerts": [
                            {
                                "kind": "drift",
                                "subject": "feature dig_logins_30",
                                "value": 0.31,
                                "threshold": 0.2,
                                "message": "PSI 0.31 above 0.2 since the last snapshot",
                            }
                        ]
                    }
                )
            ],
            "retrain_requested": [True],
        }
    )
    runs = pd.DataFrame(
        {
            "entity": ["transactions", "transactions", "accounts"],
            "status": ["succeeded", "failed", "succeeded"],
            "rows_read": [120_000, 500, 3_000],
            "rows_inserted": [119_200, 0, 2_950],
            "rows_updated": [0, 0, 40],
            "rows_fixed": [310, 0, 12],
            "rows_quarantined": [420, 0, 10],
            "duplicates_dropped": [380, 0, 0],
            "quarantine_reasons": [
                json.dumps({"bad_amount": 300, "unknown_account": 120}),
                "{}",
                json.dumps({"bad_date": 10}),
            ],
        }
    )
    weeks = pd.date_range("2026-06-08", periods=13, freq="W-MON")
    fc = pd.concat(
        [
            pd.DataFrame(
                {
                    "series": f"new accounts: {p}",
                    "week": weeks,
                    "model": "AutoETS",
                    "mean": m + np.arange(13) * 2.0,
                }
            ).assign(
                lo80=lambda f: f["mean"] * 0.9,
                hi80=lambda f: f["mean"] * 1.1,
                lo95=lambda f: f["mean"] * 0.85,
                hi95=lambda f: f["mean"] * 1.15,
            )
            for p, m in (("savings", 420.0), ("credit_card", 260.0), ("mortgage", 40.0))
        ],
        ignore_index=True,
    )
    return {"proposals": proposals, "monitor": monitor, "runs": runs, "forecasts": fc}


def _experiment(seed: int) -> ExperimentResult:
    spec = parse_experiment(
        {
            "name": "savings-message-q2",
            "kind": "message",
            "start": "2026-04-01",
            "end": "2026-06-05",
            "variants": [
                {"name": "holdout", "weight": 0.2, "control": True},
                {"name": "rate-led", "weight": 0.4, "treatment": "msg-rate"},
                {"name": "goal-led", "weight": 0.4, "treatment": "msg-goal"},
            ],
            "metrics": {
                "primary": "conversion",
                "secondary": ["value"],
                "guardrails": ["complaints"],
            },
            "planned_sample_size": 6000,
        }
    )
    rng = np.random.default_rng(seed + 1)
    variant = rng.choice(["holdout", "rate-led", "goal-led"], 6000, p=[0.2, 0.4, 0.4])
    p = np.select([variant == "rate-led", variant == "goal-led"], [0.09, 0.06], 0.05)
    conv = (rng.random(6000) < p).astype(float)
    g = pd.Series(variant).map({v: i for i, v in enumerate(spec.variant_names)})
    groups = g.to_numpy(np.int64)
    outcomes = {
        "conversion": conv,
        "value": conv * 90.0,
        "complaints": rng.poisson(0.02, 6000).astype(float),
    }
    r = readout(spec, {m: sample_stats(y, groups, 3) for m, y in outcomes.items()})
    return ExperimentResult(
        name=spec.name,
        kind=spec.kind,
        status="stopped",
        started_at=dt.datetime(2026, 4, 1),
        stopped_at=dt.datetime(2026, 6, 5, 9, 0),
        stop_reason="planned sample reached",
        units=6000,
        readout=r,
    )


def demo_evidence(
    n: int = 12_000, seed: int = 0, *, hostile: bool = False, **missing: str
) -> WeeklyEvidence:
    """The demo week's evidence; ``hostile`` renames a segment and an offer
    to markup; ``section="reason"`` replaces a section by a Missing."""
    segments = (HOSTILE_SEGMENT, *SEGMENTS[1:]) if hostile else SEGMENTS
    names = {o: i.name for o, i in OFFERS.items()}
    if hostile:
        names["cc_cashback"] = HOSTILE_OFFER
    d = demo_inputs(n, seed, segments=segments)
    end = pd.Timestamp(WEEK) + pd.Timedelta(days=7)
    window = (end - pd.Timedelta(weeks=4), end)
    costs = {o: i.cost for o, i in OFFERS.items()}
    units = units_from_decisions(d["decisions"], costs)
    clv = d["latest"].set_index("customer_id")["clv_12m"]
    out = unit_outcomes(
        units,
        d["outcomes"],
        until=end,
        attribution_days=30,
        product_value=PRODUCT_VALUE,
        clv=clv,
    )
    offers = {
        o: OfferInfo(i.product, names[o], i.margin, i.cost) for o, i in OFFERS.items()
    }
    served = d["decisions"].dropna(subset=["offer_id"])[["customer_id", "offer_id"]]
    uplift = uplift_table(out, served, offers)
    treated = d["decisions"][d["decisions"]["experiment"].isna()]
    channels = (
        treated.merge(
            d["events"].assign(accepted=1), on=["decision_id", "offer_id"], how="left"
        )
        .fillna({"accepted": 0})
        .groupby(["segment", "channel"], as_index=False)
        .agg(offered=("offer_id", "size"), accepted=("accepted", "sum"))
    )
    ops = _operations()
    sections: dict[str, object] = {
        "headline": headline(
            out, window=window, outcome_source="products taken up (demo)"
        ),
        "uplift": uplift,
        "playbook": playbook(
            _trend(d["latest"]),
            d["latest"],
            uplift,
            channels,
            retention_offers=("savings_boost",),
        ),
        "experiments": Experiments(finished=(_experiment(seed),), running=()),
        "qini": qini_curves(out, d["scores"]),
        "bandit": bandit_learning(
            treated,
            d["events"],
            week=pd.Timestamp(WEEK),
            offer_names=names,
            rewards_folded=9_870,
        ),
        "policy_changes": policy_changes(ops["proposals"]),  # type: ignore[arg-type]
        "forecasts": forecasts(ops["forecasts"]),  # type: ignore[arg-type]
        "alerts": alerts(ops["monitor"], week=WEEK),  # type: ignore[arg-type]
        "data_quality": data_quality(ops["runs"], since=WEEK, until=end.date()),  # type: ignore[arg-type]
    }
    for name, reason in missing.items():
        sections[name] = Missing(reason)
    return WeeklyEvidence(
        week=WEEK,
        generated_at=dt.datetime(2026, 6, 8, 6, 0, tzinfo=dt.UTC),
        currency="GBP",
        policy_name="retail_default",
        offer_names=names,
        **sections,  # type: ignore[arg-type]
    )


if __name__ == "__main__":  # pragma: no cover - writes the demo page
    from nbo_engine.reports import render_html, write_figures

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "weekly-demo")
    target.mkdir(parents=True, exist_ok=True)
    ev = demo_evidence()
    write_figures(ev, target)
    (target / "report.html").write_text(render_html(ev), encoding="utf-8")
    print(target / "report.html")

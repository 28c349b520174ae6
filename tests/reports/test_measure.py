"""The headline and the offer x segment uplift, against the simulator-free
truth of the demo week and against scipy / statsmodels on the same units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats import proportion

from nbo_engine.reports import (
    Headline,
    Missing,
    OfferInfo,
    UpliftTable,
    headline,
    unit_outcomes,
    units_from_decisions,
    uplift_table,
)
from tests.reports.demo import OFFERS, PRODUCT_VALUE, UPLIFT, WEEK, demo_inputs

WINDOW = (pd.Timestamp("2026-05-11"), pd.Timestamp("2026-06-08"))


def _units(rng: np.random.Generator, n: int = 3000) -> pd.DataFrame:
    arm = np.where(rng.random(n) < 0.2, "holdout", "treated")
    lift = np.where(arm == "treated", 0.05, 0.0)
    converted = (rng.random(n) < 0.1 + lift).astype(float)
    return pd.DataFrame(
        {
            "arm": arm,
            "converted": converted,
            "value": converted * rng.gamma(2.0, 60.0, n) - 0.5 * (arm == "treated"),
            "churned": (rng.random(n) < 0.02).astype(float),
            "complaints": rng.poisson(0.05, n).astype(float),
        }
    )


def test_headline_equals_scipy_welch_and_statsmodels_wald(
    rng: np.random.Generator,
) -> None:
    u = _units(rng)
    h = headline(u, window=WINDOW)
    assert isinstance(h, Headline)
    t, c = u[u["arm"] == "treated"], u[u["arm"] == "holdout"]
    ref = stats.ttest_ind(t["value"], c["value"], equal_var=False)
    lo, hi = ref.confidence_interval(0.95)
    # the same estimator on the same numbers: equal up to floating point
    assert h.value.effect == pytest.approx(
        t["value"].mean() - c["value"].mean(), abs=1e-12
    )
    assert (h.value.ci_low, h.value.ci_high) == pytest.approx((lo, hi), rel=1e-9)
    assert h.value.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    args = (t["converted"].sum(), len(t), c["converted"].sum(), len(c))
    clo, chi = proportion.confint_proportions_2indep(
        *args, method="wald", compare="diff"
    )
    assert (h.conversion.ci_low, h.conversion.ci_high) == pytest.approx(
        (clo, chi), rel=1e-9
    )
    pz = proportion.test_proportions_2indep(*args, method="wald", compare="diff").pvalue
    assert h.conversion.p_value == pytest.approx(pz, rel=1e-9)
    assert h.n_treated == len(t)
    assert h.incremental_value == pytest.approx(h.value.effect * len(t))
    assert h.incremental_ci == pytest.approx(
        (h.value.ci_low * len(t), h.value.ci_high * len(t))
    )


def test_headline_says_why_it_is_missing() -> None:
    no_holdout = pd.DataFrame(
        {
            "arm": ["treated"] * 5,
            "converted": 1.0,
            "value": 1.0,
            "churned": 0.0,
            "complaints": 0.0,
        }
    )
    got = headline(no_holdout, window=WINDOW)
    assert isinstance(got, Missing)
    assert "reached 5 treated and 0 global-holdout customers" in got.because
    nothing = no_holdout.assign(
        arm=["treated", "holdout"] * 2 + ["holdout"], converted=0.0, value=0.0
    )
    got = headline(nothing, window=WINDOW)
    assert isinstance(got, Missing)
    assert str(got).startswith("not available this week because no take-up, churn or")


def _demo_table(seed: int) -> UpliftTable:
    d = demo_inputs(12_000, seed)
    end = pd.Timestamp(WEEK) + pd.Timedelta(days=7)
    units = units_from_decisions(d["decisions"], {o: i.cost for o, i in OFFERS.items()})
    out = unit_outcomes(
        units,
        d["outcomes"],
        until=end,
        attribution_days=30,
        product_value=PRODUCT_VALUE,
        clv=d["latest"].set_index("customer_id")["clv_12m"],
    )
    served = d["decisions"].dropna(subset=["offer_id"])[["customer_id", "offer_id"]]
    table = uplift_table(out, served, OFFERS)
    assert isinstance(table, UpliftTable)
    return table


def test_harmful_cells_are_the_truly_harmful_ones(seed: int) -> None:
    f = _demo_table(seed).frame
    truth = f.apply(lambda r: UPLIFT[r["offer"], r["segment"]], axis=1)
    # never a false alarm: a flagged cell lowers take-up in truth ...
    assert (truth[f["harmful"]] < 0).all()
    # ... the one harmful cell (-5 points of take-up) is found ...
    bad = f[(f["offer"] == "cc_cashback") & (f["segment"] == "stretched_borrowers")]
    assert bad["harmful"].any()
    # ... and the strongly helpful one (+10 points) is not mistaken for harm
    good = f[(f["offer"] == "cc_cashback") & (f["segment"] == "digital_spenders")]
    assert good["helpful"].any()
    assert not good["harmful"].any()


def test_cells_equal_the_references_on_the_same_units(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2400
    seg = rng.choice(["a", "b"], n)
    arm = np.where(rng.random(n) < 0.25, "holdout", "treated")
    conv = (rng.random(n) < np.where(arm == "treated", 0.2, 0.1)).astype(float)
    churned = (rng.random(n) < 0.03).astype(float)
    clv = rng.gamma(2.0, 300.0, n)
    out = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "arm": arm,
            "segment": seg,
            "conv:savings": conv,
            "converted": conv,
            "churned": churned,
            "clv": clv,
        }
    )
    served = out.loc[arm == "treated", ["customer_id"]].assign(offer_id="boost")
    offers = {"boost": OfferInfo("savings", "Boost", 90.0, 0.5)}
    f = uplift_table(out, served, offers, min_units=10).frame  # type: ignore[union-attr]
    for r in f.itertuples():
        t = (out["arm"] == "treated") & (out["segment"] == r.segment)
        c = (out["arm"] == "holdout") & (out["segment"] == r.segment)
        if r.metric == "value":
            yt = 90.0 * conv[t] - 0.5 - churned[t] * clv[t]
            yc = 90.0 * conv[c] - churned[c] * clv[c]
            welch = stats.ttest_ind(yt, yc, equal_var=False)
            ref, (lo, hi) = welch.pvalue, welch.confidence_interval(0.95)
            assert r.mean_treated == pytest.approx(yt.mean())
        else:
            args = (conv[t].sum(), t.sum(), conv[c].sum(), c.sum())
            ref = proportion.test_proportions_2indep(
                *args, method="wald", compare="diff"
            ).pvalue
            lo, hi = proportion.confint_proportions_2indep(
                *args, method="wald", compare="diff"
            )
        assert (r.n_treated, r.n_control) == (t.sum(), c.sum())
        assert r.p_value == pytest.approx(ref, rel=1e-9)
        # FCR-adjusted intervals hold the raw 95% ones (adjusted level >= 95%)
        assert r.ci_low <= lo + 1e-9
        assert r.ci_high >= hi - 1e-9


def test_small_cells_are_shown_but_never_flagged() -> None:
    n = 40
    out = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "arm": ["holdout"] * 20 + ["treated"] * 20,
            "segment": "a",
            "conv:savings": [1.0] * 20 + [0.0] * 20,  # a huge apparent harm
            "converted": [1.0] * 20 + [0.0] * 20,
            "churned": 0.0,
            "clv": 0.0,
        }
    )
    served = out.loc[out["arm"] == "treated", ["customer_id"]].assign(offer_id="boost")
    offers = {"boost": OfferInfo("savings", "Boost", 90.0, 0.5)}
    f = uplift_table(out, served, offers, min_units=30).frame  # type: ignore[union-attr]
    assert not f["harmful"].any()
    assert set(f["note"]) <= {"fewer than 30 units", "zero_variance"}


def test_uplift_needs_the_holdout() -> None:
    out = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "arm": "treated",
            "segment": "s",
            "converted": 1.0,
            "churned": 0.0,
        }
    )
    got = uplift_table(out, pd.DataFrame(columns=["customer_id", "offer_id"]), {})
    assert isinstance(got, Missing)
    assert "only 0 global-holdout customers" in got.because

"""Acceptance rates and Wilson intervals against statsmodels; drop alerts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from nbo_engine.monitoring import (
    ALL_CHANNELS,
    acceptance_table,
    build_alerts,
    wilson_interval,
)


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_wilson_matches_statsmodels(rng: np.random.Generator, alpha: float) -> None:
    n = rng.integers(1, 5000, 200)
    x = rng.binomial(n, rng.uniform(0, 0.3, 200))
    x[:3] = [0, n[1], 1]  # the edges: none and all accepted
    low, high = wilson_interval(x, n, alpha)
    ref_low, ref_high = proportion_confint(x, n, alpha=alpha, method="wilson")
    # Same closed form; differences are float rounding only.
    np.testing.assert_allclose(low, ref_low, atol=1e-12)
    np.testing.assert_allclose(high, ref_high, atol=1e-12)


def test_wilson_with_no_trials_is_the_whole_unit_interval() -> None:
    low, high = wilson_interval([0], [0])
    assert (low[0], high[0]) == (0.0, 1.0)


def _counts(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["offer_id", "channel", "shown", "accepted"])


def test_table_has_each_offer_channel_and_an_all_channels_row() -> None:
    now = _counts(
        [("cc", "web", 400, 40), ("cc", "email", 100, 2), ("isa", "web", 50, 5)]
    )
    before = _counts([("cc", "web", 300, 33), ("loan", "mobile", 80, 4)])
    rows = {(r.offer_id, r.channel): r for r in acceptance_table(now, before)}
    assert set(rows) == {
        ("cc", "web"),
        ("cc", "email"),
        ("cc", ALL_CHANNELS),
        ("isa", "web"),
        ("isa", ALL_CHANNELS),
        ("loan", "mobile"),
        ("loan", ALL_CHANNELS),
    }
    total = rows[("cc", ALL_CHANNELS)]
    assert (total.shown, total.accepted, total.rate) == (500, 42, 42 / 500)
    assert (total.previous_shown, total.previous_accepted) == (300, 33)
    loan = rows[("loan", "mobile")]
    assert (loan.shown, loan.rate, loan.ci_low, loan.ci_high) == (0, None, 0.0, 1.0)
    assert loan.previous_rate == 4 / 80
    web = rows[("cc", "web")]
    low, high = wilson_interval([40], [400])
    assert (web.ci_low, web.ci_high) == (float(low[0]), float(high[0]))


def test_a_clear_drop_is_a_warning_and_noise_is_not() -> None:
    now = _counts([("cc", "web", 2000, 40), ("isa", "web", 200, 18)])
    before = _counts([("cc", "web", 2000, 120), ("isa", "web", 200, 22)])
    alerts, retrain = build_alerts((), (), acceptance_table(now, before))
    subjects = {a.subject for a in alerts}
    assert subjects == {"cc@web", f"cc@{ALL_CHANNELS}"}
    assert {a.level for a in alerts} == {"warn"}
    assert retrain == ()  # acceptance is the retune's business, not a model's
    web = next(a for a in alerts if a.subject == "cc@web")
    assert "Offer cc on web is accepted less often: 2.0%" in web.message
    assert "6.0%" in web.message


def test_a_drop_on_too_few_offers_is_not_flagged() -> None:
    now = _counts([("cc", "web", 20, 0)])
    before = _counts([("cc", "web", 20, 15)])
    alerts, _ = build_alerts((), (), acceptance_table(now, before))
    assert alerts == ()

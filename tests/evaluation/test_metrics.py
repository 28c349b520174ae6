"""Our Qini/AUUC/uplift@k equal scikit-uplift's and causalml's on the same predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklift.metrics import (
    qini_auc_score,
    uplift_auc_score,
)
from sklift.metrics import qini_curve as sk_qini_curve
from sklift.metrics import (
    uplift_at_k as sk_uplift_at_k,
)
from sklift.metrics import uplift_curve as sk_uplift_curve

with warnings.catch_warnings():
    # causalml imports shap, which calls a matplotlib API slated for deprecation
    # at import time; nothing of ours is involved.
    warnings.simplefilter("ignore")
    from causalml.metrics import auuc_score, get_cumgain, get_qini, qini_score

from nbo_engine.evaluation.metrics import (
    auuc,
    evaluate_uplift,
    plot_curves,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_curve,
)

SEEDS = range(8)
# sklift's scikit-learn helper stable_cumsum is deprecated in scikit-learn 1.8;
# the warning is theirs and says nothing about our numbers.
SKLIFT_WARN = pytest.mark.filterwarnings("ignore:Function stable_cumsum:FutureWarning")
# Same float operations in a different order: equal to rounding error.
TOL = 1e-9


def _sample(seed: int, n: int = 3000, ties: bool = False) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < 0.1 + 0.08 * t * (x > 0) - 0.04 * t * (x < -1)).astype(int)
    u = x + rng.normal(scale=0.7, size=n)
    if ties:
        u = np.round(u, 1)
    return y, t, u


@SKLIFT_WARN
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ties", [False, True])
def test_matches_sklift(seed: int, ties: bool) -> None:
    y, t, u = _sample(seed, ties=ties)
    assert qini_coefficient(y, t, u) == pytest.approx(qini_auc_score(y, u, t), abs=TOL)
    assert auuc(y, t, u) == pytest.approx(uplift_auc_score(y, u, t), abs=TOL)
    for k in (0.1, 0.2, 0.3):
        ours = uplift_at_k(y, t, u, k)
        assert ours == pytest.approx(sk_uplift_at_k(y, u, t, "overall", k), abs=TOL)
    for ours_c, (sx, sy) in (
        (qini_curve(y, t, u), sk_qini_curve(y, u, t)),
        (uplift_curve(y, t, u), sk_uplift_curve(y, u, t)),
    ):
        np.testing.assert_allclose(ours_c.x, sx, atol=TOL)
        np.testing.assert_allclose(ours_c.y, sy, atol=TOL)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("continuous", [False, True])
def test_matches_causalml(seed: int, continuous: bool) -> None:
    y, t, u = _sample(seed)
    y = y.astype(float)
    if continuous:
        y = y * 100 + np.random.default_rng(seed).gamma(2.0, 5.0, y.size)
    # causalml divides 0/0 while the top rows hold one arm only and fills those
    # points by linear interpolation; we count the empty arm's term as 0
    # (sklift). Rank a control row first and a treated row second: the Qini
    # curves then agree at every point, the uplift curves from k = 2 on, and
    # at k = 1 causalml has U(2) / 4 (the mean difference halfway from 0 to
    # its k = 2 value, times k = 1) where we have U(1).
    order = np.argsort(-u)
    t[order[0]], t[order[1]] = 0, 1
    df = pd.DataFrame({"y": y, "w": t, "m": u})
    n = y.size
    assert qini_coefficient(y, t, u, "causalml") == pytest.approx(
        float(qini_score(df)["m"]), abs=TOL
    )
    np.testing.assert_allclose(
        qini_curve(y, t, u).y, get_qini(df)["m"].to_numpy(), atol=1e-7
    )
    ours_u = uplift_curve(y, t, u).y
    theirs_u = get_cumgain(df)["m"].to_numpy()
    np.testing.assert_allclose(ours_u[2:], theirs_u[2:], atol=1e-7)
    assert theirs_u[1] == pytest.approx(ours_u[2] / 4)
    shift = (ours_u[1] - ours_u[2] / 4) / ((n + 1) * abs(ours_u[-1]))
    assert auuc(y, t, u, "causalml") - shift == pytest.approx(
        float(auuc_score(df)["m"]), abs=TOL
    )


def test_normalisations_relate_exactly() -> None:
    """The three normalisations are affine maps of the same area (docs/uplift.md)."""
    y, t, u = _sample(3)
    c = qini_curve(y, t, u)
    n = y.size
    raw = qini_coefficient(y, t, u, "none")
    assert raw == pytest.approx((c.area() - c.random_area()) / n)
    # causalml: mean of Q(k)/|Q(n)| over k = 0..n minus 1/2, i.e. a trapezoid
    # sum plus the half end points: (area + Q(n)/2) / ((n + 1) |Q(n)|) - 1/2.
    cm = (c.area() + c.y[-1] / 2) / ((n + 1) * abs(c.y[-1])) - 0.5
    assert qini_coefficient(y, t, u, "causalml") == pytest.approx(cm, abs=TOL)


def test_perfect_and_random_rankings() -> None:
    y, t, _ = _sample(1)
    perfect = (2 * t - 1) * y
    assert qini_coefficient(y, t, perfect) == pytest.approx(1.0)
    # averaged over many random rankings the coefficient is about 0
    rng = np.random.default_rng(0)
    vals = [qini_coefficient(y, t, rng.random(y.size)) for _ in range(200)]
    assert abs(np.mean(vals)) < 0.05


def test_scores_and_figure() -> None:
    y, t, u = _sample(2)
    s = evaluate_uplift(y, t, u)
    assert s.qini > 0
    assert s.auuc > 0
    fig = plot_curves({"model": qini_curve(y, t, u)})
    assert len(fig.axes) == 1
    assert len(fig.axes[0].lines) == 2

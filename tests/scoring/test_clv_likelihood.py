"""Likelihoods, gradients and closed forms of the CLV models.

Gradients are checked against central finite differences; likelihoods,
P(alive) and conditional expectations against ``lifetimes`` (same formulas,
independent code) on the CDNOW sample it ships; the Pareto/NBD integral and the
hypergeometric bracket against scipy's adaptive quadrature and ``hyp2f1`` and,
at extreme values, against an exact rational-arithmetic series.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from lifetimes import (
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value
from scipy.integrate import quad
from scipy.special import hyp2f1
from scipy.stats import beta as beta_dist
from scipy.stats import gamma as gamma_dist

from nbo_engine.scoring.bgnbd import (
    bgnbd_expected_purchases,
    bgnbd_loglik,
    bgnbd_loglik_sum,
    bgnbd_p_alive,
    mbgnbd_loglik,
    mbgnbd_loglik_sum,
)
from nbo_engine.scoring.compress import PurchaseRows, compress_rows
from nbo_engine.scoring.gamma_gamma import (
    SpendRows,
    gamma_gamma_expected_spend,
    gamma_gamma_loglik,
    gamma_gamma_loglik_sum,
)
from nbo_engine.scoring.hypergeometric import euler_bracket
from nbo_engine.scoring.mle import Covariates, _Objective
from nbo_engine.scoring.pareto_nbd import (
    pareto_log_integral,
    pareto_nbd_expected_purchases,
    pareto_nbd_loglik,
    pareto_nbd_p_alive,
)

CDNOW = load_cdnow_summary_data_with_monetary_value()
ROWS = PurchaseRows.build(
    CDNOW["frequency"].to_numpy(float),
    CDNOW["recency"].to_numpy(float),
    CDNOW["T"].to_numpy(float),
)
REPEAT = CDNOW[CDNOW["frequency"] > 0]
SPEND = SpendRows.build(
    REPEAT["frequency"].to_numpy(float), REPEAT["monetary_value"].to_numpy(float)
)
# Published CDNOW estimates (weeks), near which the checks are made.
BG = np.log([0.243, 4.414, 0.793, 2.426])
MBG = np.log([0.525, 6.183, 0.891, 1.614])
PNBD = np.log([0.553, 10.578, 0.606, 11.668])
GG = np.log([6.249, 3.745, 15.448])

LogLik = Callable[[np.ndarray, object], tuple[np.ndarray, np.ndarray]]
CASES: list[tuple[str, LogLik, np.ndarray, object]] = [
    ("bgnbd", bgnbd_loglik, BG, ROWS),
    ("mbgnbd", mbgnbd_loglik, MBG, ROWS),
    ("pareto_nbd", pareto_nbd_loglik, PNBD, ROWS),
    ("gamma_gamma", gamma_gamma_loglik, GG, SPEND),
]


@pytest.mark.parametrize(("name", "loglik", "theta", "rows"), CASES)
@pytest.mark.parametrize("shift", [0.0, 0.7, -0.9])
def test_gradient_matches_finite_differences(
    name: str, loglik: LogLik, theta: np.ndarray, rows: object, shift: float
) -> None:
    """Per-row analytic gradient vs central differences (step 1e-6 on
    log-parameters: truncation ~1e-12, rounding ~1e-16 |ll| / 1e-6)."""
    lp = theta + shift * np.linspace(-1, 1, theta.size)
    ll, g = loglik(lp, rows)
    assert np.all(np.isfinite(ll))
    assert np.all(np.isfinite(g))
    for k in range(lp.size):
        e = np.zeros(lp.size)
        e[k] = 1e-6
        fd = (loglik(lp + e, rows)[0] - loglik(lp - e, rows)[0]) / 2e-6
        tol = 1e-6 * (1 + np.abs(ll))
        assert np.all(np.abs(fd - g[:, k]) < tol), (name, k)


@pytest.mark.parametrize(("name", "loglik", "theta", "rows"), CASES)
def test_per_row_parameters_match_population_path(
    name: str, loglik: LogLik, theta: np.ndarray, rows: object
) -> None:
    """The per-row code path (covariates) equals the shared-parameter path
    (special functions once per distinct value)."""
    n = rows.x.size  # type: ignore[attr-defined]
    ll0, g0 = loglik(theta, rows)
    ll1, g1 = loglik(np.tile(theta, (n, 1)), rows)
    np.testing.assert_allclose(ll1, ll0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("name", "loglik", "theta", "rows"), CASES)
def test_covariate_gradient_matches_finite_differences(
    name: str, loglik: LogLik, theta: np.ndarray, rows: object
) -> None:
    """Chain rule through log theta_i = log theta_0 + z_i' beta, with the ridge."""
    n = rows.x.size  # type: ignore[attr-defined]
    rng = np.random.default_rng(0)
    z = np.column_stack([rng.normal(size=n), (np.arange(n) % 3 == 0).astype(float)])
    names = {"gamma_gamma": ("p", "q", "gamma")}.get(name, ("r", "alpha", "a", "b"))
    cov = Covariates(z, ("z1", "seg"), names[1:3], penalty=2.0)
    obj = _Objective(loglik, rows, rows.weight, names, cov)  # type: ignore[attr-defined]
    th = np.concatenate([theta, rng.normal(0, 0.2, 2 * len(cov.linked))])
    f, g = obj(th)
    for k in range(th.size):
        e = np.zeros(th.size)
        e[k] = 1e-6
        fd = (obj(th + e)[0] - obj(th - e)[0]) / 2e-6
        assert abs(fd - g[k]) < 1e-6 * (1 + abs(f)), k


def test_weights_equal_duplicated_rows() -> None:
    """Compressing customers to weighted patterns leaves the likelihood as is."""
    x, t_x, T = ROWS.x, ROWS.t_x, ROWS.T
    c = compress_rows(x, t_x, T)
    packed = PurchaseRows.build(*c.columns, c.weight)
    for loglik, th in ((bgnbd_loglik, BG), (pareto_nbd_loglik, PNBD)):
        full, gf = loglik(th, ROWS)
        comp, gc = loglik(th, packed)
        assert c.n < ROWS.n / 2
        assert abs(full.sum() - packed.weight @ comp) < 1e-8 * abs(full.sum())
        np.testing.assert_allclose(packed.weight @ gc, gf.sum(axis=0), rtol=1e-10)


def test_loglik_equals_lifetimes() -> None:
    x, t_x, T = ROWS.x, ROWS.t_x, ROWS.T
    w = np.ones(x.size)
    ref = -BetaGeoFitter._negative_log_likelihood(BG, x, t_x, T, w, 0.0) * x.size
    assert bgnbd_loglik(BG, ROWS)[0].sum() == pytest.approx(ref, rel=1e-12)
    ref = -ModifiedBetaGeoFitter._negative_log_likelihood(MBG, x, t_x, T, w, 0.0)
    assert mbgnbd_loglik(MBG, ROWS)[0].sum() == pytest.approx(ref * x.size, rel=1e-12)
    ref_rows = ParetoNBDFitter._conditional_log_likelihood(np.exp(PNBD), x, t_x, T)
    np.testing.assert_allclose(pareto_nbd_loglik(PNBD, ROWS)[0], ref_rows, rtol=1e-10)
    ref = -GammaGammaFitter._negative_log_likelihood(
        GG, SPEND.x, SPEND.m, np.ones(SPEND.n), 0.0
    )
    assert gamma_gamma_loglik(GG, SPEND)[0].sum() == pytest.approx(
        ref * SPEND.n, rel=1e-12
    )


def _fitted(cls: type, theta: np.ndarray, names: list[str]) -> object:
    import pandas as pd

    f = cls()
    f.params_ = pd.Series(np.exp(theta), index=names)
    return f


@pytest.mark.parametrize("t", [1.0, 39.0, 156.0])
def test_predictions_equal_lifetimes(t: float) -> None:
    """P(alive), conditional expected purchases and spend on every CDNOW pattern."""
    x, t_x, T = ROWS.x, ROWS.t_x, ROWS.T
    bg = _fitted(BetaGeoFitter, BG, ["r", "alpha", "a", "b"])
    np.testing.assert_allclose(
        bgnbd_p_alive(BG, ROWS), bg.conditional_probability_alive(x, t_x, T), rtol=1e-10
    )
    np.testing.assert_allclose(
        bgnbd_expected_purchases(BG, ROWS, t),
        bg.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
        rtol=1e-8,
    )
    mbg = _fitted(ModifiedBetaGeoFitter, MBG, ["r", "alpha", "a", "b"])
    np.testing.assert_allclose(
        bgnbd_p_alive(MBG, ROWS, modified=True),
        mbg.conditional_probability_alive(x, t_x, T),
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        bgnbd_expected_purchases(MBG, ROWS, t, modified=True),
        mbg.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
        rtol=1e-8,
    )
    pn = _fitted(ParetoNBDFitter, PNBD, ["r", "alpha", "s", "beta"])
    np.testing.assert_allclose(
        pareto_nbd_p_alive(PNBD, ROWS),
        pn.conditional_probability_alive(x, t_x, T),
        rtol=1e-8,
    )
    np.testing.assert_allclose(
        pareto_nbd_expected_purchases(PNBD, ROWS, t),
        pn.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),
        rtol=1e-8,
    )
    gg = _fitted(GammaGammaFitter, GG, ["p", "q", "v"])
    np.testing.assert_allclose(
        gamma_gamma_expected_spend(GG, SPEND.x, SPEND.m),
        gg.conditional_expected_average_profit(SPEND.x, SPEND.m),
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("k1", "k2", "alpha", "beta", "lo", "hi"),
    [
        (0.6, 1.6, 10.0, 12.0, 0.0, 39.0),  # CDNOW-like
        (5000.5, 1.6, 0.5, 20.0, 0.3, 104.0),  # heavy buyer, early last purchase
        (3000.5, 1.6, 2.0, 2.0, 103.9, 104.0),  # heavy buyer, recent
        (0.3, 300.0, 0.01, 1e4, 0.0, 500.0),  # alpha << beta, t_x = 0
        (0.3, 1.0001, 1e4, 0.01, 0.0, 500.0),  # alpha >> beta
        (2.0, 1.5, 1e-3, 1e-3, 0.0, 1e5),  # ~power law over 8 decades
        (50.0, 2.0, 3.0, 3.0, 10.0, 10.0 + 2.0**-30),  # tiny span
    ],
)
def test_pareto_integral_against_adaptive_quadrature(
    k1: float, k2: float, alpha: float, beta: float, lo: float, hi: float
) -> None:
    """Our graded Gauss-Legendre rule against scipy's adaptive quad to 1e-9
    relative. The reference integrates over ``s = log((alpha+t)/(alpha+lo))``
    (smooth for power-law tails over many decades) the integrand divided by its
    value at ``lo``, with break points at the peak's scale."""
    got, e_la, _, _, _ = pareto_log_integral(
        np.array([k1]), k2, alpha, beta, np.array([lo]), np.array([hi])
    )
    base = alpha + lo

    def log_f(t: float) -> float:
        return -k1 * np.log(alpha + t) - k2 * np.log(beta + t)

    def f_s(s: float, g: Callable[[float], float]) -> float:
        t = base * np.exp(s) - alpha
        return g(t) * np.exp(log_f(t) - log_f(lo)) * (alpha + t)

    s_hi = np.log1p((hi - lo) / base)
    width = 1.0 / (k1 + k2 * base / (beta + lo) + 1.0)
    pts = [p for p in (width, 10 * width, 100 * width) if p < s_hi] or None
    val, _ = quad(
        f_s,
        0,
        s_hi,
        args=(lambda t: 1.0,),
        points=pts,
        limit=500,
        epsabs=0,
        epsrel=1e-13,
    )
    assert got[0] == pytest.approx(np.log(val) + log_f(lo), rel=1e-9, abs=1e-9)
    mean_log, _ = quad(
        f_s,
        0,
        s_hi,
        args=(lambda t: np.log(alpha + t) / val,),
        points=pts,
        limit=500,
        epsabs=0,
        epsrel=1e-12,
    )
    assert e_la[0] == pytest.approx(mean_log, rel=1e-8)


def test_pareto_integral_closed_form_when_alpha_equals_beta() -> None:
    """alpha == beta: int (a+t)^-k dt = ((a+lo)^(1-k) - (a+hi)^(1-k)) / (k-1)."""
    k1, k2, a = np.array([0.4, 3.0, 900.0]), 1.2, 0.7
    lo, hi = np.array([0.0, 2.0, 50.0]), np.array([1e6, 3.0, 104.0])
    got, *_ = pareto_log_integral(k1, k2, a, a, lo, hi)
    k = k1 + k2
    ref = (
        (1 - k) * np.log(a + lo)
        + np.log(-np.expm1((1 - k) * np.log((a + hi) / (a + lo))))
        - np.log(k - 1)
    )
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def _exact_bracket(A: Fraction, a: Fraction, C: Fraction, z: Fraction) -> float:
    """``(1 - (1-z)^(a-1) 2F1(A, a-1; C; z)) / (a-1)`` with 60-digit decimals
    (integer ``a``), summing the series until terms are below 1e-40."""
    with localcontext() as ctx:
        ctx.prec = 60
        d = {
            k: Decimal(v.numerator) / Decimal(v.denominator)
            for k, v in {"A": A, "a": a, "C": C, "z": z}.items()
        }
        total, term, n = Decimal(1), Decimal(1), 0
        while True:
            term = (
                term
                * (d["A"] + n)
                * (d["a"] - 1 + n)
                / ((d["C"] + n) * (n + 1))
                * d["z"]
            )
            n += 1
            total += term
            if abs(term) < Decimal("1e-40") and n > 5:
                break
        return float((1 - (1 - d["z"]) ** int(a - 1) * total) / (d["a"] - 1))


@pytest.mark.parametrize(
    ("A", "a", "C", "z"),
    [
        (Fraction(3), Fraction(2), Fraction(5000), Fraction(1, 2)),  # x = 5000
        (Fraction(-2), Fraction(3), Fraction(40), Fraction(9, 10)),
        (Fraction(70), Fraction(2), Fraction(71), Fraction(99, 100)),
        (Fraction(1, 2), Fraction(4), Fraction(2), Fraction(1, 1000)),
    ],
)
def test_euler_bracket_at_extremes(
    A: Fraction, a: Fraction, C: Fraction, z: Fraction
) -> None:
    got = float(euler_bracket(float(A), float(a), float(C), float(z)))
    assert got == pytest.approx(_exact_bracket(A, a, C, z), rel=1e-11)


def test_euler_bracket_matches_scipy_and_its_a_to_1_limit() -> None:
    rng = np.random.default_rng(3)
    A, a, C = rng.uniform(0.2, 8, 50), rng.uniform(0.3, 4, 50), rng.uniform(1, 30, 50)
    z = rng.uniform(0, 0.8, 50)
    ref = (1 - (1 - z) ** (a - 1) * hyp2f1(A, a - 1, C, z)) / (a - 1)
    np.testing.assert_allclose(euler_bracket(A, a, C, z), ref, rtol=1e-10)
    near = euler_bracket(2.0, 1.0 + 1e-9, 7.0, 0.4)
    exact = euler_bracket(2.0, 1.0, 7.0, 0.4)
    assert near == pytest.approx(exact, rel=1e-7)


def test_heavy_buyers_stay_finite_where_closed_forms_overflow() -> None:
    """x in the thousands: lifetimes' 2F1 route overflows; ours stays in range."""
    x = np.array([0.0, 1, 50, 2000, 8000, 8000])
    t_x = np.array([0.0, 5, 90, 103.9, 103.99, 2.0])
    T = np.full(6, 104.0)
    rows = PurchaseRows.build(x, t_x, T)
    for lp, fam in ((BG, "bg"), (MBG, "mbg"), (PNBD, "pnbd")):
        if fam == "pnbd":
            pa = pareto_nbd_p_alive(lp, rows)
            ey = pareto_nbd_expected_purchases(lp, rows, 52.0)
            ll, g = pareto_nbd_loglik(lp, rows)
        else:
            pa = bgnbd_p_alive(lp, rows, fam == "mbg")
            ey = bgnbd_expected_purchases(lp, rows, 52.0, fam == "mbg")
            ll, g = (mbgnbd_loglik if fam == "mbg" else bgnbd_loglik)(lp, rows)
        assert np.all((pa >= 0) & (pa <= 1)), fam
        assert np.all(np.isfinite(ey) & (ey >= 0)), fam
        assert np.all(np.isfinite(ll)), fam
        assert np.all(np.isfinite(g)), fam
        # the same volume that stopped long ago is gone
        assert pa[5] < 1e-100
        # given alive, an independent route: integrate over the posterior of
        # the dropout (p ~ Beta(a, b+x), BG/NBD) or of mu (Gamma(s, beta+T))
        r, alpha, c1, c2 = np.exp(lp)
        for i in (3, 4):
            if fam == "pnbd":
                dens = gamma_dist(c1, scale=1.0 / (c2 + T[i]))
                inner = quad(
                    lambda m, d=dens: d.pdf(m) * -np.expm1(-m * 52.0) / m,
                    0,
                    np.inf,
                    limit=200,
                )[0]
                ref = (r + x[i]) / (alpha + T[i]) * inner
            else:
                shift = 1.0 if fam == "mbg" else 0.0
                dens = beta_dist(c1, c2 + x[i] + shift)
                cz = 52.0 / (alpha + T[i])
                inner = quad(
                    lambda q, d=dens, k=r + x[i], c=cz: (
                        d.pdf(q) * -np.expm1(-k * np.log1p(q * c)) / q
                    ),
                    0,
                    1,
                    points=[dens.mean()],
                    limit=200,
                )[0]
                ref = inner
            assert ey[i] / pa[i] == pytest.approx(ref, rel=1e-6), (fam, i)


def test_summed_likelihoods_equal_the_weighted_row_sums() -> None:
    """The fast totals used by fits without covariates (terms in x alone summed
    per distinct x) equal the weighted per-row likelihood and gradient."""
    rng = np.random.default_rng(4)
    w = rng.random(ROWS.n) * 3
    for rows_fn, sum_fn, th in (
        (bgnbd_loglik, bgnbd_loglik_sum, BG),
        (mbgnbd_loglik, mbgnbd_loglik_sum, MBG),
    ):
        ll, g = rows_fn(th, ROWS)
        total, grad = sum_fn(th, ROWS, w)
        assert total == pytest.approx(w @ ll, rel=1e-12)
        np.testing.assert_allclose(grad, w @ g, rtol=1e-10, atol=1e-9)
    ws = rng.random(SPEND.n)
    for rows in (SPEND, SPEND.scaled(0.01)):
        ll, g = gamma_gamma_loglik(GG, rows)
        total, grad = gamma_gamma_loglik_sum(GG, rows, ws)
        assert total == pytest.approx(ws @ ll, rel=1e-12)
        np.testing.assert_allclose(grad, ws @ g, rtol=1e-10, atol=1e-9)

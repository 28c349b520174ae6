"""Off-policy estimates against the simulated bank's true policy values.

Logged data: customers drawn from a simulated bank, contexts built from their
observable attributes only (customers and accounts files), a softmax logging
policy with known propensities (mixed with 20% uniform so every propensity is
>= 0.02) and rewards drawn from the world's true probabilities. The target
policy's true value is computed exactly from the same probabilities, so bias,
error and interval coverage are measured, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from nbo_engine.evaluation.ope import estimate_policy_value
from nbo_engine.simulate import SimConfig, World, simulate_bank

CONFIG = SimConfig(customers=5000, weeks=26, seed=3, dirt=0.0)
REPLICATIONS = 120
N_LOGGED = 3000
INCOME = {"<20k": 0, "20-40k": 1, "40-70k": 2, "70-100k": 3, "100k+": 4}
OCCUPATIONS = ("employed", "self_employed", "student", "retired", "unemployed")


@dataclass(frozen=True)
class Bank:
    contexts: NDArray[np.float64]  # (n_customers, n_features), standardised
    convert: NDArray[np.float64]  # (n_customers, n_offers) true P(convert)
    retain: NDArray[np.float64]  # (n_customers, n_offers) true P(no churn)
    logging: NDArray[np.float64]  # (n_customers, n_offers)
    greedy: NDArray[np.float64]  # (n_customers, n_offers) the target's own choice

    def target(self, move: float) -> NDArray[np.float64]:
        """Logging policy with ``move`` of its mass moved to ``greedy``."""
        return (1.0 - move) * self.logging + move * self.greedy


def _softmax(s: NDArray[np.float64]) -> NDArray[np.float64]:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> Bank:
    out: Path = tmp_path_factory.mktemp("ope_bank")
    simulate_bank(CONFIG, out)
    world = World.load(out)
    cust = pd.read_csv(out / "customers.csv", parse_dates=["birth_date", "join_date"])
    acc = pd.read_csv(out / "accounts.csv")
    end = pd.Timestamp(CONFIG.end_date)
    x = pd.DataFrame(index=cust["customer_id"])
    x["age"] = ((end - cust["birth_date"]).dt.days / 365.25).to_numpy()
    x["income"] = cust["income_band"].map(INCOME).fillna(-1).to_numpy()
    x["dependants"] = cust["dependants"].fillna(0).to_numpy()
    x["tenure"] = ((end - cust["join_date"]).dt.days / 365.25).to_numpy()
    for occ in OCCUPATIONS:
        x[f"occ_{occ}"] = (cust["occupation"] == occ).to_numpy(float)
    held = acc[acc["close_date"].isna()]
    held = pd.crosstab(held["customer_id"], held["product"]).clip(upper=1)
    x = x.join(held.add_prefix("held_")).fillna(0.0)
    z = ((x - x.mean()) / x.std().replace(0.0, 1.0)).to_numpy()
    ids = x.index.to_numpy(str)
    k = len(world.offer_ids)
    p = world.probabilities(np.repeat(ids, k), np.tile(world.offer_ids, ids.size))
    g = np.random.default_rng(0)
    logging = 0.8 * _softmax(z @ g.normal(0, 0.5, (z.shape[1], k))) + 0.2 / k
    greedy = np.eye(k)[np.argmax(z @ g.normal(0, 1.0, (z.shape[1], k)), axis=1)]
    return Bank(
        contexts=z,
        convert=p.p_convert_treated.reshape(-1, k),
        retain=1.0 - p.p_churn_treated.reshape(-1, k),
        logging=logging,
        greedy=0.9 * greedy + 0.1 / k,
    )


def _replicate(
    bank: Bank,
    truth_table: NDArray[np.float64],
    target: NDArray[np.float64],
    methods: tuple[str, ...],
) -> tuple[float, dict[str, NDArray[np.float64]], dict[str, float]]:
    truth = float(np.mean(np.sum(target * truth_table, axis=1)))
    errors: dict[str, list[float]] = {m: [] for m in methods}
    covered: dict[str, list[bool]] = {m: [] for m in methods}
    k = bank.logging.shape[1]
    for rep in range(REPLICATIONS):
        rng = np.random.default_rng(10_000 + rep)
        idx = rng.integers(0, bank.contexts.shape[0], N_LOGGED)
        cum = bank.logging[idx].cumsum(axis=1)
        a = np.minimum((rng.random(N_LOGGED)[:, None] > cum).sum(axis=1), k - 1)
        r = (rng.random(N_LOGGED) < truth_table[idx, a]).astype(float)
        for m in methods:
            est = estimate_policy_value(
                r,
                a,
                bank.logging[idx, a],
                target[idx],
                method=m,  # type: ignore[arg-type]
                contexts=bank.contexts[idx],
            )
            errors[m].append(est.value - truth)
            covered[m].append(est.ci_low <= truth <= est.ci_high)
    return (
        truth,
        {m: np.asarray(e) for m, e in errors.items()},
        {m: float(np.mean(c)) for m, c in covered.items()},
    )


def _check_dr(
    errors: dict[str, NDArray[np.float64]], coverage: dict[str, float]
) -> dict[str, float]:
    # Nominal 95%: with 120 replications the observed share of a 95% interval
    # falls below 90% with probability ~2%, so 0.90 leaves room for sampling
    # noise, while a broken interval (e.g. one ignoring the variance of the
    # model term: 25-60% measured) fails it.
    assert coverage["dr"] >= 0.90, coverage
    # DR is unbiased: its mean error is within 3 standard errors of 0.
    se_mean = errors["dr"].std(ddof=1) / np.sqrt(REPLICATIONS)
    assert abs(errors["dr"].mean()) < 3 * se_mean, errors["dr"].mean()
    return {m: float(np.sqrt(np.mean(e**2))) for m, e in errors.items()}


def test_dr_on_retention_covers_the_truth_and_beats_ips(bank: Bank) -> None:
    # Retention (no churn within 13 weeks) is common (~94%): IPS pays for the
    # spread of the weights (w * r ~ w), which DR's model term removes. The
    # target moves 30% of the mass to its own greedy policy (weights <= ~15).
    _, errors, coverage = _replicate(bank, bank.retain, bank.target(0.3), ("ips", "dr"))
    rmse = _check_dr(errors, coverage)
    # measured over 300 replications: DR 0.0065 vs IPS 0.0224
    assert rmse["dr"] < 0.5 * rmse["ips"], rmse


def test_dr_on_conversion_covers_the_truth_and_matches_ips(bank: Bank) -> None:
    # Conversion is rare (~3%): Bernoulli noise dominates both estimators and
    # even the true reward model gains DR only ~2% over IPS here, so DR must
    # cover the truth and be no worse than IPS beyond noise (measured over 300
    # replications: RMSE 0.00375 vs 0.00372, coverage 0.93 vs 0.94). With the
    # weights of a 30% move (up to ~15) every normal interval, IPS's and DR's
    # alike, covered only ~89% (see benchmarks/ope_accuracy.py), hence 15%.
    _, errors, coverage = _replicate(
        bank, bank.convert, bank.target(0.15), ("ips", "dr")
    )
    rmse = _check_dr(errors, coverage)
    assert rmse["dr"] < 1.1 * rmse["ips"], rmse

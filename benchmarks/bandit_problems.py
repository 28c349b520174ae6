"""Shared pieces of the bandit benchmarks: problems, peer adapters, the
delayed-batch loop. Imported by ``bandit_quality.py`` and ``bandit_drift.py``.

Problems
--------
``SimOffers``: the simulated bank's 10 offers. Contexts are built only from
observable input files (customers, accounts, bureau, digital_events,
transactions); the true conversion probability of every (customer, offer) is
``World.probabilities(...).p_convert_treated`` and rewards are drawn by
``World.respond``. Offers for a product the customer already holds
(observable in accounts) are ineligible.

``SyntheticLogistic``: K = 8 offers, d = 12 features (a constant and 11 binary
attributes), ``P(convert) = sigmoid(x . W_k)`` with base logit about -4 and
multiplicative effects.

Every policy sees the same customers in the same order, its first two
batches (decided before any reward arrives) are the same uniformly random
choices (MABWiser cannot predict before a fit), and rewards come back one
batch late (batch t is learned from after batch t + 1 is
chosen). Rewards use common random numbers (one uniform per decision slot), so
two policies making the same choice get the same reward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.bandit import BanditPolicy
from nbo_engine.ingest.schemas import PRODUCTS
from nbo_engine.simulate import OFFERS, SimConfig, World, simulate_bank

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


# ---------------------------------------------------------------- problems
class Problem(Protocol):
    name: str
    n_arms: int
    n_features: int
    values: NDArray[np.float64] | None

    def batch(
        self, n: int, rng: np.random.Generator, t: int
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64], Any]:
        """Contexts (n, d), eligibility (n, K), true probabilities (n, K), and
        a key to draw rewards with."""
        ...

    def rewards(
        self, key: Any, arms: NDArray[np.int64], u: NDArray[np.float64], t: int
    ) -> NDArray[np.float64]:
        """0/1 conversions of the chosen arms (``u``: common uniforms)."""
        ...


def _years(a: pd.Series, b: pd.Timestamp) -> NDArray[np.float64]:
    return np.asarray(
        (b - pd.to_datetime(a, errors="coerce")).dt.days / 365.25, dtype=np.float64
    )


def observable_contexts(
    folder: Path, ids: NDArray[np.str_]
) -> tuple[NDArray[np.float64], NDArray[np.bool_], list[str]]:
    """Context vectors from the input files, and the products each customer
    holds (from accounts), for ``ids`` in order."""
    cust = pd.read_csv(folder / "customers.csv").drop_duplicates("customer_id")
    cust = cust.set_index("customer_id").reindex(ids)
    acc = pd.read_csv(folder / "accounts.csv")
    end = pd.to_datetime(acc["open_date"], errors="coerce").max()
    cols: dict[str, NDArray[np.float64]] = {"const": np.ones(len(ids))}
    cols["age"] = _years(cust["birth_date"], end) / 50.0
    cols["tenure"] = _years(cust["join_date"], end) / 10.0
    bands = ["<20k", "20-40k", "40-70k", "70-100k", "100k+"]
    cols["income"] = (
        cust["income_band"]
        .map({b: i for i, b in enumerate(bands)})
        .fillna(2)
        .to_numpy(float)
        / 4.0
    )
    for occ in ("employed", "self_employed", "student", "retired"):
        cols[f"occ_{occ}"] = (cust["occupation"] == occ).to_numpy(float)
    cols["married"] = (
        cust["marital_status"].isin(["married", "partner"]).to_numpy(float)
    )
    cols["dependants"] = (
        np.minimum(cust["dependants"].fillna(0).to_numpy(float), 4) / 4.0
    )
    open_acc = acc[acc["close_date"].isna()]
    held = np.zeros((len(ids), len(PRODUCTS)), dtype=bool)
    pos = pd.Index(ids).get_indexer(open_acc["customer_id"])
    prod = open_acc["product"].map({p: i for i, p in enumerate(PRODUCTS)}).to_numpy()
    ok = (pos >= 0) & ~pd.isna(prod)
    held[pos[ok], prod[ok].astype(int)] = True
    for i, p in enumerate(PRODUCTS[1:], start=1):
        cols[f"holds_{p}"] = held[:, i].astype(float)
    bureau = (
        pd.read_csv(folder / "bureau.csv")
        .sort_values("as_of")
        .drop_duplicates("customer_id", keep="last")
    )
    score = bureau.set_index("customer_id")["credit_score"].reindex(ids)
    cols["credit"] = ((score.fillna(score.median()) - 650) / 150).to_numpy(float)
    dig = pd.read_csv(
        folder / "digital_events.csv", usecols=["customer_id", "timestamp"]
    )
    recent = dig[
        pd.to_datetime(dig["timestamp"], errors="coerce")
        >= end - pd.Timedelta(weeks=13)
    ]
    logins = recent["customer_id"].value_counts().reindex(ids).fillna(0).to_numpy(float)
    cols["digital"] = np.log1p(logins) / 3.0
    tx = pd.read_csv(
        folder / "transactions.csv", usecols=["customer_id", "timestamp", "amount"]
    )
    tx = tx[
        pd.to_datetime(tx["timestamp"], errors="coerce") >= end - pd.Timedelta(weeks=13)
    ]
    spend = (
        tx.groupby("customer_id")["amount"].sum().reindex(ids).fillna(0).to_numpy(float)
    )
    cols["spend"] = np.log1p(np.maximum(spend, 0)) / 8.0
    X = np.column_stack(list(cols.values()))
    X = np.nan_to_num(X, nan=0.0)
    return X, held, list(cols)


@dataclass
class SimOffers:
    """The simulated bank's offer problem (see the module docstring)."""

    folder: Path
    value_aware: bool = False
    name: str = "sim_offers"
    world: World = field(init=False)

    def __post_init__(self) -> None:
        self.world = World.load(self.folder)
        ids = self.world.customer_ids[self.world.open]
        self.ids = ids
        self.X, held, self.feature_names = observable_contexts(self.folder, ids)
        offers = self.world.offer_ids
        n, k = ids.size, len(offers)
        p = self.world.probabilities(np.repeat(ids, k), np.tile(offers, n), 0)
        self.p = p.p_convert_treated.reshape(n, k)
        prod = [PRODUCTS.index(o.product) for o in OFFERS]
        self.eligible = ~held[:, prod] | (np.array(prod) == 0)[None, :]
        self.n_arms, self.n_features = k, self.X.shape[1]
        margins = np.array([o.margin for o in OFFERS])
        # The retention benefit has no margin; give it a nominal 50 so values > 0.
        self.values = np.where(margins > 0, margins, 50.0) if self.value_aware else None
        if self.value_aware:
            self.name = "sim_offers_value"

    def batch(self, n: int, rng: np.random.Generator, t: int) -> tuple[Any, ...]:
        rows = rng.integers(0, self.ids.size, n)
        return self.X[rows], self.eligible[rows], self.p[rows], rows

    def rewards(
        self, key: Any, arms: NDArray[np.int64], u: NDArray[np.float64], t: int
    ) -> NDArray[np.float64]:
        offers = np.asarray(self.world.offer_ids)[arms]
        out = self.world.respond(
            self.ids[key], offers, 0, _FixedUniform(u), update=False
        )
        return out["converted"].to_numpy(dtype=np.float64)


class _FixedUniform:
    """Feeds World.respond the common uniforms (first call: conversions)."""

    def __init__(self, u: NDArray[np.float64]) -> None:
        self.u = u
        self.calls = 0

    def random(self, n: int) -> NDArray[np.float64]:
        self.calls += 1
        return self.u if self.calls == 1 else np.full(n, 0.5)


@dataclass
class SyntheticLogistic:
    """K offers, d features: a constant and binary attributes (see module doc).

    ``switch_at``: from this batch on, the arms' coefficients are rotated by
    one (arm k takes arm k+1's), so the best offer changes.
    """

    n_arms: int = 8
    n_features: int = 12
    seed: int = 0
    switch_at: int | None = None
    name: str = "synthetic_logistic"
    values: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        rng = np.random.default_rng(10_000 + self.seed)
        self.W = rng.normal(0.0, 1.0, (self.n_arms, self.n_features))
        self.W[:, 0] = rng.normal(-4.0, 0.5, self.n_arms)

    def weights(self, t: int) -> NDArray[np.float64]:
        if self.switch_at is not None and t >= self.switch_at:
            return np.roll(self.W, -1, axis=0)
        return self.W

    def batch(self, n: int, rng: np.random.Generator, t: int) -> tuple[Any, ...]:
        X = (rng.random((n, self.n_features)) < 0.5).astype(np.float64)
        X[:, 0] = 1.0
        P = 1.0 / (1.0 + np.exp(-(X @ self.weights(t).T)))
        return X, np.ones((n, self.n_arms), dtype=bool), P, P

    def rewards(
        self, key: Any, arms: NDArray[np.int64], u: NDArray[np.float64], t: int
    ) -> NDArray[np.float64]:
        return (u < key[np.arange(arms.size), arms]).astype(np.float64)


def sim_bank(customers: int = 20_000, seed: int = 1) -> Path:
    """The benchmark bank (simulated once, kept under benchmarks/out)."""
    folder = OUT / f"bandit_bank_{customers}_{seed}"
    if not (folder / "truth" / "params.json").exists():
        simulate_bank(
            SimConfig(customers=customers, weeks=104, seed=seed, dirt=0.0), folder
        )
    return folder


# ---------------------------------------------------------------- policies
class Adapter(Protocol):
    name: str

    def choose(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_],
        values: NDArray[np.float64] | None,
    ) -> NDArray[np.int64]: ...

    def learn(
        self,
        X: NDArray[np.float64],
        arms: NDArray[np.int64],
        rewards: NDArray[np.float64],
        values: NDArray[np.float64] | None,
        meta: Any,
    ) -> None: ...


@dataclass
class Ours:
    """An nbo_engine policy; values enter the choice (value x acceptance)."""

    name: str
    policy: BanditPolicy

    def choose(self, X: Any, eligible: Any, values: Any) -> NDArray[np.int64]:
        return self.policy.select_batch(X, eligible, values=values)[0]

    def learn(self, X: Any, arms: Any, rewards: Any, values: Any, meta: Any) -> None:
        self.policy.update(X, arms, rewards)


@dataclass
class MabWiser:
    """MABWiser LinUCB / LinTS; with values it learns value x conversion as
    its reward (it has no notion of a value per conversion)."""

    name: str
    make: Callable[[], Any]
    n_arms: int
    fitted: bool = False

    def __post_init__(self) -> None:
        self.mab = self.make()

    def choose(self, X: Any, eligible: Any, values: Any) -> NDArray[np.int64]:
        exp = self.mab.predict_expectations(X)
        E = np.array([[row[k] for k in range(self.n_arms)] for row in exp])
        return np.where(eligible, E, -np.inf).argmax(axis=1)

    def learn(self, X: Any, arms: Any, rewards: Any, values: Any, meta: Any) -> None:
        r = rewards if values is None else rewards * values[arms]
        if self.fitted:
            self.mab.partial_fit(arms, r, X)
        else:
            self.mab.fit(arms, r, X)
            self.fitted = True


@dataclass
class VowpalSquareCB:
    """Vowpal Wabbit ``--cb_explore_adf --squarecb``: shared context features,
    one line per eligible action, cost = -reward (x value)."""

    name: str
    n_arms: int
    seed: int
    args: str = "--cb_explore_adf --squarecb -q sa --quiet"

    def __post_init__(self) -> None:
        from vowpalwabbit import Workspace

        self.vw = Workspace(f"{self.args} --random_seed {self.seed}")
        self.rng = np.random.default_rng(self.seed)

    @staticmethod
    def _shared(x: NDArray[np.float64]) -> str:
        return "shared |s " + " ".join(
            f"f{i}:{v:.5g}" for i, v in enumerate(x) if v != 0
        )

    def choose(self, X: Any, eligible: Any, values: Any) -> NDArray[np.int64]:
        out = np.empty(X.shape[0], dtype=np.int64)
        probs = np.empty(X.shape[0])
        for i, x in enumerate(X):
            acts = np.flatnonzero(eligible[i])
            ex = [self._shared(x)] + [f"|a a{k}" for k in acts]
            pmf = np.asarray(self.vw.predict(ex), dtype=np.float64)
            pmf /= pmf.sum()
            j = int(self.rng.choice(acts.size, p=pmf))
            out[i] = acts[j]
            probs[i] = pmf[j]
        self.last_meta = probs
        return out

    def learn(self, X: Any, arms: Any, rewards: Any, values: Any, meta: Any) -> None:
        eligible, probs = meta
        # Costs in [-1, 0]: squarecb's regression oracle expects a bounded scale.
        r = rewards if values is None else rewards * values[arms] / values.max()
        for i, x in enumerate(X):
            lines = [self._shared(x)]
            for k in np.flatnonzero(eligible[i]):
                lab = f"0:{-r[i]:.6g}:{probs[i]:.6g} " if k == arms[i] else ""
                lines.append(f"{lab}|a a{k}")
            self.vw.learn(lines)


# ---------------------------------------------------------------- the loop
@dataclass
class RunResult:
    ratio: float  # cumulative expected reward / oracle's
    per_batch: NDArray[np.float64]  # expected reward per batch
    oracle_per_batch: NDArray[np.float64]


def run(
    adapter: Any,
    problem: Any,
    *,
    n_batches: int,
    batch: int,
    seed: int,
) -> RunResult:
    """Batches of decisions with rewards revealed one batch late."""
    ctx_rng = np.random.default_rng(seed)
    u_rng = np.random.default_rng(seed + 1)
    first_rng = np.random.default_rng(seed + 2)
    vals = problem.values
    got = np.zeros(n_batches)
    best = np.zeros(n_batches)
    pending = None
    for t in range(n_batches):
        X, el, P, key = problem.batch(batch, ctx_rng, t)
        u = u_rng.random(batch)
        if t < 2:  # no reward has arrived yet: the same uniform choices for all
            w = el / el.sum(axis=1, keepdims=True)
            arms = (w.cumsum(axis=1) <= first_rng.random((batch, 1))).sum(axis=1)
            probs = 1.0 / el.sum(axis=1)
        else:
            arms = adapter.choose(X, el, vals)
            probs = getattr(adapter, "last_meta", None)
        V = P if vals is None else P * vals
        got[t] = V[np.arange(batch), arms].sum()
        best[t] = np.where(el, V, -np.inf).max(axis=1).sum()
        r = problem.rewards(key, arms, u, t)
        if pending is not None:
            Xp, ap, rp, meta = pending
            adapter.learn(Xp, ap, rp, vals, meta)
        pending = (X, arms, r, (el, probs))
    return RunResult(float(got.sum() / best.sum()), got, best)

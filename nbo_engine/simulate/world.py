"""The simulated bank as a world that answers offers: the closed-loop oracle.

``World.load(DIR)`` rebuilds the customers as they stand at the end of the
simulated history (from ``DIR/truth``). Given a week and the offers the engine
made, :meth:`World.probabilities` returns each customer's true outcome
probabilities with and without the offer, :meth:`World.respond` draws the
outcomes (and updates holdings and closures), and :meth:`World.oracle` gives the
best offer per customer and its value, for regret.

Week numbers count from the end of the history (0 = the first week after it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.ingest.schemas import PRODUCTS
from nbo_engine.simulate.effects import (
    EFFECT_WEEKS,
    churn_log_hazard,
    churn_probability,
    offer_churn_shift,
    offer_conversion,
)
from nbo_engine.simulate.market import Market
from nbo_engine.simulate.params import (
    ChurnSpec,
    OfferSpec,
    SegmentSpec,
    TakeUpSpec,
    WorldParams,
)

__all__ = ["ResponseProbabilities", "World", "params_from_json", "relationship_value"]

#: Value of keeping a customer for a year: 2% of card spend plus 40 per product.
SPEND_MARGIN = 0.02
PRODUCT_MARGIN = 40.0


def relationship_value(
    expected_spend_52w: NDArray[np.float64], products_held: NDArray[np.int64]
) -> NDArray[np.float64]:
    """What the bank loses if the customer leaves (currency, one year)."""
    return SPEND_MARGIN * expected_spend_52w + PRODUCT_MARGIN * products_held


@dataclass(frozen=True)
class ResponseProbabilities:
    """True probabilities for pairs (customer, offer), each of shape (n,).

    ``value_*`` is the expected value to the bank (currency): margin times
    conversion, minus the offer's cost when treated, minus churn times the
    customer's relationship value. ``uplift_value = value_treated - value_control``.
    """

    p_convert_treated: NDArray[np.float64]
    p_convert_control: NDArray[np.float64]
    p_churn_treated: NDArray[np.float64]
    p_churn_control: NDArray[np.float64]
    value_treated: NDArray[np.float64]
    value_control: NDArray[np.float64]

    @property
    def uplift_convert(self) -> NDArray[np.float64]:
        return self.p_convert_treated - self.p_convert_control

    @property
    def uplift_churn(self) -> NDArray[np.float64]:
        return self.p_churn_treated - self.p_churn_control

    @property
    def uplift_value(self) -> NDArray[np.float64]:
        return self.value_treated - self.value_control


def _tuples(d: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}


def params_from_json(data: dict[str, Any]) -> WorldParams:
    """Rebuild :class:`WorldParams` from ``truth/params.json``."""
    p = data["params"]
    return WorldParams(
        segments=tuple(SegmentSpec(**_tuples(s)) for s in p["segments"]),
        churn=ChurnSpec(**_tuples(p["churn"])),
        take_up=tuple(TakeUpSpec(**_tuples(t)) for t in p["take_up"]),
        offers=tuple(OfferSpec(**_tuples(o)) for o in p["offers"]),
        retention_accept_logit=float(p["retention_accept_logit"]),
    )


class World:
    """Customers at the end of the history, answering offers by their true model."""

    def __init__(
        self,
        truth: pd.DataFrame,
        params: WorldParams,
        market: Market,
        history_weeks: int,
    ) -> None:
        self.params = params
        self.market = market
        self.history_weeks = history_weeks
        self.customer_ids: NDArray[np.str_] = truth["customer_id"].to_numpy(dtype=str)
        self._index = pd.Index(self.customer_ids)
        self.segment = truth["segment_index"].to_numpy(dtype=np.int8)
        self.life_stage = truth["life_stage_index"].to_numpy(dtype=np.int8)
        self.income_level = truth["income_level"].to_numpy(dtype=np.int8)
        self.lam = truth["lam"].to_numpy(dtype=np.float64)
        self.p_drop = truth["p_drop"].to_numpy(dtype=np.float64)
        self.active = truth["active_end"].to_numpy(dtype=bool).copy()
        self.open = truth["open_end"].to_numpy(dtype=bool).copy()
        self.complaints = truth["complaints_13w"].to_numpy(dtype=np.int64)
        self.expected_spend = truth["expected_spend_52w"].to_numpy(dtype=np.float64)
        self.held = np.column_stack(
            [truth[f"held_{p}"].to_numpy(dtype=bool) for p in PRODUCTS]
        ).copy()
        self.offer_ids = [o.offer_id for o in params.offers]
        self._offer_index = {o: i for i, o in enumerate(self.offer_ids)}

    @classmethod
    def load(cls, directory: Path) -> World:
        """The world behind a folder written by ``nbo simulate``."""
        truth_dir = Path(directory) / "truth"
        meta = json.loads((truth_dir / "params.json").read_text())
        params = params_from_json(meta)
        truth = pd.read_parquet(truth_dir / "customers.parquet")
        m = pd.read_csv(truth_dir / "market.csv", parse_dates=["week_start"])
        start = np.datetime64(meta["config"]["start_date"], "D")
        first = int(
            (
                m["week_start"].iloc[0].to_datetime64().astype("datetime64[D]") - start
            ).astype(int)
            // 7
        )
        market = Market(
            m["week_start"].to_numpy().astype("datetime64[D]"),
            m["policy_rate"].to_numpy(float),
            m["unemployment_rate"].to_numpy(float),
            m["house_price_index"].to_numpy(float),
            first_week=first,
        )
        return cls(truth, params, market, int(meta["config"]["weeks"]))

    # ------------------------------------------------------------------ lookup
    def positions(
        self, customer_ids: NDArray[np.str_] | list[str]
    ) -> NDArray[np.int64]:
        """Row positions of customer ids; raises ``KeyError`` naming unknown ids."""
        pos = self._index.get_indexer(pd.Index(np.asarray(customer_ids, dtype=str)))
        if (pos < 0).any():
            bad = np.asarray(customer_ids)[pos < 0][:5]
            raise KeyError(f"unknown customer id(s): {', '.join(map(str, bad))}")
        return pos.astype(np.int64)

    def offer_positions(
        self, offer_ids: NDArray[np.str_] | list[str]
    ) -> NDArray[np.int64]:
        try:
            return np.array([self._offer_index[o] for o in offer_ids], dtype=np.int64)
        except KeyError as exc:
            raise KeyError(
                f"unknown offer id {exc.args[0]!r}; known: {', '.join(self.offer_ids)}"
            ) from None

    # ------------------------------------------------------------------ truth
    def probabilities(
        self,
        customer_ids: NDArray[np.str_] | list[str],
        offer_ids: NDArray[np.str_] | list[str],
        week: int = 0,
    ) -> ResponseProbabilities:
        """True outcome probabilities of making offer ``offer_ids[k]`` to
        ``customer_ids[k]`` in ``week``; vectorised over pairs, shape (n,)."""
        c = self.positions(customer_ids)
        o = self.offer_positions(offer_ids)
        n = c.size
        abs_week = self.history_weeks + week
        policy = float(self.market.at(abs_week, "policy_rate"))
        unemp = float(self.market.at(abs_week, "unemployment_rate"))
        hp = self.market.house_price_change(abs_week)
        seg, life, inc = self.segment[c], self.life_stage[c], self.income_level[c]

        p_ctrl = np.zeros(n)
        p_treat = np.zeros(n)
        churn_shift = np.zeros(n)
        margin = np.zeros(n)
        cost = np.zeros(n)
        for k in np.unique(o):
            offer = self.params.offers[k]
            m = o == k
            p_ctrl[m], p_treat[m] = offer_conversion(
                self.params, offer, seg[m], life[m], inc[m], policy, hp
            )
            churn_shift[m] = offer_churn_shift(offer, seg[m])
            margin[m] = offer.margin
            cost[m] = offer.cost
        # A product already held (other than the current account) cannot be sold.
        product_idx = np.array(
            [PRODUCTS.index(self.params.offers[k].product) for k in o], dtype=np.int64
        )
        held = self.held[c, product_idx] & (product_idx != PRODUCTS.index("current"))
        gone = ~self.open[c]
        p_ctrl = np.where(held | gone, 0.0, p_ctrl)
        p_treat = np.where(held | gone, 0.0, p_treat)

        lh_a = churn_log_hazard(
            self.params.churn, seg, life, np.zeros(n, bool), self.complaints[c], unemp
        )
        lh_d = churn_log_hazard(
            self.params.churn, seg, life, np.ones(n, bool), self.complaints[c], unemp
        )
        mu = self.lam[c] * self.p_drop[c]
        active = self.active[c]
        churn_c = churn_probability(EFFECT_WEEKS, active, mu, lh_a, lh_d)
        churn_t = churn_probability(
            EFFECT_WEEKS, active, mu, lh_a + churn_shift, lh_d + churn_shift
        )
        churn_c = np.where(gone, 0.0, churn_c)
        churn_t = np.where(gone, 0.0, churn_t)
        rel = relationship_value(self.expected_spend[c], self.held[c].sum(axis=1))
        return ResponseProbabilities(
            p_convert_treated=p_treat,
            p_convert_control=p_ctrl,
            p_churn_treated=churn_t,
            p_churn_control=churn_c,
            value_treated=margin * p_treat - cost - churn_t * rel,
            value_control=margin * p_ctrl - churn_c * rel,
        )

    def respond(
        self,
        customer_ids: NDArray[np.str_] | list[str],
        offer_ids: NDArray[np.str_] | list[str],
        week: int,
        rng: np.random.Generator,
        *,
        update: bool = True,
        treated: NDArray[np.bool_] | None = None,
    ) -> pd.DataFrame:
        """Draw each customer's outcome by the true probabilities.

        Returns one row per pair with the probabilities and the draws
        (``converted`` within 30 days, ``churned`` within 13 weeks). With
        ``update`` converted customers now hold the product and churned ones
        leave the bank. ``treated`` (default all True) marks the pairs whose
        offer was made; the others (a holdout's customers, with the offer the
        policy would have made) draw by the control probabilities: organic
        take-up of that product and churn without the offer.
        """
        probs = self.probabilities(customer_ids, offer_ids, week)
        n = probs.p_convert_treated.size
        made = np.ones(n, dtype=bool) if treated is None else np.asarray(treated, bool)
        p_convert = np.where(made, probs.p_convert_treated, probs.p_convert_control)
        p_churn = np.where(made, probs.p_churn_treated, probs.p_churn_control)
        converted = rng.random(n) < p_convert
        churned = rng.random(n) < p_churn
        c = self.positions(customer_ids)
        o = self.offer_positions(offer_ids)
        if update:
            prod = np.array(
                [PRODUCTS.index(self.params.offers[k].product) for k in o],
                dtype=np.int64,
            )
            self.held[c[converted], prod[converted]] = True
            self.open[c[churned]] = False
        return pd.DataFrame(
            {
                "customer_id": np.asarray(customer_ids, dtype=str),
                "offer_id": np.asarray(offer_ids, dtype=str),
                "week": week,
                "p_convert_treated": probs.p_convert_treated,
                "p_convert_control": probs.p_convert_control,
                "p_churn_treated": probs.p_churn_treated,
                "p_churn_control": probs.p_churn_control,
                "uplift_value": probs.uplift_value,
                "treated": made,
                "converted": converted,
                "churned": churned,
            }
        )

    def organic(
        self,
        customer_ids: NDArray[np.str_] | list[str],
        week: int,
        rng: np.random.Generator,
        *,
        exclude: NDArray[np.str_] | list[str] | None = None,
        churn: NDArray[np.bool_] | None = None,
        update: bool = True,
    ) -> pd.DataFrame:
        """What customers do without an offer over the next 30 days / 13 weeks.

        Each customer may take up any product they do not hold, by its organic
        30-day take-up probability (the control probability of the product's
        first offer in the catalogue), except ``exclude`` (per customer: the
        product an offer was just made for, whose draw :meth:`respond` made;
        ``""`` for none); and, where ``churn`` is True, may leave by their
        13-week churn probability without an offer. With ``update`` holdings
        and departures are recorded. Returns one row per event:
        ``customer_id, product, kind`` (``take_up`` or ``churn``).
        """
        ids = np.asarray(customer_ids, dtype=str)
        n = ids.size
        first: dict[str, str] = {}
        for o in self.params.offers:
            if o.product != "current":
                first.setdefault(o.product, o.offer_id)
        products = list(first)
        k = len(products)
        probs = self.probabilities(
            np.repeat(ids, k), np.tile([first[p] for p in products], n), week
        )
        p_take = probs.p_convert_control.reshape(n, k)
        if exclude is not None:
            ex = np.asarray(exclude, dtype=str)
            p_take = np.where(ex[:, None] == np.asarray(products)[None, :], 0.0, p_take)
        took = rng.random((n, k)) < p_take
        leave = np.zeros(n, dtype=bool)
        if churn is not None:
            p_leave = probs.p_churn_control.reshape(n, k)[:, 0]
            leave = np.asarray(churn, bool) & (rng.random(n) < p_leave)
        rows, cols = np.nonzero(took)
        if update:
            c = self.positions(ids)
            prod = np.array([PRODUCTS.index(p) for p in products], dtype=np.int64)
            self.held[c[rows], prod[cols]] = True
            self.open[c[leave]] = False
        return pd.DataFrame(
            {
                "customer_id": np.concatenate([ids[rows], ids[leave]]),
                "product": np.concatenate(
                    [np.asarray(products)[cols], np.full(int(leave.sum()), "")]
                ),
                "kind": ["take_up"] * rows.size + ["churn"] * int(leave.sum()),
            }
        )

    def uplift_matrix(
        self,
        customer_ids: NDArray[np.str_] | list[str],
        week: int = 0,
        what: str = "value",
    ) -> NDArray[np.float64]:
        """True uplift of every offer for every customer, shape (n, n_offers).

        ``what`` is ``value``, ``convert`` or ``churn``.
        """
        ids = np.asarray(customer_ids, dtype=str)
        n, k = ids.size, len(self.offer_ids)
        probs = self.probabilities(np.repeat(ids, k), np.tile(self.offer_ids, n), week)
        values = {
            "value": probs.uplift_value,
            "convert": probs.uplift_convert,
            "churn": probs.uplift_churn,
        }[what]
        return values.reshape(n, k)

    def oracle(
        self,
        customer_ids: NDArray[np.str_] | list[str],
        week: int = 0,
        eligible: NDArray[np.bool_] | None = None,
    ) -> tuple[NDArray[np.str_], NDArray[np.float64]]:
        """The best offer per customer by true incremental value (or no offer,
        ``""``, when none adds value) and that value, shape (n,)."""
        u = self.uplift_matrix(customer_ids, week)
        if eligible is not None:
            u = np.where(eligible, u, -np.inf)
        best = np.argmax(u, axis=1)
        value = u[np.arange(u.shape[0]), best]
        choice = np.where(value > 0, np.asarray(self.offer_ids)[best], "")
        return choice, np.maximum(value, 0.0)

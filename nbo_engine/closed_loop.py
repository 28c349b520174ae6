"""The closed loop against the simulated bank, through the real offer API.

An edge, like ``scheduler.py``: it drives the engine from outside, as the
bank's channels would (``nbo simulate loop`` calls it).

Week after week, simulated customers visit the bank's channels; each visit is a
``POST /v1/offers`` to the offer API (the real FastAPI app, in-process over
ASGI, with a channel API key, on a simulated clock). The customer answers the
offer they were shown by their *true* probability
(:meth:`nbo_engine.simulate.World.respond`), and the channel reports what
happened through ``POST /v1/events`` (impressions, accepts with their value,
some explicit declines, and a share of batches resent to exercise the
idempotency). At the end of each week the engine's own jobs run at the
simulated time (``between_weeks``: by default the reward fold-in), and the
API's decider picks up the new bandit state.

What is measured comes from the truth, not from the draws: the *value* of a
served offer is its true expected incremental value for that customer
(``uplift_value``: margin x extra conversion - cost - extra churn x
relationship value); the *oracle* serves, among the offers the policy found
eligible for that request, the one with the highest true value (or nothing
when none adds value); *random* serves an eligible offer uniformly; *initial*
is the policy's first bandit state, scored exactly (its choice probabilities
on the logged context) on the same requests. Regret = oracle - value.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.api import create_app
from nbo_engine.decisioning.decide import load_compiled
from nbo_engine.errors import NboError, NoActivePolicyError
from nbo_engine.simulate import World
from nbo_engine.store import Engine
from nbo_engine.store import decisions as dstore
from nbo_engine.store import scores as score_store
from nbo_engine.store.apikeys import create_key
from nbo_engine.store.policies import load_version, read_slot
from nbo_engine.store.queries import read_table

__all__ = [
    "DEFAULT_CHANNEL_MIX",
    "BankFeed",
    "LoopConfig",
    "LoopResult",
    "WeekResult",
    "jobs_between_weeks",
    "run_loop",
]

#: Share of visits per channel (web and mobile dominate retail banking).
DEFAULT_CHANNEL_MIX: tuple[tuple[str, float], ...] = (
    ("web", 0.35),
    ("mobile", 0.35),
    ("email", 0.15),
    ("branch", 0.10),
    ("call_centre", 0.05),
)
#: Events per ``POST /v1/events`` (the API's batch limit is larger).
_EVENT_BATCH = 200
#: The end-of-week jobs run this long after the week ends (Monday 06:00).
_JOBS_AFTER = dt.timedelta(hours=6)
#: Simulated visits happen between these local hours (outside quiet hours).
_OPEN_HOURS = (9, 20)


@dataclass(frozen=True)
class LoopConfig:
    """One closed-loop run.

    Parameters
    ----------
    weeks : simulated weeks.
    requests_per_week : customer visits per week (each a different customer).
    seed : draws of visits, channels, times and responses.
    start : Monday of the first week; default the Monday after the history.
    attribution_days : days after a decision within which a response counts
        (customers here answer within three days; the fold-in waits this long).
    decline_share : share of customers who did not take an offer who say so
        (a ``decline`` event, which starts the offer's cool-down).
    resend_share : share of event batches the channel sends twice.
    channel_mix : (channel, share) of visits.
    customers : visit only these customers (default: everyone in both the
        simulated world and the active score snapshot).
    """

    weeks: int = 12
    requests_per_week: int = 2000
    seed: int = 0
    start: dt.date | None = None
    attribution_days: float = 7.0
    decline_share: float = 0.3
    resend_share: float = 0.05
    channel_mix: tuple[tuple[str, float], ...] = DEFAULT_CHANNEL_MIX
    customers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.weeks < 1:
            problems.append(f"weeks: expected >= 1, got {self.weeks}")
        if self.requests_per_week < 1:
            problems.append(
                f"requests_per_week: expected >= 1, got {self.requests_per_week}"
            )
        if not 0.0 < self.attribution_days <= 60.0:
            problems.append(
                f"attribution_days: expected (0, 60], got {self.attribution_days}"
            )
        for name in ("decline_share", "resend_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                problems.append(f"{name}: expected a share in [0, 1], got {v}")
        shares = [s for _, s in self.channel_mix]
        if not shares or min(shares) < 0 or sum(shares) <= 0:
            problems.append(f"channel_mix: expected positive shares, got {shares}")
        if self.start is not None and self.start.weekday() != 0:
            problems.append(
                f"start: expected a Monday, got {self.start} (a {self.start:%A})"
            )
        if problems:
            raise NboError("loop configuration: " + "; ".join(problems))


@dataclass(frozen=True)
class WeekResult:
    """One simulated week, valued by the truth (currency units per week)."""

    week: int
    start: dt.date
    requests: int
    served: int  # visits that got an offer
    holdout: int  # visits of customers in a holdout (no offer by design)
    accepted: int
    value: float  # true expected incremental value of what was served
    oracle: float
    random: float
    initial: float
    events: int
    duplicates: int
    policy_version_id: int
    bandit_state_id: int | None
    changes: tuple[str, ...] = ()
    accounts_opened: int = 0  # loaded into the store by the bank feed
    customers_left: int = 0

    @property
    def regret(self) -> float:
        return self.oracle - self.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "start": self.start.isoformat(),
            "requests": self.requests,
            "served": self.served,
            "holdout": self.holdout,
            "accepted": self.accepted,
            "value": round(self.value, 2),
            "oracle": round(self.oracle, 2),
            "random": round(self.random, 2),
            "initial": round(self.initial, 2),
            "regret": round(self.regret, 2),
            "events": self.events,
            "duplicates": self.duplicates,
            "policy_version_id": self.policy_version_id,
            "bandit_state_id": self.bandit_state_id,
            "changes": list(self.changes),
            "accounts_opened": self.accounts_opened,
            "customers_left": self.customers_left,
        }


@dataclass(frozen=True)
class LoopResult:
    weeks: tuple[WeekResult, ...]
    seconds: float
    double_counted_rewards: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([w.to_dict() for w in self.weeks])

    def totals(self) -> dict[str, float]:
        f = self.frame()
        return {
            k: float(f[k].sum())
            for k in ("requests", "served", "accepted", "value", "oracle", "random")
        } | {"initial": float(f["initial"].sum()), "regret": float(f["regret"].sum())}


BetweenWeeks = Callable[[Engine, dt.datetime], Sequence[str]]


def jobs_between_weeks(
    attribution_days: float,
    *,
    jobs: Sequence[str] = ("fold_rewards", "monitor", "weekly"),
    retune_mode: str = "auto",
    reports_dir: Path | None = None,
    forecast: bool = False,
    guardrails: Mapping[str, Any] | None = None,
    lookback_weeks: int | None = None,
) -> BetweenWeeks:
    """End-of-week work done by the engine's own scheduled jobs on the
    simulated clock (``run_due``): each job runs the periods that ended,
    the latest one only for the hourly fold (which folds everything due).
    ``guardrails`` overrides the retune's (as ``NBO_RETUNE_GUARDRAILS``),
    ``lookback_weeks`` its evidence window (``NBO_RETUNE_LOOKBACK_WEEKS``)."""
    from nbo_engine.config import load_settings
    from nbo_engine.jobs.runner import run_due

    overrides: dict[str, Any] = {
        "catch_up_fold_rewards": 1,
        "catch_up_monitor": 1,
        "catch_up_weekly": 1,
        "attribution_days": attribution_days,
        "retune_mode": retune_mode,
        "weekly_forecast": forecast,
    }
    if reports_dir is not None:
        overrides["reports_dir"] = str(reports_dir)
    if guardrails is not None:
        overrides["retune_guardrails"] = dict(guardrails)
    if lookback_weeks is not None:
        overrides["retune_lookback_weeks"] = lookback_weeks
    settings = load_settings(**overrides)

    def run(engine: Engine, now: dt.datetime) -> Sequence[str]:
        out = []
        for r in run_due(engine, now, list(jobs), settings=settings):
            if not r.ran:
                continue
            counts = r.record.counts or {}
            if r.status != "succeeded":
                first = (r.record.error or "").strip().splitlines()[-1:] or [""]
                out.append(f"{r.job} {r.period}: {r.status}: {first[0][:200]}")
            elif r.job == "weekly":
                out.append(
                    f"weekly {r.period}: retune {counts.get('retune')} "
                    f"({counts.get('changes', 0)} changes, "
                    f"{counts.get('refusals', 0)} refused); report "
                    f"{counts.get('report')}"
                )
            elif r.job == "fold_rewards" and counts.get("states_written"):
                out.append(
                    f"fold_rewards: {counts.get('rewards')} rewards "
                    f"({counts.get('positive')} positive) folded"
                )
        return out

    return run


def _first_monday_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=(7 - day.weekday()) % 7 or 7)


def _visitors(
    world: World, known: NDArray[np.str_], n: int, rng: np.random.Generator
) -> NDArray[np.str_]:
    """Customers still with the bank (in the world and in the snapshot)."""
    open_ids = world.customer_ids[world.open]
    pool = np.intersect1d(open_ids, known)
    if pool.size == 0:
        raise NboError(
            "simulated loop: no customer of the simulated world is in the active "
            "score snapshot; ingest and score the same bank first"
        )
    return np.asarray(rng.choice(pool, size=min(n, pool.size), replace=False))


def _segment_of(x: NDArray[np.float64], names: Sequence[str]) -> list[str | None]:
    seg_cols = [i for i, nm in enumerate(names) if nm.startswith("segment=")]
    out: list[str | None] = [None] * x.shape[0]
    if not seg_cols:
        return out
    block = x[:, seg_cols]
    hit = block.max(axis=1) > 0.5
    which = block.argmax(axis=1)
    for r in np.flatnonzero(hit):
        out[r] = names[seg_cols[which[r]]].split("=", 1)[1]
    return out


def _initial_value(
    engine: Engine,
    version_id: int,
    initial_state_id: int,
    log: pd.DataFrame,
    masks: NDArray[np.bool_],
    uplift: NDArray[np.float64],
) -> float:
    """Expected true value of the version's initial bandit state on the
    logged requests: sum over offers of its choice probability x true value."""
    rows = np.flatnonzero(masks.any(axis=1))
    if rows.size == 0:
        return 0.0
    policy = load_compiled(engine, version_id, initial_state_id)
    X = np.asarray([json.loads(c) for c in log["context"].to_numpy()[rows]])
    segments = _segment_of(X, policy.context.names)
    values = np.stack([policy.margin * policy.levers(s) for s in segments])
    el = masks[rows]
    vals = np.where(el & (values > 0), values, 1.0)
    p = policy.bandit.probabilities(X, el, values=vals)
    return float((p * np.where(el, uplift[rows], 0.0)).sum())


class BankFeed:
    """What the bank's core systems record while the loop runs, loaded into
    the store each week through the real ingest path (``accounts`` files):
    an account opened for each take-up (the offer's product) and, for each
    customer who leaves, every open account closed on the day they go.

    Take-ups are dated when the customer answers; a churn draw (``churned``
    within 13 weeks) is dated uniformly over those 13 weeks and written in
    the week it happens, so the store never holds the future.
    """

    _COLUMNS = (
        "account_id",
        "customer_id",
        "joint_customer_id",
        "product",
        "open_date",
        "close_date",
        "balance",
        "credit_limit",
        "interest_rate",
        "currency",
    )

    def __init__(self, workdir: Path) -> None:
        self._workdir = Path(workdir)
        self._workdir.mkdir(parents=True, exist_ok=True)
        self._pending: list[
            tuple[dt.date, str, str, str]
        ] = []  # date, kind, customer, product
        self._seq = 0
        self._left: set[str] = set()

    def schedule(
        self,
        answers: pd.DataFrame,
        answered_at: Sequence[dt.datetime],
        products: Mapping[str, str],
        rng: np.random.Generator,
    ) -> None:
        """Queue the take-ups and departures of ``answers`` (``World.respond``)."""
        took = answers["converted"].to_numpy(bool)
        left = answers["churned"].to_numpy(bool)
        for i in np.flatnonzero(took):
            self._pending.append(
                (
                    answered_at[int(i)].date(),
                    "open",
                    str(answers["customer_id"].iloc[i]),
                    products[str(answers["offer_id"].iloc[i])],
                )
            )
        days = rng.integers(1, 92, int(left.sum()))
        for d, i in zip(days, np.flatnonzero(left), strict=True):
            when = answered_at[int(i)].date() + dt.timedelta(days=int(d))
            self._pending.append(
                (when, "close", str(answers["customer_id"].iloc[i]), "")
            )

    def schedule_organic(
        self,
        happened: pd.DataFrame,
        visited_at: Mapping[str, dt.datetime],
        rng: np.random.Generator,
    ) -> None:
        """Queue what customers did without an offer (``World.organic``): a
        take-up within 30 days of the visit, a departure within 13 weeks."""
        kinds = happened["kind"].to_numpy(str)
        days = np.where(
            kinds == "take_up",
            rng.integers(0, 30, len(happened)),
            rng.integers(1, 92, len(happened)),
        )
        for cid, product, kind, d in zip(
            happened["customer_id"], happened["product"], kinds, days, strict=True
        ):
            when = visited_at[str(cid)].date() + dt.timedelta(days=int(d))
            if kind == "take_up":
                self._pending.append((when, "open", str(cid), str(product)))
            else:
                self._pending.append((when, "close", str(cid), ""))

    def flush(self, engine: Engine, until: dt.datetime, week: int) -> dict[str, int]:
        """Load what happened before ``until`` (naive UTC); returns counts."""
        due = [p for p in self._pending if p[0] < until.date()]
        self._pending = [p for p in self._pending if p[0] >= until.date()]
        # by account: an account opened and closed in the same week is one row
        rows: dict[str, dict[str, Any]] = {}
        leaving: dict[str, dt.date] = {}
        opened = 0
        for when, kind, customer, product in sorted(due):
            if customer in self._left or customer in leaving:
                continue  # a customer who has left opens nothing more
            if kind == "open":
                self._seq += 1
                row = dict.fromkeys(self._COLUMNS, "")
                row |= {
                    "account_id": f"L{self._seq:09d}",
                    "customer_id": customer,
                    "product": product,
                    "open_date": when.isoformat(),
                    "balance": "0.00",
                    "currency": "GBP",
                }
                rows[row["account_id"]] = row
                opened += 1
            else:
                leaving[customer] = when
        if leaving:
            # every account the bank holds open for them closes (as stored:
            # the store's clean rows, not the files they came from)
            held = read_table(engine, "accounts", customer_ids=sorted(leaving))
            held = held[held["close_date"].isna()]
            for r in held.to_dict(orient="records"):
                row = {c: _text(r.get(c)) for c in self._COLUMNS}
                rows[row["account_id"]] = row
            for row in rows.values():
                gone = leaving.get(row["customer_id"])
                if gone is not None and row["open_date"] <= gone.isoformat():
                    row["close_date"] = gone.isoformat()
                    row["balance"] = "0.00"  # paid out when the account closes
            self._left.update(leaving)
        if rows:
            from nbo_engine.ingest import ingest_file

            path = self._workdir / f"accounts_week_{week:03d}.csv"
            pd.DataFrame(list(rows.values()), columns=list(self._COLUMNS)).to_csv(
                path, index=False
            )
            report = ingest_file("accounts", path, engine=engine, as_of=until)
            if report.rows_quarantined:
                raise NboError(
                    f"simulated loop: {report.rows_quarantined} rows of {path.name} "
                    f"were quarantined ({report.quarantine_reasons}); see "
                    "`nbo quarantine list`"
                )
        return {"accounts_opened": opened, "customers_left": len(leaving)}


def _text(v: Any) -> str:
    """A stored value as the contract's text (dates ISO, blanks empty)."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return ""
    if isinstance(v, pd.Timestamp | dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def run_loop(
    engine: Engine,
    world: World,
    config: LoopConfig = LoopConfig(),
    *,
    between_weeks: BetweenWeeks | None = None,
    on_week: Callable[[WeekResult], None] | None = None,
    app_factory: Callable[..., Any] = create_app,
    feed: BankFeed | None = None,
) -> LoopResult:
    """Drive the engine for ``config.weeks`` simulated weeks (see module doc).

    The store must hold the simulated bank (ingested and scored) and a live
    policy whose offers the simulator knows. With ``feed``, the customers'
    take-ups and departures reach the store's accounts each week (through
    ingest), so the engine's own evidence (uplift, retune, reports) sees them.

    Raises
    ------
    NoActivePolicyError
        No policy is live.
    NboError
        The policy offers something the simulator does not know, or no
        simulated customer is in the score snapshot.
    """
    return asyncio.run(
        _run(engine, world, config, between_weeks, on_week, app_factory, feed)
    )


async def _run(
    engine: Engine,
    world: World,
    config: LoopConfig,
    between_weeks: BetweenWeeks | None,
    on_week: Callable[[WeekResult], None] | None,
    app_factory: Callable[..., Any],
    feed: BankFeed | None,
) -> LoopResult:
    t0 = time.perf_counter()
    if read_slot(engine, "live") is None:
        raise NoActivePolicyError(
            "no policy version is live; publish one with `nbo policy publish "
            "policies/catalog.yaml --activate`"
        )
    snap = score_store.latest_snapshot(engine)
    if snap is None:
        raise NboError("simulated loop: no score snapshot; run `nbo score` first")
    known = np.asarray(
        score_store.snapshot_scores(engine, int(snap["id"]), []).index, dtype=str
    )
    if config.customers is not None:
        known = np.intersect1d(known, np.asarray(config.customers, dtype=str))
    rng = np.random.default_rng(config.seed)
    history_end = dt.date.fromisoformat(str(snap["as_of"])[:10])
    start = config.start or _first_monday_after(history_end)
    between = between_weeks or jobs_between_weeks(
        config.attribution_days, jobs=("fold_rewards",)
    )
    channels = np.array([c for c, _ in config.channel_mix])
    shares = np.array([s for _, s in config.channel_mix], dtype=np.float64)
    shares = shares / shares.sum()
    offer_pos = {o: i for i, o in enumerate(world.offer_ids)}
    products = {o.offer_id: o.product for o in world.params.offers}

    clock = [dt.datetime.combine(start, dt.time(), dt.UTC)]
    app = app_factory(
        engine, key_cache_seconds=3600.0, refresh_seconds=3600.0, clock=lambda: clock[0]
    )
    _, key = create_key(
        engine, role="channel", name="simulated-loop", rate_per_minute=10_000_000
    )
    first_version: int | None = None
    first_state = 0
    results: list[WeekResult] = []
    posted_events: dict[str, int] = {}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://nbo.loop",
            headers={"X-API-Key": key},
            timeout=60.0,
        ) as client,
    ):
        for week in range(config.weeks):
            monday = start + dt.timedelta(weeks=week)
            ids = _visitors(world, known, config.requests_per_week, rng)
            n = ids.size
            chans = rng.choice(channels, size=n, p=shares)
            minutes = np.sort(
                rng.integers(0, 7, n) * 1440
                + rng.integers(_OPEN_HOURS[0] * 60, _OPEN_HOURS[1] * 60, n)
            )
            base = dt.datetime.combine(monday, dt.time(), dt.UTC)
            decision_ids: list[str] = []
            for i in range(n):
                clock[0] = base + dt.timedelta(minutes=int(minutes[i]))
                r = await client.post(
                    "/v1/offers",
                    json={"customer_id": str(ids[i]), "channel": str(chans[i]), "n": 1},
                )
                if r.status_code != 200:
                    raise NboError(
                        f"simulated loop: POST /v1/offers answered {r.status_code}: "
                        f"{r.text[:300]}"
                    )
                decision_ids.append(r.json()["decision_id"])
            log = dstore.decisions_frame(engine, decision_ids)
            log_customers = log["customer_id"].to_numpy(dtype=str)
            version = int(log["policy_version_id"].iloc[0])
            if first_version is None:  # the policy before any learning or retune
                first_version = version
                first_state = _initial_state_id(engine, version)
            # truth before anyone answers (respond() changes holdings)
            uplift = world.uplift_matrix(log_customers, week)
            for v in {version, first_version}:
                unknown = [
                    o for o in load_version_offers(engine, v) if o not in offer_pos
                ]
                if unknown:
                    raise NboError(
                        "simulated loop: the live policy offers "
                        f"{', '.join(unknown)}, which the simulated bank does not "
                        f"know; it knows {', '.join(world.offer_ids)}"
                    )
            # eligible sets as logged, over the simulator's offers
            masks = np.zeros(uplift.shape, dtype=bool)
            for r_i, el in enumerate(log["eligible"].to_numpy()):
                for o in json.loads(el):
                    masks[r_i, offer_pos[o]] = True
            served = log["offer_id"].notna().to_numpy()
            oracle = np.where(masks, uplift, -np.inf).max(axis=1, initial=-np.inf)
            oracle = np.where(masks.any(axis=1), np.maximum(oracle, 0.0), 0.0)
            n_el = masks.sum(axis=1)
            random_v = np.where(
                n_el > 0,
                np.where(masks, uplift, 0.0).sum(axis=1) / np.maximum(n_el, 1),
                0.0,
            )
            cols = [offer_pos[o] for o in load_version_offers(engine, first_version)]
            initial_v = _initial_value(
                engine, first_version, first_state, log, masks[:, cols], uplift[:, cols]
            )
            # customers answer the offers they were shown, by the truth
            shown = log[served]
            answers = world.respond(
                shown["customer_id"].to_numpy(dtype=str),
                shown["offer_id"].to_numpy(dtype=str),
                week,
                rng,
                update=True,
            )
            value = float(answers["uplift_value"].sum())
            delay = rng.integers(5, 3 * 1440, len(answers))
            answered_at = [
                pd.Timestamp(t).to_pydatetime() + dt.timedelta(minutes=int(m))
                for t, m in zip(shown["ts"], delay, strict=True)
            ]
            events = _events(shown, answers, answered_at, world, config, rng)
            week_end = base + dt.timedelta(days=7)
            clock[0] = week_end
            n_events, dups = await _post_events(
                client, events, config, rng, posted_events
            )
            changes: list[str] = []
            moved = {"accounts_opened": 0, "customers_left": 0}
            if feed is not None:
                feed.schedule(answers, answered_at, products, rng)
                # everyone visited also lives on without (other) offers: the
                # holdout's outcomes are the control the evidence needs
                served_product = np.where(
                    served,
                    log["offer_id"].map(products).fillna("").to_numpy(str),
                    "",
                )
                feed.schedule_organic(
                    world.organic(
                        log_customers,
                        week,
                        rng,
                        exclude=served_product,
                        churn=~served,
                    ),
                    {
                        str(c): pd.Timestamp(t).to_pydatetime()
                        for c, t in zip(log_customers, log["ts"], strict=True)
                    },
                    rng,
                )
                moved = feed.flush(engine, week_end.replace(tzinfo=None), week + 1)
                changes.append(
                    f"bank feed: {moved['accounts_opened']} accounts opened, "
                    f"{moved['customers_left']} customers left"
                )
            # the scheduler's jobs fire early on Monday (before the channels
            # open at 09:00): the week that just ended is due
            changes += list(
                between(engine, (week_end + _JOBS_AFTER).replace(tzinfo=None))
            )
            app.state.nbo.deciders.refresh()
            holdout = int(log["variant"].isin(["holdout"]).sum())
            state_ids = log["bandit_state_id"].dropna()
            result = WeekResult(
                week=week + 1,
                start=monday,
                requests=n,
                served=int(served.sum()),
                holdout=holdout,
                accepted=int(answers["converted"].sum()),
                value=value,
                oracle=float(oracle.sum()),
                random=float(random_v.sum()),
                initial=initial_v,
                events=n_events,
                duplicates=dups,
                policy_version_id=version,
                bandit_state_id=int(state_ids.iloc[-1]) if len(state_ids) else None,
                changes=tuple(changes),
                **moved,
            )
            results.append(result)
            if on_week is not None:
                on_week(result)
    return LoopResult(tuple(results), time.perf_counter() - t0)


def load_version_offers(engine: Engine, version_id: int) -> list[str]:
    """Offer ids of a policy version, in the spec's order."""
    from nbo_engine.policy import parse_policy

    info = load_version(engine, version_id)
    return list(
        parse_policy(info.spec, filename=f"policy_version_{version_id}.yaml").offer_ids
    )


def _initial_state_id(engine: Engine, version_id: int) -> int:
    """The first bandit state of a version (the policy before any learning)."""
    load_compiled(engine, version_id)  # makes sure one exists
    first = dstore.first_bandit_state(engine, version_id)
    assert first is not None
    return first.id


def _events(
    shown: pd.DataFrame,
    answers: pd.DataFrame,
    answered_at: Sequence[dt.datetime],
    world: World,
    config: LoopConfig,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """Impressions for every offer shown, an accept and a conversion (with the
    offer's margin) for each customer who took it, a decline for some who
    did not, at ``answered_at``."""
    margins = {o.offer_id: o.margin for o in world.params.offers}
    took = answers["converted"].to_numpy(dtype=bool)
    declined = ~took & (rng.random(len(answers)) < config.decline_share)
    out: list[dict[str, Any]] = []
    for i, (d, o, ts) in enumerate(
        zip(shown["decision_id"], shown["offer_id"], shown["ts"], strict=True)
    ):
        t0 = pd.Timestamp(ts).to_pydatetime()
        out.append(_event(d, o, "impression", t0 + dt.timedelta(seconds=1)))
        if took[i]:
            out.append(_event(d, o, "accept", answered_at[i]))
            out.append(_event(d, o, "conversion", answered_at[i], margins[o]))
        elif declined[i]:
            out.append(_event(d, o, "decline", answered_at[i]))
    return out


def _event(
    decision_id: str,
    offer_id: str,
    kind: str,
    ts: dt.datetime,
    value: float | None = None,
) -> dict[str, Any]:
    e: dict[str, Any] = {
        "event_id": f"{decision_id}-{kind}",
        "decision_id": decision_id,
        "offer_id": offer_id,
        "type": kind,
        "ts": ts.replace(tzinfo=dt.UTC).isoformat(),
    }
    if value is not None:
        e["value"] = value
    return e


async def _post_events(
    client: httpx.AsyncClient,
    events: list[dict[str, Any]],
    config: LoopConfig,
    rng: np.random.Generator,
    posted: dict[str, int],
) -> tuple[int, int]:
    """Post in batches (some resent); returns (events stored, duplicates)."""
    stored = dups = 0
    for i in range(0, len(events), _EVENT_BATCH):
        batch = events[i : i + _EVENT_BATCH]
        for attempt in range(2 if rng.random() < config.resend_share else 1):
            r = await client.post("/v1/events", json={"events": batch})
            if r.status_code != 200:
                raise NboError(
                    f"simulated loop: POST /v1/events answered {r.status_code}: "
                    f"{r.text[:300]}"
                )
            body: Mapping[str, Any] = r.json()
            stored += int(body["inserted"])
            dups += int(body["duplicates"])
            del attempt
    for e in events:
        posted[e["event_id"]] = posted.get(e["event_id"], 0) + 1
    return stored, dups

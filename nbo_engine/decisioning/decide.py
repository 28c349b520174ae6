"""The decider: live and shadow policies in memory, one transaction per batch.

``Decider.load(engine)`` reads the policy version in the ``live`` slot (and
the ``shadow`` one, if set), the newest bandit state of each (creating an
``init`` state when a version has none), and the active score snapshot, and
compiles them (:class:`~nbo_engine.decisioning.compiled.CompiledPolicy`).
``decide_many`` then costs one write transaction for any number of requests:
lock the customers, read their profile rows and recent contact histories (a
statement each), decide with the live policy (and the shadow policy on the
same inputs), insert the decision rows, commit; ``decide`` is
``decide_many`` of one request. Writing inside the transaction that read the
history, under the customers' locks, is what keeps contact caps exact across
processes; a background writer would let two requests both see room under a
cap. Batching the requests that arrive together (the API's micro-batcher,
``nbo_engine.api.batching``) keeps that exactness and pays one commit per
batch. ``refresh()`` re-reads the slots, bandit
states and snapshot (three small queries) and rebuilds only what changed.

Experiments: the decider loads the running experiments and the global holdout
from the store (``nbo_engine.store.experiments``) and re-reads them on
``refresh()`` when an experiment changed (one more small query: the newest
``experiment_changes`` id, and the newest bandit state of each treatment
version). Each decision assigns the customer (:func:`assign_experiment`, after
the audience check on their profile) and logs experiment and variant; the
global holdout and no-treatment variants get no offers; in a ``policy``
experiment the variant's policy version (``NAME@VERSION``) decides and is
logged as the decision's policy version.

Shadow decisions are logged with ``mode='shadow'`` and ``shadow_of`` the live
decision id, and are never returned as offers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbo_engine.decisioning.assignment import (
    Assignment,
    assign_customer,
    assign_experiment,
    in_audience,
    resolve_treatment,
)
from nbo_engine.decisioning.compiled import CompiledPolicy
from nbo_engine.decisioning.context import check_request_context
from nbo_engine.decisioning.core import decide_core
from nbo_engine.decisioning.loading import (
    LoadedExperiments,
    LoadedPolicies,
    cache_of,
    history_days,
    load_compiled,
    load_experiments,
    load_policies,
)
from nbo_engine.decisioning.records import (
    DecisionRequest,
    DecisionResult,
    OfferChoice,
    Served,
    choices_of,
    decision_rng,
    decision_row,
    offer_rows,
)
from nbo_engine.errors import DecisionInputError, UnknownCustomerError
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout
from nbo_engine.ingest.schemas import CONTACT_CHANNELS
from nbo_engine.store import Engine, write
from nbo_engine.store import decisions as store
from nbo_engine.store import experiments as experiment_store
from nbo_engine.timeutil import naive_utc

__all__ = [
    "Assignment",
    "Decider",
    "DecisionRequest",
    "DecisionResult",
    "OfferChoice",
    "assign_experiment",
    "decision_rng",
    "in_audience",
    "load_compiled",
]

MAX_CUSTOMER_ID = 64


def _check_inputs(
    customer_id: object, channel: object, n: object, now: object, max_n: int
) -> None:
    if not isinstance(customer_id, str) or not 0 < len(customer_id) <= MAX_CUSTOMER_ID:
        raise DecisionInputError(
            f"customer_id: expected text of 1 to {MAX_CUSTOMER_ID} characters, got "
            f"{customer_id!r}",
            "customer_id",
            customer_id,
        )
    if channel not in CONTACT_CHANNELS:
        raise DecisionInputError(
            f"channel: expected one of {', '.join(CONTACT_CHANNELS)}, got {channel!r}",
            "channel",
            channel,
        )
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= max_n:
        raise DecisionInputError(
            f"n: expected an integer from 1 to {max_n} (the policy's "
            f"arbitration.max_offers), got {n!r}",
            "n",
            n,
        )
    if not isinstance(now, dt.datetime):
        raise DecisionInputError(f"now: expected a datetime, got {now!r}", "now", now)


class Decider:
    """Decides for channels with the live policy (and logs the shadow one).

    Thread-safe: ``decide`` may be called from many threads; ``refresh``
    swaps the loaded policies and experiments atomically. Build it with
    :meth:`load`.
    """

    def __init__(
        self,
        engine: Engine,
        loaded: LoadedPolicies,
        *,
        seed: int | None = None,
        experiments: LoadedExperiments | None = None,
        from_store: bool = False,
    ) -> None:
        self.engine = engine
        self._loaded = loaded
        self._ids = random.Random(seed) if seed is not None else None
        self._exps = experiments if experiments is not None else LoadedExperiments()
        self._from_store = from_store
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, int | None], CompiledPolicy] = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        engine: Engine,
        *,
        seed: int | None = None,
        experiments: Sequence[ExperimentSpec] | None = None,
        global_holdout: GlobalHoldout | None = None,
    ) -> Decider:
        """Read the live (and shadow) policy, bandit states, snapshot and the
        running experiments.

        Parameters
        ----------
        seed : makes decision ids (hence every random draw) repeatable.
        experiments, global_holdout : when either is given, these (and only
            these) are used and never reloaded; by default the running
            experiments and global holdout are read from the store, and
            re-read by :meth:`refresh` when one changes.

        Raises
        ------
        NoActivePolicyError
            If no policy version is in the ``live`` slot.
        """
        loaded = load_policies(engine, store.read_stamp(engine), {})
        from_store = experiments is None and global_holdout is None
        if from_store:
            running = experiment_store.running_experiments(engine)
        else:
            running = experiment_store.Running(
                tuple(experiments or ()), global_holdout, None
            )
        exps = load_experiments(
            engine, running, cache_of(loaded), from_store=from_store
        )
        decider = cls(
            engine, loaded, seed=seed, experiments=exps, from_store=from_store
        )
        decider._remember(loaded, exps)
        return decider

    def _remember(self, loaded: LoadedPolicies, exps: LoadedExperiments) -> None:
        self._cache.update(cache_of(loaded))
        for c in exps.treatments.values():
            self._cache[(c.version_id, c.bandit_state_id)] = c

    def refresh(self) -> bool:
        """Reload what changed: a slot, a bandit state, the snapshot, or (when
        read from the store) an experiment or a treatment version's bandit.

        Returns True when something was reloaded. Cheap when nothing changed
        (four small indexed queries).
        """
        stamp = store.read_stamp(self.engine)
        loaded, exps = self._loaded, self._exps
        if stamp != loaded.stamp:
            loaded = load_policies(self.engine, stamp, self._cache)
        if self._from_store:
            exp_stamp = experiment_store.read_experiment_stamp(
                self.engine, exps.version_ids
            )
            if exp_stamp != exps.stamp:
                exps = load_experiments(
                    self.engine,
                    experiment_store.running_experiments(self.engine),
                    {**self._cache, **cache_of(loaded)},
                    from_store=True,
                )
        if loaded is self._loaded and exps is self._exps:
            return False
        self._cache = {}
        self._remember(loaded, exps)
        self._exps = exps
        self._loaded = loaded
        return True

    def close(self) -> None:
        """Nothing to flush: every decision is committed before it returns."""

    @property
    def live(self) -> CompiledPolicy:
        return self._loaded.live

    @property
    def shadow(self) -> CompiledPolicy | None:
        return self._loaded.shadow

    @property
    def snapshot_id(self) -> int | None:
        return self._loaded.snapshot_id

    @property
    def experiments(self) -> tuple[ExperimentSpec, ...]:
        """The experiments decisions are assigned to, in assignment order."""
        return self._exps.specs

    @property
    def global_holdout(self) -> GlobalHoldout | None:
        return self._exps.holdout

    @property
    def experiment_problems(self) -> tuple[str, ...]:
        """Running experiments left out (they enrol nobody), with the reason."""
        return self._exps.problems

    def assign(
        self, customer_id: str, day: dt.date, profile: Mapping[str, Any]
    ) -> Assignment:
        """The customer's experiment, variant, no-contact reason and the policy
        version that decides for them on ``day``, as :meth:`decide` does it.

        ``profile`` is their stored profile row (``read_profile`` with this
        decider's fields), which the audience rules read.
        """
        return assign_customer(self._exps, self._loaded.live, customer_id, day, profile)

    @property
    def profile_fields(self) -> frozenset[str]:
        """Input-table fields a profile must carry for the live and shadow
        policies, the audiences and the treatment versions."""
        return self._loaded.fields | self._exps.fields

    def _decide_rows(
        self,
        state: LoadedPolicies,
        exps: LoadedExperiments,
        row: dict[str, Any],
        history: store.ContactHistory,
        *,
        customer_id: str,
        channel: str,
        n: int,
        now: dt.datetime,
        request: Mapping[str, Any],
        request_id: str | None,
        decision_id: str,
        shadow_id: str | None,
        t0: float | None,
    ) -> tuple[Served, store.DecisionRows]:
        """One customer's decision (and shadow decision) and its log rows,
        from their profile row and contact history: what :meth:`decide` and
        :func:`~nbo_engine.decisioning.batch.decide_batch` both run."""
        live, shadow = state.live, state.shadow
        ts = naive_utc(now)

        def only_known(policy: CompiledPolicy) -> dict[str, Any]:
            known = policy.spec.rule_schema.fields
            return {k: v for k, v in request.items() if k in known}

        a = assign_customer(exps, live, customer_id, ts.date(), row)
        experiment, variant, no_contact, policy = (
            a.experiment,
            a.variant,
            a.no_contact,
            a.policy,
        )
        treatment, no_contact = resolve_treatment(policy, a.treatment, no_contact)
        sh_treatment, sh_no_contact = (
            resolve_treatment(shadow, a.treatment, a.no_contact)
            if shadow is not None
            else (None, None)
        )
        with self._lock:
            out = decide_core(
                policy,
                row,
                history,
                channel=channel,
                n=min(n, policy.spec.arbitration.max_offers),
                now=now,
                rng=decision_rng(decision_id),
                request=request if policy is live else only_known(policy),
                no_contact=no_contact,
                treatment=treatment,
            )
            sh = None
            if shadow is not None and shadow_id is not None:
                sh = decide_core(
                    shadow,
                    row,
                    history,
                    channel=channel,
                    n=min(n, shadow.spec.arbitration.max_offers),
                    now=now,
                    rng=decision_rng(shadow_id),
                    request=only_known(shadow) if request else {},
                    no_contact=sh_no_contact,
                    treatment=sh_treatment,
                )
        latency = (time.perf_counter() - t0) * 1000.0 if t0 is not None else None
        common = {
            "request_id": request_id,
            "customer_id": customer_id,
            "channel": channel,
            "ts": ts,
            "snapshot_id": state.snapshot_id,
            "experiment": experiment,
            "variant": variant,
            "n_requested": n,
            "latency_ms": latency,
        }
        choices = choices_of(policy, out)
        decisions = [decision_row(decision_id, policy, out, common, "live", None)]
        offers = offer_rows(decision_id, choices)
        if sh is not None and shadow is not None and shadow_id is not None:
            decisions.append(
                decision_row(shadow_id, shadow, sh, common, "shadow", decision_id)
            )
            offers += offer_rows(shadow_id, choices_of(shadow, sh))
        return Served(out, policy, experiment, variant, choices), store.DecisionRows(
            decisions, offers
        )

    # ------------------------------------------------------------------ decide
    def _new_id(self, request: str = "") -> str:
        """A random decision id; with a seed, a repeatable one that also
        depends on ``request`` (customer, channel, time), so two deciders
        with the same seed deciding for other customers never share an id."""
        if self._ids is None:
            return uuid.uuid4().hex
        draw = self._ids.getrandbits(128).to_bytes(16, "big")
        digest = hashlib.blake2b(draw + request.encode(), digest_size=16).digest()
        return uuid.UUID(bytes=digest, version=4).hex

    def decide(
        self,
        customer_id: str,
        channel: str,
        n: int = 1,
        *,
        now: dt.datetime,
        request_id: str | None = None,
        context: Mapping[str, float | str | bool | None] | None = None,
    ) -> DecisionResult:
        """Up to ``n`` ranked offers for a customer on a channel, logged.

        Parameters
        ----------
        customer_id : a customer of the active score snapshot.
        channel : one of web, mobile, branch, call_centre, email.
        n : offers wanted, 1 to the live policy's ``arbitration.max_offers``
            (a challenger policy version with a lower maximum serves fewer).
        now : decision time (aware, or naive UTC).
        request_id : the caller's id for the request (logged).
        context : real-time profile fields the channel knows (declared profile
            fields of the policy; consent fields excluded); ``None`` as a
            value means the field is missing.

        Raises
        ------
        DecisionInputError
            A bad channel, ``n``, ``now``, customer id or context field (the
            message names the field and the value).
        UnknownCustomerError
            The customer is not in the active score snapshot.
        """
        request = DecisionRequest(
            customer_id, channel, n, request_id=request_id, context=context
        )
        answer = self.decide_many([request], now=now)[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def decide_many(
        self, requests: Sequence[DecisionRequest], *, now: dt.datetime
    ) -> list[DecisionResult | Exception]:
        """Decide many requests at ``now``, logging them in one transaction.

        Each request is decided exactly as :meth:`decide` decides it; the
        answers come back in request order, each a :class:`DecisionResult`
        or the exception that request alone raised (a bad input, a customer
        not in the snapshot), which logs nothing for it. All requests share
        one transaction: lock the customers (PostgreSQL advisory locks in key
        order), read every profile and every contact history in a statement
        each, decide, insert every log row, commit. A customer asked for
        twice is decided again in a later transaction, after the first
        decision is written (and stamped a microsecond later), so its contact
        caps count the first one. If the
        transaction fails (the database is down), every request of it gets
        that error and nothing of it is logged.

        This is what the offer API's micro-batcher calls with the requests
        that arrived while the previous batch was deciding: one commit (one
        WAL flush on PostgreSQL) per batch instead of one per request.
        """
        if not isinstance(now, dt.datetime):
            raise DecisionInputError(
                f"now: expected a datetime, got {now!r}", "now", now
            )
        started = time.perf_counter()
        state, exps = self._loaded, self._exps
        answers: list[DecisionResult | Exception | None] = [None] * len(requests)
        todo: list[tuple[int, _Prepared]] = []
        for i, req in enumerate(requests):
            try:
                todo.append((i, self._prepare(state, req, now, started)))
            except Exception as exc:
                answers[i] = exc
        tick = 0
        while todo:
            seen: set[str] = set()
            now_round: list[tuple[int, _Prepared]] = []
            later: list[tuple[int, _Prepared]] = []
            for item in todo:
                cid = item[1].customer_id
                (later if cid in seen else now_round).append(item)
                seen.add(cid)
            # a later round is stamped a microsecond later: it is decided
            # after the round before, and a replay (which reads the history
            # strictly before a decision) sees those contacts
            at = now + dt.timedelta(microseconds=tick)
            self._decide_round(state, exps, now_round, at, answers)
            todo = later
            tick += 1
        return [a if a is not None else RuntimeError("not decided") for a in answers]

    def _prepare(
        self,
        state: LoadedPolicies,
        req: DecisionRequest,
        now: dt.datetime,
        started: float,
    ) -> _Prepared:
        live = state.live
        _check_inputs(
            req.customer_id, req.channel, req.n, now, live.spec.arbitration.max_offers
        )
        context = check_request_context(req.context, live.spec.rule_schema)
        if state.snapshot_id is None:
            raise UnknownCustomerError(
                f"customer_id: {req.customer_id!r} has no scores: there is no "
                "active score snapshot (run `nbo scores refresh`)",
                req.customer_id,
            )
        key = f"{req.customer_id}|{req.channel}|{naive_utc(now).isoformat()}"
        decision_id = self._new_id(key)
        shadow_id = self._new_id(key) if state.shadow is not None else None
        return _Prepared(
            req.customer_id,
            req.channel,
            req.n,
            context,
            req.request_id,
            decision_id,
            shadow_id,
            req.received if req.received is not None else started,
        )

    def _decide_round(
        self,
        state: LoadedPolicies,
        exps: LoadedExperiments,
        items: Sequence[tuple[int, _Prepared]],
        now: dt.datetime,
        answers: list[DecisionResult | Exception | None],
    ) -> None:
        """One transaction for requests of distinct customers."""
        snapshot_id = state.snapshot_id
        assert snapshot_id is not None  # _prepare refused the requests otherwise
        ts = naive_utc(now)
        ids = [p.customer_id for _, p in items]
        served: list[tuple[int, _Prepared, Served]] = []
        try:
            with write(self.engine) as conn:
                store.lock_customers(conn, ids)
                profiles = {
                    str(r["customer_id"]): r
                    for r in store.read_profiles(
                        conn, snapshot_id, ids, ts, state.fields | exps.fields
                    )
                }
                histories = store.read_contact_histories(
                    conn, list(profiles), ts, history_days(state, exps)
                )
                decisions: list[Mapping[str, Any]] = []
                offers: list[Mapping[str, Any]] = []
                for i, p in items:
                    row = profiles.get(p.customer_id)
                    if row is None:
                        answers[i] = UnknownCustomerError(
                            f"customer_id: {p.customer_id!r} is not in the active "
                            f"score snapshot {snapshot_id}",
                            p.customer_id,
                        )
                        continue
                    try:
                        out, rows = self._decide_rows(
                            state,
                            exps,
                            row,
                            histories.get(p.customer_id) or _NO_HISTORY,
                            customer_id=p.customer_id,
                            channel=p.channel,
                            n=p.n,
                            now=now,
                            request=p.context,
                            request_id=p.request_id,
                            decision_id=p.decision_id,
                            shadow_id=p.shadow_id,
                            t0=p.received,
                        )
                    except Exception as exc:  # this request alone fails
                        answers[i] = exc
                        continue
                    decisions += rows.decisions
                    offers += rows.offers
                    served.append((i, p, out))
                store.insert_decisions(conn, store.DecisionRows(decisions, offers))
        except Exception as exc:  # nothing of the round was logged
            for i, _, _ in served:
                answers[i] = exc
            for i, _ in items:
                if answers[i] is None:
                    answers[i] = exc
            return
        for i, p, out in served:
            answers[i] = _result(p, out)


@dataclass(frozen=True)
class _Prepared:
    customer_id: str
    channel: str
    n: int
    context: Mapping[str, Any]
    request_id: str | None
    decision_id: str
    shadow_id: str | None
    received: float


_NO_HISTORY = store.ContactHistory.empty()


def _result(p: _Prepared, served: Served) -> DecisionResult:
    return DecisionResult(
        decision_id=p.decision_id,
        customer_id=p.customer_id,
        channel=p.channel,
        policy_version_id=served.policy.version_id,
        policy_name=served.policy.name,
        experiment=served.experiment,
        variant=served.variant,
        offers=served.offers,
        shadow_decision_id=p.shadow_id,
        latency_ms=(time.perf_counter() - p.received) * 1000.0,
        blocked=served.outcome.blocked,
    )

"""The decider: live and shadow policies in memory, one transaction per decision.

``Decider.load(engine)`` reads the policy version in the ``live`` slot (and
the ``shadow`` one, if set), the newest bandit state of each (creating an
``init`` state when a version has none), and the active score snapshot, and
compiles them (:class:`~nbo_engine.decisioning.compiled.CompiledPolicy`).
``decide`` then costs one write transaction: lock the customer, read their
profile row and recent contact history, decide with the live policy (and the
shadow policy on the same inputs), insert the decision rows, commit
(:func:`nbo_engine.store.decisions.decide_in_transaction`). Writing inside the
transaction that read the history, under the customer's lock, is what keeps
contact caps exact across processes; a background writer would let two
requests both see room under a cap. ``refresh()`` re-reads the slots, bandit
states and snapshot (three small queries) and rebuilds only what changed.

Shadow decisions are logged with ``mode='shadow'`` and ``shadow_of`` the live
decision id, and are never returned as offers.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbo_engine.bandit import BanditPolicy
from nbo_engine.decisioning.compiled import CompiledPolicy, make_bandit
from nbo_engine.decisioning.context import ContextSpec, check_request_context
from nbo_engine.decisioning.core import Outcome, decide_core
from nbo_engine.errors import (
    DecisionInputError,
    NoActivePolicyError,
    UnknownCustomerError,
)
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout
from nbo_engine.experiments.assignment import assign_one, in_global_holdout_one
from nbo_engine.ingest.schemas import CONTACT_CHANNELS
from nbo_engine.policy import parse_policy
from nbo_engine.store import Engine
from nbo_engine.store import decisions as store
from nbo_engine.store.policies import load_version

__all__ = [
    "Decider",
    "DecisionResult",
    "OfferChoice",
    "assign_experiment",
    "decision_rng",
    "load_compiled",
]

MAX_CUSTOMER_ID = 64


@dataclass(frozen=True)
class OfferChoice:
    """One offer served, at its rank (1 = first shown).

    ``propensity`` is the probability the policy chose it at this rank given
    the offers above it; ``p_accept`` the estimated acceptance probability;
    ``value`` margin x levers (currency); ``priority`` p_accept x value.
    """

    offer_id: str
    product: str
    rank: int
    propensity: float
    p_accept: float
    value: float
    priority: float
    message: str


@dataclass(frozen=True)
class DecisionResult:
    """The answer to a channel (shadow decisions are logged, never here)."""

    decision_id: str
    customer_id: str
    channel: str
    policy_version_id: int
    policy_name: str
    experiment: str | None
    variant: str | None
    offers: tuple[OfferChoice, ...]
    shadow_decision_id: str | None
    latency_ms: float


def decision_rng(decision_id: str) -> np.random.Generator:
    """The decision's own generator, seeded from its id (replays draw the
    same numbers)."""
    return np.random.default_rng(int(decision_id, 16))


def load_compiled(
    engine: Engine, version_id: int, bandit_state_id: int | None = None
) -> CompiledPolicy:
    """Compile a stored policy version with a bandit state: the given one, or
    the newest (an initial state is stored when the version has none)."""
    info = load_version(engine, version_id)
    spec = parse_policy(info.spec, filename=f"policy_version_{version_id}.yaml")
    n_features = ContextSpec.of(spec).n_features

    def initial() -> tuple[str, bytes]:
        b = make_bandit(spec, n_features, seed=version_id)
        return b.kind, b.to_bytes()

    if bandit_state_id is None:
        row = store.ensure_bandit_state(engine, version_id, initial)
    else:
        got = store.load_bandit_state(engine, bandit_state_id)
        if got is None:
            raise NoActivePolicyError(
                f"bandit state {bandit_state_id} of policy version {version_id} "
                "does not exist"
            )
        row = got
    bandit = BanditPolicy.from_bytes(row.state)
    return CompiledPolicy.build(version_id, spec, bandit, row.id)


def assign_experiment(
    customer_id: str,
    today: dt.date,
    experiments: Sequence[ExperimentSpec],
    global_holdout: GlobalHoldout | None,
) -> tuple[str | None, str | None, str | None]:
    """``(experiment, variant, no_contact_reason)`` of a customer today.

    The global holdout first (no offers at all); then the first experiment
    running today that enrols the customer; a variant without a treatment is
    a no-contact holdout. Without experiments, everyone is in the default
    policy: ``(None, None, None)``. Audience rules and policy-version
    treatments are not applied here: the variant is recorded for analysis.
    """
    if global_holdout is not None and in_global_holdout_one(
        global_holdout, customer_id
    ):
        return "global_holdout", "holdout", "global_holdout"
    for exp in experiments:
        if exp.start <= today and (exp.end is None or today <= exp.end):
            name = assign_one(exp, customer_id)
            if name is not None:
                variant = next(v for v in exp.variants if v.name == name)
                reason = "experiment_holdout" if variant.treatment is None else None
                return exp.name, name, reason
    return None, None, None


@dataclass(frozen=True)
class _Loaded:
    stamp: store.Stamp
    live: CompiledPolicy
    shadow: CompiledPolicy | None
    snapshot_id: int | None
    fields: frozenset[str]
    window_days: float


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
    swaps the loaded policies atomically. Build it with :meth:`load`.
    """

    def __init__(
        self,
        engine: Engine,
        loaded: _Loaded,
        *,
        seed: int | None = None,
        experiments: Sequence[ExperimentSpec] = (),
        global_holdout: GlobalHoldout | None = None,
    ) -> None:
        self.engine = engine
        self._loaded = loaded
        self._ids = random.Random(seed) if seed is not None else None
        self._experiments = tuple(experiments)
        self._holdout = global_holdout
        self._lock = threading.Lock()
        self._cache: dict[tuple[int, int | None], CompiledPolicy] = {}

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(
        cls,
        engine: Engine,
        *,
        seed: int | None = None,
        experiments: Sequence[ExperimentSpec] = (),
        global_holdout: GlobalHoldout | None = None,
    ) -> Decider:
        """Read the live (and shadow) policy, bandit states and snapshot.

        Parameters
        ----------
        seed : makes decision ids (hence every random draw) repeatable.
        experiments, global_holdout : assignment (see :func:`assign_experiment`).

        Raises
        ------
        NoActivePolicyError
            If no policy version is in the ``live`` slot.
        """
        loaded = _load(engine, store.read_stamp(engine), {})
        decider = cls(
            engine,
            loaded,
            seed=seed,
            experiments=experiments,
            global_holdout=global_holdout,
        )
        decider._remember(loaded)
        return decider

    def _remember(self, loaded: _Loaded) -> None:
        for c in (loaded.live, loaded.shadow):
            if c is not None:
                self._cache[(c.version_id, c.bandit_state_id)] = c

    def refresh(self) -> bool:
        """Reload if a slot, a bandit state or the snapshot changed.

        Returns True when something was reloaded. Cheap when nothing changed
        (three small indexed queries).
        """
        stamp = store.read_stamp(self.engine)
        if stamp == self._loaded.stamp:
            return False
        loaded = _load(self.engine, stamp, self._cache)
        self._cache = {}
        self._remember(loaded)
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

    # ------------------------------------------------------------------ decide
    def _new_id(self) -> str:
        if self._ids is None:
            return uuid.uuid4().hex
        return uuid.UUID(int=self._ids.getrandbits(128), version=4).hex

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
        n : offers wanted, 1 to the live policy's ``arbitration.max_offers``.
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
        t0 = time.perf_counter()
        state = self._loaded
        live, shadow = state.live, state.shadow
        _check_inputs(customer_id, channel, n, now, live.spec.arbitration.max_offers)
        request = check_request_context(context, live.spec.rule_schema)
        shadow_request: dict[str, Any] = {}
        if shadow is not None and request:
            known = shadow.spec.rule_schema.fields
            shadow_request = {k: v for k, v in request.items() if k in known}
        if state.snapshot_id is None:
            raise UnknownCustomerError(
                f"customer_id: {customer_id!r} has no scores: there is no active "
                "score snapshot (run `nbo scores refresh`)",
                customer_id,
            )
        ts = now.astimezone(dt.UTC).replace(tzinfo=None) if now.tzinfo else now
        experiment, variant, no_contact = assign_experiment(
            customer_id, ts.date(), self._experiments, self._holdout
        )
        decision_id = self._new_id()
        shadow_id = self._new_id() if shadow is not None else None
        snapshot_id = state.snapshot_id

        def compute(
            row: dict[str, Any] | None, history: store.ContactHistory
        ) -> tuple[tuple[Outcome, Outcome | None], store.DecisionRows]:
            if row is None:
                raise UnknownCustomerError(
                    f"customer_id: {customer_id!r} is not in the active score "
                    f"snapshot {snapshot_id}",
                    customer_id,
                )
            with self._lock:
                out = decide_core(
                    live,
                    row,
                    history,
                    channel=channel,
                    n=n,
                    now=now,
                    rng=decision_rng(decision_id),
                    request=request,
                    no_contact=no_contact,
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
                        request=shadow_request,
                        no_contact=no_contact,
                    )
            latency = (time.perf_counter() - t0) * 1000.0
            common = {
                "request_id": request_id,
                "customer_id": customer_id,
                "channel": channel,
                "ts": ts,
                "snapshot_id": snapshot_id,
                "experiment": experiment,
                "variant": variant,
                "n_requested": n,
                "latency_ms": latency,
            }
            decisions = [_decision_row(decision_id, live, out, common, "live", None)]
            offers = _offer_rows(decision_id, live, out)
            if sh is not None and shadow is not None and shadow_id is not None:
                decisions.append(
                    _decision_row(shadow_id, shadow, sh, common, "shadow", decision_id)
                )
                offers += _offer_rows(shadow_id, shadow, sh)
            return (out, sh), store.DecisionRows(decisions, offers)

        out, _ = store.decide_in_transaction(
            self.engine,
            customer_id,
            snapshot_id=snapshot_id,
            now=ts,
            window_days=state.window_days,
            fields=state.fields,
            compute=compute,
        )
        spec_offers = live.spec.offers
        choices = tuple(
            OfferChoice(
                offer_id=live.offer_ids[a],
                product=spec_offers[a].product,
                rank=r + 1,
                propensity=p,
                p_accept=float(out.p_accept[a]),
                value=float(out.values[a]),
                priority=float(out.priorities[a]),
                message=out.messages[r],
            )
            for r, (a, p) in enumerate(zip(out.arms, out.propensities, strict=True))
        )
        return DecisionResult(
            decision_id=decision_id,
            customer_id=customer_id,
            channel=channel,
            policy_version_id=live.version_id,
            policy_name=live.name,
            experiment=experiment,
            variant=variant,
            offers=choices,
            shadow_decision_id=shadow_id,
            latency_ms=(time.perf_counter() - t0) * 1000.0,
        )


def _decision_row(
    decision_id: str,
    policy: CompiledPolicy,
    out: Outcome,
    common: Mapping[str, Any],
    mode: str,
    shadow_of: str | None,
) -> dict[str, Any]:
    return {
        **common,
        "decision_id": decision_id,
        "mode": mode,
        "shadow_of": shadow_of,
        "policy_version_id": policy.version_id,
        "bandit_state_id": policy.bandit_state_id,
        "eligible": json.dumps(list(out.eligible)),
        "context": json.dumps(out.x.tolist()),
    }


def _offer_rows(
    decision_id: str, policy: CompiledPolicy, out: Outcome
) -> list[dict[str, Any]]:
    return [
        {
            "decision_id": decision_id,
            "rank": r + 1,
            "offer_id": policy.offer_ids[a],
            "propensity": p,
            "p_accept": float(out.p_accept[a]),
            "value": float(out.values[a]),
            "priority": float(out.priorities[a]),
            "message": out.messages[r],
        }
        for r, (a, p) in enumerate(zip(out.arms, out.propensities, strict=True))
    ]


def _load(
    engine: Engine,
    stamp: store.Stamp,
    cache: Mapping[tuple[int, int | None], CompiledPolicy],
) -> _Loaded:
    if stamp.live is None:
        raise NoActivePolicyError(
            "no policy version is live; publish one with `nbo policy publish FILE "
            "--activate` (or `nbo policy activate VERSION_ID`)"
        )
    states = dict(stamp.states)

    def get(version_id: int) -> CompiledPolicy:
        hit = cache.get((version_id, states.get(version_id)))
        if hit is not None and states.get(version_id) is not None:
            return hit
        return load_compiled(engine, version_id)

    live = get(stamp.live)
    shadow = get(stamp.shadow) if stamp.shadow is not None else None
    # a state may have just been created: stamp what was actually loaded
    loaded_states = tuple(
        sorted(
            (c.version_id, c.bandit_state_id)
            for c in (live, shadow)
            if c is not None and c.bandit_state_id is not None
        )
    )
    stamp = store.Stamp(stamp.live, stamp.shadow, loaded_states, stamp.snapshot)
    fields = live.derived_fields | (shadow.derived_fields if shadow else frozenset())
    window = max(
        live.contact.window_days,
        shadow.contact.window_days if shadow else 0.0,
    )
    return _Loaded(
        stamp=stamp,
        live=live,
        shadow=shadow,
        snapshot_id=stamp.snapshot,
        fields=fields,
        window_days=math.ceil(window),
    )

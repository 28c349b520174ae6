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
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbo_engine.bandit import BanditPolicy
from nbo_engine.decisioning.compiled import CompiledPolicy, make_bandit
from nbo_engine.decisioning.context import (
    SEGMENT_SOURCES,
    ContextSpec,
    check_request_context,
    rule_profile,
)
from nbo_engine.decisioning.core import Outcome, decide_core
from nbo_engine.errors import (
    DecisionInputError,
    NboError,
    NoActivePolicyError,
    UnknownCustomerError,
)
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout
from nbo_engine.experiments.assignment import assign_one, in_global_holdout_one
from nbo_engine.ingest.schemas import CONTACT_CHANNELS
from nbo_engine.policy import Rule, compile_rule, parse_policy
from nbo_engine.policy.fields import default_rule_schema
from nbo_engine.store import Engine
from nbo_engine.store import decisions as store
from nbo_engine.store import experiments as experiment_store
from nbo_engine.store.policies import load_version
from nbo_engine.timeutil import naive_utc

__all__ = [
    "Assignment",
    "Decider",
    "DecisionResult",
    "OfferChoice",
    "assign_experiment",
    "decision_rng",
    "in_audience",
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
    *,
    eligible: Callable[[ExperimentSpec], bool] | None = None,
) -> tuple[str | None, str | None, str | None]:
    """``(experiment, variant, no_contact_reason)`` of a customer today.

    The global holdout first (no offers at all: ``("global_holdout",
    "holdout", "global_holdout")``); then the first experiment active today
    (``start <= today < end``) that enrols the customer (layer slot, traffic)
    and, when ``eligible`` is given, whose audience admits them
    (``eligible(experiment)``, e.g. :func:`in_audience` on their profile); a
    variant without a treatment is a no-contact holdout
    (``"experiment_holdout"``). Otherwise ``(None, None, None)``: the default
    policy decides. The caller serves a ``policy`` experiment's treatment.
    """
    if global_holdout is not None and in_global_holdout_one(
        global_holdout, customer_id
    ):
        return "global_holdout", "holdout", "global_holdout"
    for exp in experiments:
        if not exp.is_active(today):
            continue
        name = assign_one(exp, customer_id)
        if name is None or (eligible is not None and not eligible(exp)):
            continue
        variant = next(v for v in exp.variants if v.name == name)
        reason = "experiment_holdout" if variant.treatment is None else None
        return exp.name, name, reason
    return None, None, None


def in_audience(
    experiment: ExperimentSpec, profile: Mapping[str, Any], rule: Rule | None = None
) -> bool:
    """Whether a customer's profile is in the experiment's audience.

    ``audience.segments``: one of the profile's segment columns
    (:data:`~nbo_engine.decisioning.context.SEGMENT_SOURCES`: cluster,
    micro-segment, value tier, product affinity, life stage) holds one of them;
    ``audience.rule``: ``rule`` (the compiled ``audience.rule``) holds on the
    profile. Both given: both must hold. No audience: everyone.

    >>> from nbo_engine.experiments import parse_experiment
    >>> exp = parse_experiment({
    ...     "name": "d", "kind": "offer", "start": "2026-01-01",
    ...     "audience": {"segments": ["family"]},
    ...     "variants": [{"name": "c", "weight": 0.5, "control": True},
    ...                  {"name": "t", "weight": 0.5, "treatment": "x"}],
    ...     "metrics": {"primary": "conversion"}})
    >>> in_audience(exp, {"life_stage": "family"}), in_audience(exp, {"life_stage": "student"})
    (True, False)
    """
    segments = experiment.audience.segments
    if segments and not any(profile.get(c) in segments for c in SEGMENT_SOURCES):
        return False
    return rule is None or rule.holds(profile)


@dataclass(frozen=True)
class _Experiments:
    """Experiments as a decider uses them: specs in assignment order, compiled
    audience rules, the policy version of each (experiment, variant) of a
    policy experiment, the profile fields they read, and the stamp they were
    loaded at (``None``: given by the caller, never reloaded)."""

    specs: tuple[ExperimentSpec, ...] = ()
    holdout: GlobalHoldout | None = None
    rules: Mapping[str, Rule] = field(default_factory=dict)
    treatments: Mapping[tuple[str, str], CompiledPolicy] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()
    stamp: tuple[int | None, tuple[tuple[int, int], ...]] | None = None
    #: Experiments left out (they enrol nobody), each with the reason.
    problems: tuple[str, ...] = ()

    @property
    def version_ids(self) -> tuple[int, ...]:
        return tuple(sorted({c.version_id for c in self.treatments.values()}))


def _load_experiments(
    engine: Engine,
    running: experiment_store.Running,
    cache: Mapping[tuple[int, int | None], CompiledPolicy],
    *,
    from_store: bool,
) -> _Experiments:
    schema = default_rule_schema()
    specs = running.experiments
    keep: list[ExperimentSpec] = []
    rules: dict[str, Rule] = {}
    treatments: dict[tuple[str, str], CompiledPolicy] = {}
    problems: list[str] = list(running.problems)
    refs = [
        v.treatment
        for s in specs
        if s.kind == "policy"
        for v in s.variants
        if v.treatment
    ]
    resolved = experiment_store.resolve_policy_refs(engine, refs) if refs else {}
    for spec in specs:
        try:
            if spec.audience.rule is not None:
                rules[spec.name] = compile_rule(spec.audience.rule, schema)
            if spec.kind == "policy":
                for v in spec.variants:
                    ref = v.treatment or ""
                    if ref not in resolved:
                        raise NoActivePolicyError(
                            f"variants {v.name!r}: no published policy version {ref!r}"
                        )
                    treatments[(spec.name, v.name)] = _compiled(
                        engine, resolved[ref], cache
                    )
        except NboError as exc:  # leave it out: it enrols nobody
            rules.pop(spec.name, None)
            for key in [k for k in treatments if k[0] == spec.name]:
                del treatments[key]
            problems.append(f"experiment {spec.name!r} left out: {exc}")
            continue
        keep.append(spec)
    fields = {c for r in rules.values() for c in r.columns} & set(store.DERIVED_FIELDS)
    for c in treatments.values():
        fields |= c.derived_fields
    states = tuple(
        sorted(
            {
                (c.version_id, c.bandit_state_id)
                for c in treatments.values()
                if c.bandit_state_id is not None
            }
        )
    )
    return _Experiments(
        specs=tuple(keep),
        holdout=running.global_holdout,
        rules=rules,
        treatments=treatments,
        fields=frozenset(fields),
        stamp=(running.stamp, states) if from_store else None,
        problems=tuple(problems),
    )


def _compiled(
    engine: Engine,
    version_id: int,
    cache: Mapping[tuple[int, int | None], CompiledPolicy],
) -> CompiledPolicy:
    newest = [c for (v, _), c in cache.items() if v == version_id]
    current = store.latest_bandit_state(engine, version_id)
    for c in newest:
        if current is not None and c.bandit_state_id == current.id:
            return c
    return load_compiled(engine, version_id)


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
    swaps the loaded policies and experiments atomically. Build it with
    :meth:`load`.
    """

    def __init__(
        self,
        engine: Engine,
        loaded: _Loaded,
        *,
        seed: int | None = None,
        experiments: _Experiments | None = None,
        from_store: bool = False,
    ) -> None:
        self.engine = engine
        self._loaded = loaded
        self._ids = random.Random(seed) if seed is not None else None
        self._exps = experiments if experiments is not None else _Experiments()
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
        loaded = _load(engine, store.read_stamp(engine), {})
        from_store = experiments is None and global_holdout is None
        if from_store:
            running = experiment_store.running_experiments(engine)
        else:
            running = experiment_store.Running(
                tuple(experiments or ()), global_holdout, None
            )
        exps = _load_experiments(
            engine, running, _cache_of(loaded), from_store=from_store
        )
        decider = cls(
            engine, loaded, seed=seed, experiments=exps, from_store=from_store
        )
        decider._remember(loaded, exps)
        return decider

    def _remember(self, loaded: _Loaded, exps: _Experiments) -> None:
        self._cache.update(_cache_of(loaded))
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
            loaded = _load(self.engine, stamp, self._cache)
        if self._from_store:
            exp_stamp = experiment_store.read_experiment_stamp(
                self.engine, exps.version_ids
            )
            if exp_stamp != exps.stamp:
                exps = _load_experiments(
                    self.engine,
                    experiment_store.running_experiments(self.engine),
                    {**self._cache, **_cache_of(loaded)},
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
        return _assign(self._exps, self._loaded.live, customer_id, day, profile)

    @property
    def profile_fields(self) -> frozenset[str]:
        """Input-table fields a profile must carry for the live and shadow
        policies, the audiences and the treatment versions."""
        return self._loaded.fields | self._exps.fields

    def _decide_rows(
        self,
        state: _Loaded,
        exps: _Experiments,
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
    ) -> tuple[_Served, store.DecisionRows]:
        """One customer's decision (and shadow decision) and its log rows,
        from their profile row and contact history: what :meth:`decide` and
        :func:`~nbo_engine.decisioning.batch.decide_batch` both run."""
        live, shadow = state.live, state.shadow
        ts = naive_utc(now)

        def only_known(policy: CompiledPolicy) -> dict[str, Any]:
            known = policy.spec.rule_schema.fields
            return {k: v for k, v in request.items() if k in known}

        a = _assign(exps, live, customer_id, ts.date(), row)
        experiment, variant, no_contact, policy = (
            a.experiment,
            a.variant,
            a.no_contact,
            a.policy,
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
                    no_contact=no_contact,
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
        decisions = [_decision_row(decision_id, policy, out, common, "live", None)]
        offers = _offer_rows(decision_id, policy, out)
        if sh is not None and shadow is not None and shadow_id is not None:
            decisions.append(
                _decision_row(shadow_id, shadow, sh, common, "shadow", decision_id)
            )
            offers += _offer_rows(shadow_id, shadow, sh)
        return _Served(out, policy, experiment, variant), store.DecisionRows(
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
        t0 = time.perf_counter()
        state, exps = self._loaded, self._exps
        live, shadow = state.live, state.shadow
        _check_inputs(customer_id, channel, n, now, live.spec.arbitration.max_offers)
        request = check_request_context(context, live.spec.rule_schema)
        if state.snapshot_id is None:
            raise UnknownCustomerError(
                f"customer_id: {customer_id!r} has no scores: there is no active "
                "score snapshot (run `nbo scores refresh`)",
                customer_id,
            )
        ts = naive_utc(now)
        key = f"{customer_id}|{channel}|{ts.isoformat()}"
        decision_id = self._new_id(key)
        shadow_id = self._new_id(key) if shadow is not None else None
        snapshot_id = state.snapshot_id

        def compute(
            row: dict[str, Any] | None, history: store.ContactHistory
        ) -> tuple[_Served, store.DecisionRows]:
            if row is None:
                raise UnknownCustomerError(
                    f"customer_id: {customer_id!r} is not in the active score "
                    f"snapshot {snapshot_id}",
                    customer_id,
                )
            return self._decide_rows(
                state,
                exps,
                row,
                history,
                customer_id=customer_id,
                channel=channel,
                n=n,
                now=now,
                request=request,
                request_id=request_id,
                decision_id=decision_id,
                shadow_id=shadow_id,
                t0=t0,
            )

        served = store.decide_in_transaction(
            self.engine,
            customer_id,
            snapshot_id=snapshot_id,
            now=ts,
            window_days=_history_days(state, exps),
            fields=state.fields | exps.fields,  # = profile_fields
            compute=compute,
        )
        out, policy = served.outcome, served.policy
        spec_offers = policy.spec.offers
        choices = tuple(
            OfferChoice(
                offer_id=policy.offer_ids[a],
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
            policy_version_id=policy.version_id,
            policy_name=policy.name,
            experiment=served.experiment,
            variant=served.variant,
            offers=choices,
            shadow_decision_id=shadow_id,
            latency_ms=(time.perf_counter() - t0) * 1000.0,
        )


@dataclass(frozen=True)
class Assignment:
    """Who decides for a customer: see :meth:`Decider.assign`."""

    experiment: str | None
    variant: str | None
    no_contact: str | None
    policy: CompiledPolicy


def _assign(
    exps: _Experiments,
    live: CompiledPolicy,
    customer_id: str,
    day: dt.date,
    row: Mapping[str, Any],
) -> Assignment:
    def eligible(exp: ExperimentSpec) -> bool:
        rule = exps.rules.get(exp.name)
        cols = rule.columns if rule is not None else ()
        return in_audience(exp, rule_profile(row, live.spec, cols), rule)

    experiment, variant, no_contact = assign_experiment(
        customer_id, day, exps.specs, exps.holdout, eligible=eligible
    )
    policy = live
    if experiment is not None and variant is not None:
        policy = exps.treatments.get((experiment, variant), live)
    return Assignment(experiment, variant, no_contact, policy)


@dataclass(frozen=True)
class _Served:
    outcome: Outcome
    policy: CompiledPolicy
    experiment: str | None
    variant: str | None


def _cache_of(loaded: _Loaded) -> dict[tuple[int, int | None], CompiledPolicy]:
    return {
        (c.version_id, c.bandit_state_id): c
        for c in (loaded.live, loaded.shadow)
        if c is not None
    }


def _history_days(state: _Loaded, exps: _Experiments) -> float:
    """Days of contact history the live, shadow and treatment policies read."""
    return max(
        [state.window_days]
        + [math.ceil(c.contact.window_days) for c in exps.treatments.values()]
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

"""Loading what a decider decides with: compiled policy versions with their
bandit states, the live and shadow slots, and the running experiments.

:func:`load_policies` reads the slots named by a :class:`~nbo_engine.store.decisions.Stamp`
(reusing compiled versions from a cache keyed by (version, bandit state));
:func:`load_experiments` compiles the running experiments' audience rules and
the policy versions their variants serve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from nbo_engine.bandit import BanditPolicy
from nbo_engine.decisioning.compiled import CompiledPolicy, make_bandit
from nbo_engine.decisioning.context import ContextSpec
from nbo_engine.errors import NboError, NoActivePolicyError
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout
from nbo_engine.policy import Rule, compile_rule, parse_policy
from nbo_engine.policy.fields import default_rule_schema
from nbo_engine.store import Engine
from nbo_engine.store import decisions as store
from nbo_engine.store import experiments as experiment_store
from nbo_engine.store.policies import load_version

__all__ = [
    "LoadedExperiments",
    "LoadedPolicies",
    "cache_of",
    "compiled_version",
    "history_days",
    "load_compiled",
    "load_experiments",
    "load_policies",
]


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


@dataclass(frozen=True)
class LoadedExperiments:
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


def load_experiments(
    engine: Engine,
    running: experiment_store.Running,
    cache: Mapping[tuple[int, int | None], CompiledPolicy],
    *,
    from_store: bool,
) -> LoadedExperiments:
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
                    treatments[(spec.name, v.name)] = compiled_version(
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
    return LoadedExperiments(
        specs=tuple(keep),
        holdout=running.global_holdout,
        rules=rules,
        treatments=treatments,
        fields=frozenset(fields),
        stamp=(running.stamp, states) if from_store else None,
        problems=tuple(problems),
    )


def compiled_version(
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
class LoadedPolicies:
    stamp: store.Stamp
    live: CompiledPolicy
    shadow: CompiledPolicy | None
    snapshot_id: int | None
    fields: frozenset[str]
    window_days: float


def cache_of(loaded: LoadedPolicies) -> dict[tuple[int, int | None], CompiledPolicy]:
    return {
        (c.version_id, c.bandit_state_id): c
        for c in (loaded.live, loaded.shadow)
        if c is not None
    }


def history_days(state: LoadedPolicies, exps: LoadedExperiments) -> float:
    """Days of contact history the live, shadow and treatment policies read."""
    return max(
        [state.window_days]
        + [math.ceil(c.contact.window_days) for c in exps.treatments.values()]
    )


def load_policies(
    engine: Engine,
    stamp: store.Stamp,
    cache: Mapping[tuple[int, int | None], CompiledPolicy],
) -> LoadedPolicies:
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
    return LoadedPolicies(
        stamp=stamp,
        live=live,
        shadow=shadow,
        snapshot_id=stamp.snapshot,
        fields=fields,
        window_days=math.ceil(window),
    )

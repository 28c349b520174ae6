"""Changes a retune makes, and how each is applied to a policy spec.

A :class:`Change` says what changes (``kind``, the offer, segment or
experiment), from what to what, why (one sentence) and on which numbers. The
spec a proposal carries is always ``apply_changes(base, changes)``: the
guardrail check recomputes it and refuses a proposal whose spec differs, so no
modification can slip in without a recorded change.

Kinds
-----
``suppress``
    The offer stops in the segment: its offer-segment lever becomes 0 when the
    segment is one of the policy's ``segments`` (an offer whose value is 0 is
    never offered); otherwise (a customer's fallback ``cluster``, see
    :func:`nbo_engine.decisioning.context.resolve_segment`) its eligibility
    rule gains a clause that excludes exactly that segment: ``(segment is null
    or segment != "S")`` when the policy declares no segments, else ``(cluster
    is null or cluster != "S" or segment in [declared])`` with ``cluster``
    declared as a text profile field. Missing values keep the customer
    eligible (the rule language's three-valued logic).
``lever``
    The offer-segment lever is set to ``after``.
``retire``
    The offer's ``end`` date becomes ``after`` (ISO date).
``exploration``
    The bandit's exploration parameter (``alpha``, ``v`` or ``epsilon``)
    becomes ``after``.
``traffic`` / ``pause_variant``
    An experiment's ``traffic`` ramp becomes ``after`` / a variant is paused;
    applied to experiment specs by :func:`apply_experiment_changes`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from nbo_engine.errors import RetuneError
from nbo_engine.experiments import ExperimentSpec
from nbo_engine.policy import PolicySpec
from nbo_engine.retune.guardrails import EXPLORATION_PARAMS

__all__ = [
    "CHANGE_KINDS",
    "Change",
    "ChangeKind",
    "apply_changes",
    "apply_experiment_changes",
    "is_suppressed",
    "spec_yaml",
    "suppression_clause",
]

ChangeKind = Literal[
    "suppress", "lever", "retire", "exploration", "traffic", "pause_variant"
]
CHANGE_KINDS: tuple[str, ...] = (
    "suppress",
    "pause_variant",
    "retire",
    "traffic",
    "lever",
    "exploration",
)
"""Every kind, in the order candidates are taken when over the weekly limit."""

Scalar = float | int | str | bool | None


@dataclass(frozen=True)
class Change:
    """One change of a proposal.

    Attributes
    ----------
    kind : one of :data:`CHANGE_KINDS`.
    offer, segment : the offer and segment changed (None where not relevant).
    before, after : the value before and after (a lever, a rule, a date, a
        parameter or a traffic share).
    reason : one sentence a campaign manager can read.
    evidence : the numbers behind it (estimates, intervals, p-values, sizes).
    experiment, variant : the experiment (and variant) of a traffic change.
    """

    kind: ChangeKind
    offer: str | None
    segment: str | None
    before: Scalar
    after: Scalar
    reason: str
    evidence: Mapping[str, Scalar] = field(default_factory=dict)
    experiment: str | None = None
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHANGE_KINDS:
            raise RetuneError(
                f"change kind: expected one of {', '.join(CHANGE_KINDS)}, got "
                f"{self.kind!r}"
            )
        object.__setattr__(self, "evidence", dict(self.evidence))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(data))

    @property
    def label(self) -> str:
        """Short name, e.g. ``suppress cc_cashback in young_families``."""
        if self.kind in ("traffic", "pause_variant"):
            what = f"{self.experiment}" + (f"/{self.variant}" if self.variant else "")
        else:
            what = self.offer or "bandit"
        return f"{self.kind} {what}" + (f" in {self.segment}" if self.segment else "")


def spec_yaml(spec: PolicySpec) -> str:
    """The policy as YAML text (``parse_policy(spec_yaml(s)) == s``)."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)


def suppression_clause(spec: PolicySpec, segment: str) -> str:
    """The eligibility clause that excludes ``segment`` (an undeclared one)."""
    seg = _quote(segment)
    if not spec.segments:
        return f"(segment is null or segment != {seg})"
    declared = ", ".join(_quote(s) for s in spec.segments)
    return f"(cluster is null or cluster != {seg} or segment in [{declared}])"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def is_suppressed(spec: PolicySpec, offer: str, segment: str) -> bool:
    """Whether ``offer`` is already switched off in ``segment``."""
    o = _offer(spec, offer)
    if segment in spec.segments:
        lever = o.lever * spec.arbitration.segment_levers.get(segment, 1.0)
        return lever * o.segment_levers.get(segment, 1.0) == 0.0
    return suppression_clause(spec, segment) in o.eligibility


def _offer(spec: PolicySpec, offer_id: str) -> Any:
    for o in spec.offers:
        if o.id == offer_id:
            return o
    raise RetuneError(
        f"change: unknown offer {offer_id!r}; expected one of "
        f"{', '.join(spec.offer_ids)}"
    )


def _offer_data(data: dict[str, Any], offer_id: str) -> dict[str, Any]:
    for o in data["offers"]:
        if o["id"] == offer_id:
            return dict(o)
    raise RetuneError(
        f"change: unknown offer {offer_id!r}; expected one of "
        f"{', '.join(o['id'] for o in data['offers'])}"
    )


def _replace_offer(data: dict[str, Any], offer: dict[str, Any]) -> None:
    data["offers"] = [offer if o["id"] == offer["id"] else o for o in data["offers"]]


def _apply_one(spec: PolicySpec, data: dict[str, Any], c: Change) -> None:
    if c.kind in ("traffic", "pause_variant"):
        return
    if c.kind == "exploration":
        kind = data["bandit"]["type"]
        if kind not in EXPLORATION_PARAMS:
            raise RetuneError(
                f"change exploration: a {kind} bandit has no exploration parameter "
                f"a retune may tune; expected one of {', '.join(EXPLORATION_PARAMS)}"
            )
        name = EXPLORATION_PARAMS[kind][0]
        data["bandit"] = {**data["bandit"], "params": {**data["bandit"]["params"]}}
        data["bandit"]["params"][name] = _number(c, c.after)
        return
    if c.offer is None:
        raise RetuneError(f"change {c.kind}: expected an offer, got None")
    offer = _offer_data(data, c.offer)
    if c.kind == "retire":
        if not isinstance(c.after, str):
            raise RetuneError(
                f"change retire {c.offer}: expected an ISO date, got {c.after!r}"
            )
        try:
            offer["end"] = dt.date.fromisoformat(c.after)
        except ValueError:
            raise RetuneError(
                f"change retire {c.offer}: expected an ISO date, got {c.after!r}"
            ) from None
    else:
        if c.segment is None:
            raise RetuneError(
                f"change {c.kind} {c.offer}: expected a segment, got None"
            )
        if c.kind == "lever" or (
            c.kind == "suppress" and c.segment in data["segments"]
        ):
            after = 0.0 if c.kind == "suppress" else _number(c, c.after)
            offer["segment_levers"] = {**offer["segment_levers"], c.segment: after}
        else:
            clause = suppression_clause(spec, c.segment)
            rule = str(offer.get("eligibility", "true")).strip()
            if clause not in rule:
                offer["eligibility"] = f"({rule}) and {clause}"
            if spec.segments and "cluster" not in data["profile_fields"]:
                data["profile_fields"] = {
                    **data["profile_fields"],
                    "cluster": {
                        "type": "string",
                        "description": "Behavioural cluster (score snapshot)",
                    },
                }
    _replace_offer(data, offer)


def _number(c: Change, value: Scalar) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RetuneError(f"change {c.label}: expected a number after, got {value!r}")
    return float(value)


def apply_changes(spec: PolicySpec, changes: Sequence[Change]) -> PolicySpec:
    """A new spec: ``spec`` with ``changes`` applied in order (experiment
    changes are skipped; see :func:`apply_experiment_changes`).

    Raises
    ------
    RetuneError
        A change names an unknown offer, lacks its segment, or makes the
        policy invalid (the validation problems are listed).
    """
    data = spec.model_dump(mode="python")
    for c in changes:
        _apply_one(spec, data, c)
    try:
        return PolicySpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
        )
        raise RetuneError(f"changes make the policy invalid: {problems}") from None


def apply_experiment_changes(
    experiments: Sequence[ExperimentSpec], changes: Sequence[Change]
) -> tuple[ExperimentSpec, ...]:
    """The experiment specs with ``traffic`` and ``pause_variant`` changes
    applied (others untouched, same order).

    Raises
    ------
    RetuneError
        A change names an unknown experiment or variant, or an invalid ramp.
    """
    by_name = {e.name: e for e in experiments}
    for c in changes:
        if c.kind not in ("traffic", "pause_variant"):
            continue
        if c.experiment not in by_name:
            raise RetuneError(
                f"change {c.kind}: unknown experiment {c.experiment!r}; expected one "
                f"of {', '.join(by_name) or '(none given)'}"
            )
        data = by_name[c.experiment].model_dump()
        if c.kind == "traffic":
            data["traffic"] = _number(c, c.after)
        else:
            names = [v["name"] for v in data["variants"]]
            if c.variant not in names:
                raise RetuneError(
                    f"change pause_variant {c.experiment}: unknown variant "
                    f"{c.variant!r}; expected one of {', '.join(names)}"
                )
            data["variants"] = [
                {**v, "paused": True} if v["name"] == c.variant else v
                for v in data["variants"]
            ]
        try:
            by_name[c.experiment] = ExperimentSpec.model_validate(data)
        except ValidationError as exc:
            raise RetuneError(
                f"change {c.label}: the experiment becomes invalid: "
                + "; ".join(e["msg"] for e in exc.errors())
            ) from None
    return tuple(by_name[e.name] for e in experiments)

"""The decision profile and the bandit's context vector.

A customer's *profile* is their score-snapshot row (``customer_scores``) plus
the few fields read from the input tables at decision time (held products,
bureau, complaints, names; :func:`nbo_engine.store.decisions.read_profile`),
under the names the rule language uses: ``churn_score`` (``churn_90d``),
``clv`` (``clv_12m``) and ``segment``. A channel may add or override declared
profile fields with the request's ``context`` (checked by
:func:`check_request_context`).

The *context vector* the bandit sees (:class:`ContextSpec`) is, in order:
an intercept; one-hots of the policy's ``segments`` and of its channels;
``log1p(CLV)/10``; churn; the six product propensities; and each of the
policy's ``bandit.features``, scaled to about [0, 1] (:data:`FEATURE_SCALES`;
other numbers get ``sign(v) log1p(|v|) / 10``), a category field (such as
``life_stage``) as a one-hot of its declared values
(``feature:life_stage=family``...). A missing value is 0. The map is fixed
(no fitted scaler), so a logged vector can be rebuilt exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.errors import DecisionInputError
from nbo_engine.policy import PolicySpec
from nbo_engine.policy.rules.schema import RuleSchema

__all__ = [
    "ALIASES",
    "FEATURE_SCALES",
    "PROPENSITY_PRODUCTS",
    "SEGMENT_SOURCES",
    "ContextSpec",
    "check_request_context",
    "resolve_segment",
    "rule_profile",
]

#: Rule-language name -> score column.
ALIASES: Mapping[str, str] = {"churn_score": "churn_90d", "clv": "clv_12m"}
#: Products with a propensity score column (``propensity_<product>``).
PROPENSITY_PRODUCTS: tuple[str, ...] = (
    "savings",
    "credit_card",
    "personal_loan",
    "mortgage",
    "investment",
    "insurance",
)
#: Score columns searched, in order, for the ``segment`` profile field: the
#: first whose value is one of the policy's ``segments`` is the segment;
#: when none is, the customer's ``cluster``.
SEGMENT_SOURCES: tuple[str, ...] = (
    "cluster",
    "micro_segment",
    "value_tier",
    "product_affinity",
    "life_stage",
)
#: Divisors that bring common features to about [0, 1] in the context vector.
FEATURE_SCALES: Mapping[str, float] = {
    "age": 100.0,
    "tenure_days": 3650.0,
    "income_level": 4.0,
    "n_products": 7.0,
    "dependants": 5.0,
    "dig_logins_30": 30.0,
    "rfm_count_90": 90.0,
    "rfm_recency_days": 365.0,
    "svc_complaints_90": 5.0,
    "svc_complaints_365": 10.0,
    "bureau_credit_score": 1000.0,
    "bureau_delinquencies_12m": 12.0,
    "churn_score": 1.0,
    "churn_90d": 1.0,
    "chan_digital_share": 1.0,
    "svc_sentiment_365": 1.0,
    "bureau_utilisation": 1.0,
    "expected_purchases_12m": 100.0,
    "p_alive": 1.0,
}
#: Fields a request may never set: consent is the bank's record, not the
#: channel's claim.
PROTECTED_FIELDS: frozenset[str] = frozenset({"do_not_contact", "marketing_consent"})
#: Largest number of fields in a request's context.
MAX_CONTEXT_FIELDS = 64


def _num(v: Any) -> float:
    """``v`` as a finite float, 0 when missing or not a number."""
    if v is None or isinstance(v, str):
        return 0.0
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return f if math.isfinite(f) else 0.0


def resolve_segment(
    profile: Mapping[str, Any], segments: tuple[str, ...]
) -> str | None:
    """The ``segment`` of a profile (see :data:`SEGMENT_SOURCES`).

    >>> resolve_segment({"cluster": "x", "value_tier": "gold"}, ("gold", "silver"))
    'gold'
    >>> resolve_segment({"cluster": "x", "value_tier": "gold"}, ())
    'x'
    """
    if segments:
        for col in SEGMENT_SOURCES:
            v = profile.get(col)
            if v is not None and v in segments:
                return str(v)
    v = profile.get("cluster")
    return None if v is None else str(v)


def rule_profile(
    row: Mapping[str, Any],
    spec: PolicySpec,
    columns: tuple[str, ...],
    request: Mapping[str, Any] | None = None,
    realtime: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The profile rules, messages and the context vector read.

    ``row`` is the stored profile; ``realtime`` its real-time fields
    (:mod:`nbo_engine.decisioning.realtime`), which update it; ``columns``
    the fields the policy's rules read (absent ones become missing, i.e.
    ``None``); ``request`` the checked request context, which overrides.
    ``segment`` is the policy's ``segment_rules`` verdict on that profile,
    else :func:`resolve_segment` (a request may set it outright).
    """
    out = dict(row)
    if realtime:
        out.update(realtime)
    for name, col in ALIASES.items():
        out[name] = out.get(col)
    for c in columns:
        out.setdefault(c, None)
    if request:
        out.update({k: v for k, v in request.items() if k != "segment"})
    out["segment"] = spec.rule_segment(out) or resolve_segment(row, spec.segments)
    if request and "segment" in request:
        out["segment"] = request["segment"]
    return out


def check_request_context(
    context: Mapping[str, Any] | None, schema: RuleSchema
) -> dict[str, Any]:
    """A request's context fields, checked against the policy's profile fields.

    Raises
    ------
    DecisionInputError
        Naming the field and the value: not a mapping, too many fields, an
        undeclared or protected field, or a value of the wrong type.
    """
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise DecisionInputError(
            f"context: expected a mapping of profile field -> number or text, got "
            f"{type(context).__name__}",
            "context",
            context,
        )
    if len(context) > MAX_CONTEXT_FIELDS:
        raise DecisionInputError(
            f"context: expected at most {MAX_CONTEXT_FIELDS} fields, got "
            f"{len(context)}",
            "context",
            len(context),
        )
    out: dict[str, Any] = {}
    for key, value in context.items():
        name = f"context.{key}"
        if key in PROTECTED_FIELDS:
            raise DecisionInputError(
                f"{name}: {key!r} is the bank's record and cannot be set by a "
                f"request, got {value!r}",
                name,
                value,
            )
        fs = schema.fields.get(key) if isinstance(key, str) else None
        if fs is None:
            known = ", ".join(sorted(schema.fields))
            raise DecisionInputError(
                f"{name}: unknown profile field {key!r}; expected one of {known}",
                name,
                value,
            )
        if value is None:
            out[key] = None
        elif fs.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DecisionInputError(
                    f"{name}: expected a number, got {value!r}", name, value
                )
            if not math.isfinite(float(value)):
                raise DecisionInputError(
                    f"{name}: expected a finite number, got {value!r}", name, value
                )
            out[key] = float(value)
        elif fs.type == "bool":
            if value in (True, False) and not isinstance(value, str):
                out[key] = bool(value)
            else:
                raise DecisionInputError(
                    f"{name}: expected true/false (or 1/0), got {value!r}", name, value
                )
        else:
            if not isinstance(value, str) or len(value) > 200:
                raise DecisionInputError(
                    f"{name}: expected text of at most 200 characters, got {value!r}",
                    name,
                    value,
                )
            allowed = schema.segments if key == "segment" else fs.values
            if fs.type == "category" and allowed and value not in allowed:
                raise DecisionInputError(
                    f"{name}: expected one of {', '.join(allowed)}, got {value!r}",
                    name,
                    value,
                )
            out[key] = value
    return out


@dataclass(frozen=True)
class ContextSpec:
    """The layout of a policy's context vector (see the module doc)."""

    names: tuple[str, ...]
    segments: tuple[str, ...]
    channels: tuple[str, ...]
    features: tuple[str, ...]
    kinds: tuple[str, ...]  # per numeric feature: "bool", "scaled", "log"
    scales: NDArray[np.float64]
    #: category features and their declared values, one-hot after the numbers
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, spec: PolicySpec) -> ContextSpec:
        """The layout for ``spec``."""
        schema = spec.rule_schema
        numeric, kinds, scales = [], [], []
        categories = []
        for f in spec.bandit.features:
            typ = schema.field_type(f)
            if typ == "category":
                categories.append((f, schema.fields[f].values))
                continue
            numeric.append(f)
            if typ == "bool":
                kinds.append("bool")
                scales.append(1.0)
            elif f in FEATURE_SCALES:
                kinds.append("scaled")
                scales.append(FEATURE_SCALES[f])
            else:
                kinds.append("log")
                scales.append(10.0)
        names = (
            "intercept",
            *(f"segment={s}" for s in spec.segments),
            *(f"channel={c}" for c in spec.channels),
            "log_clv",
            "churn",
            *(f"propensity_{p}" for p in PROPENSITY_PRODUCTS),
            *(f"feature:{f}" for f in numeric),
            *(f"feature:{f}={v}" for f, values in categories for v in values),
        )
        return cls(
            names=names,
            segments=spec.segments,
            channels=spec.channels,
            features=tuple(numeric),
            kinds=tuple(kinds),
            scales=np.asarray(scales, dtype=np.float64),
            categories=tuple(categories),
        )

    @property
    def n_features(self) -> int:
        return len(self.names)

    def vector(self, profile: Mapping[str, Any], channel: str) -> NDArray[np.float64]:
        """The context vector of one profile on ``channel``, shape (n_features,).

        Examples
        --------
        >>> import numpy as np
        >>> cs = ContextSpec(("intercept", "segment=a", "channel=web", "log_clv",
        ...     "churn", *(f"propensity_{p}" for p in PROPENSITY_PRODUCTS),
        ...     "feature:age"), ("a",), ("web",), ("age",), ("scaled",),
        ...     np.array([100.0]))
        >>> cs.vector({"segment": "a", "clv_12m": np.e - 1, "churn_90d": 0.2,
        ...            "age": 50}, "web").round(3).tolist()
        [1.0, 1.0, 1.0, 0.1, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5]
        """
        seg = profile.get("segment")
        raw = [
            1.0,
            *(1.0 if seg == s else 0.0 for s in self.segments),
            *(1.0 if channel == c else 0.0 for c in self.channels),
            math.log1p(max(_num(profile.get("clv_12m")), 0.0)) / 10.0,
            _num(profile.get("churn_90d")),
            *(_num(profile.get(f"propensity_{p}")) for p in PROPENSITY_PRODUCTS),
        ]
        feats = np.array([_num(profile.get(f)) for f in self.features])
        if feats.size:
            log = np.array([k == "log" for k in self.kinds])
            feats = np.where(log, np.sign(feats) * np.log1p(np.abs(feats)), feats)
            feats = np.clip(feats / self.scales, -10.0, 10.0)
        onehot = [
            1.0 if profile.get(f) == v else 0.0
            for f, values in self.categories
            for v in values
        ]
        return np.concatenate(
            [np.asarray(raw, dtype=np.float64), feats, np.asarray(onehot)]
        )

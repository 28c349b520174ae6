"""The policy specification: offers, contact policy, arbitration and bandit.

Immutable pydantic models that validate themselves: dates ordered, caps >= 0
and nested (day <= week <= month), channels and products known, eligibility
rules parse and fit the declared profile fields, message templates compile in
Jinja's sandbox and use only whitelisted fields, levers name known offers and
segments, bandit features are numeric profile fields. Cross-field problems are
all reported together, each at its own location. Units: money in the offer's
currency, durations in days, times of day local to ``quiet_hours.timezone``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from nbo_engine.errors import RuleError
from nbo_engine.ingest.schemas import CONTACT_CHANNELS, CURRENCIES, PRODUCTS
from nbo_engine.policy.fields import default_rule_schema
from nbo_engine.policy.rules import Rule, compile_rule
from nbo_engine.policy.rules.schema import FieldSpec, FieldType, RuleSchema
from nbo_engine.policy.templates import check_template

__all__ = [
    "BANDIT_TYPES",
    "Arbitration",
    "BanditSpec",
    "Caps",
    "Channel",
    "ContactPolicy",
    "EpsilonGreedyBandit",
    "LinTSBandit",
    "LinUCBBandit",
    "LogisticTSBandit",
    "Offer",
    "OfferContact",
    "PolicySpec",
    "ProfileField",
    "QuietHours",
    "Suppression",
    "ValueModel",
]

Channel = Literal["web", "mobile", "branch", "call_centre", "email"]
assert CONTACT_CHANNELS == ("web", "mobile", "branch", "call_centre", "email")
Currency = Literal["GBP", "EUR", "USD"]
assert CURRENCIES == ("GBP", "EUR", "USD")
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
#: A message id (``msg-savings-rate``): what a message experiment's variant serves.
MessageId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
NonNegInt = Annotated[int, Field(ge=0)]
Lever = Annotated[float, Field(ge=0.0, le=100.0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _unique(values: Sequence[Any], what: str) -> None:
    dupes = sorted({str(v) for v in values if list(values).count(v) > 1})
    if dupes:
        raise ValueError(f"{what} repeat(s) {', '.join(dupes)}; expected each once")


# ---------------------------------------------------------------- offers
class ValueModel(_Frozen):
    """What one acceptance is worth to the bank."""

    margin: float = Field(ge=0.0, description="Margin of one acceptance (currency)")
    cost: float = Field(ge=0.0, description="Cost of making the offer once (currency)")
    horizon_days: int = Field(gt=0, le=3650, description="Horizon of the margin")
    currency: Currency = "GBP"


class OfferContact(_Frozen):
    """Per-offer contact limits, on top of the policy-wide ones (None: no limit)."""

    max_per_day: NonNegInt | None = None
    max_per_week: NonNegInt | None = None
    max_per_month: NonNegInt | None = None
    cooldown_after_decline_days: NonNegInt | None = None

    @model_validator(mode="after")
    def _nested(self) -> OfferContact:
        _check_nested(
            self.max_per_day, self.max_per_week, self.max_per_month, "max_per"
        )
        return self


def _check_nested(
    day: int | None, week: int | None, month: int | None, prefix: str
) -> None:
    pairs = (("day", day, "week", week), ("week", week, "month", month))
    for a, va, b, vb in pairs:
        if va is not None and vb is not None and va > vb:
            raise ValueError(
                f"{prefix}_{a} ({va}) exceeds {prefix}_{b} ({vb}); expected "
                f"{prefix}_{a} <= {prefix}_{b}"
            )


class Offer(_Frozen):
    """One offer of the catalogue."""

    id: Identifier
    product: str
    name: str = Field(min_length=1, max_length=200)
    channels: tuple[Channel, ...] = Field(min_length=1)
    value: ValueModel
    message: str = Field(min_length=1, max_length=2000)
    #: Alternative messages by id, served only to the variants of a message
    #: experiment that name them (the decider renders ``message`` otherwise).
    messages: dict[MessageId, Annotated[str, Field(min_length=1, max_length=2000)]] = (
        Field(default_factory=dict)
    )
    start: dt.date
    end: dt.date | None = None
    eligibility: str = "true"
    lever: Lever = 1.0
    segment_levers: dict[str, Lever] = Field(default_factory=dict)
    contact: OfferContact = OfferContact()

    @field_validator("product")
    @classmethod
    def _product(cls, v: str) -> str:
        if v not in PRODUCTS:
            raise ValueError(f"expected one of {', '.join(PRODUCTS)}, got {v!r}")
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        _unique(v, "channels")
        return v

    @field_validator("end")
    @classmethod
    def _dates(cls, v: dt.date | None, info: ValidationInfo) -> dt.date | None:
        start = info.data.get("start")
        if v is not None and start is not None and v < start:
            raise ValueError(f"expected end >= start ({start}), got {v}")
        return v

    def live(self, today: dt.date) -> bool:
        """Whether the offer runs on ``today``."""
        return self.start <= today and (self.end is None or today <= self.end)


# ---------------------------------------------------------------- contact
class Caps(_Frozen):
    """Contacts allowed per customer per day / week / month (None: no cap)."""

    per_day: NonNegInt | None = None
    per_week: NonNegInt | None = None
    per_month: NonNegInt | None = None

    @model_validator(mode="after")
    def _nested(self) -> Caps:
        _check_nested(self.per_day, self.per_week, self.per_month, "per")
        return self


class Suppression(_Frozen):
    """Stop showing an offer after ``after_impressions`` impressions without a
    response within ``window_days``."""

    after_impressions: int = Field(ge=1)
    window_days: int = Field(ge=1, le=3650)


class QuietHours(_Frozen):
    """No contact on ``channels`` between ``start`` and ``end`` local time
    (an interval may wrap midnight, e.g. 21:00-08:00)."""

    start: dt.time
    end: dt.time
    timezone: str = "Europe/London"
    channels: tuple[Channel, ...] = ("call_centre", "mobile", "email")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone (e.g. Europe/London), got {v!r}"
            ) from None
        return v

    @field_validator("end")
    @classmethod
    def _not_empty(cls, v: dt.time, info: ValidationInfo) -> dt.time:
        if info.data.get("start") == v:
            raise ValueError(f"expected end different from start, got {v}")
        return v

    def is_quiet(self, channel: str, now: dt.datetime) -> bool:
        """Whether ``channel`` is in quiet hours at ``now`` (aware datetime)."""
        if channel not in self.channels:
            return False
        local = now.astimezone(ZoneInfo(self.timezone)).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class ContactPolicy(_Frozen):
    """Caps, cool-downs, suppression, consent and quiet hours."""

    per_channel: dict[Channel, Caps] = Field(default_factory=dict)
    all_channels: Caps = Caps()
    cooldown_after_decline_days: NonNegInt = 30
    suppression: Suppression | None = None
    do_not_contact_field: str = "do_not_contact"
    consent_field: str = "marketing_consent"
    consent_required_channels: tuple[Channel, ...] = ("email", "call_centre", "mobile")
    quiet_hours: QuietHours | None = None


# ---------------------------------------------------------------- arbitration
class Arbitration(_Frozen):
    """priority = P(accept) x margin x offer lever x segment lever(s)."""

    max_offers: int = Field(1, ge=1, le=20)
    min_priority: float = Field(0.0, ge=0.0)
    segment_levers: dict[str, Lever] = Field(default_factory=dict)


# ---------------------------------------------------------------- bandit
class _BanditBase(_Frozen):
    features: tuple[str, ...] = ()
    reward: Literal["conversion", "value"] = "conversion"


class LinUCBParams(_Frozen):
    alpha: float = Field(1.0, gt=0.0, le=100.0)


class LinTSParams(_Frozen):
    v: float = Field(1.0, gt=0.0, le=100.0)


class EpsilonGreedyParams(_Frozen):
    epsilon: float = Field(0.1, ge=0.0, le=1.0)


class LogisticTSParams(_Frozen):
    prior_variance: float = Field(1.0, gt=0.0, le=1e6)


class LinUCBBandit(_BanditBase):
    type: Literal["linucb"]
    params: LinUCBParams = LinUCBParams()


class LinTSBandit(_BanditBase):
    type: Literal["lints"]
    params: LinTSParams = LinTSParams()


class EpsilonGreedyBandit(_BanditBase):
    type: Literal["epsilon_greedy"]
    params: EpsilonGreedyParams = EpsilonGreedyParams()


class LogisticTSBandit(_BanditBase):
    type: Literal["logistic_ts"]
    params: LogisticTSParams = LogisticTSParams()


BanditSpec = Annotated[
    LinUCBBandit | LinTSBandit | EpsilonGreedyBandit | LogisticTSBandit,
    Field(discriminator="type"),
]
BANDIT_TYPES: tuple[str, ...] = ("linucb", "lints", "epsilon_greedy", "logistic_ts")


# ---------------------------------------------------------------- policy
class ProfileField(_Frozen):
    """A profile field declared by the policy file (adds to or overrides the
    defaults in :mod:`nbo_engine.policy.fields`)."""

    type: FieldType
    values: tuple[str, ...] = ()
    description: str = ""


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class PolicySpec(_Frozen):
    """A complete, validated policy: what may be offered, to whom, how often."""

    version: Literal[1] = 1
    name: Identifier
    description: str = ""
    segments: tuple[Identifier, ...] = ()
    #: Optional: a rule per declared segment over profile fields. A customer's
    #: ``segment`` is the first segment, in the order the rules are written,
    #: whose rule holds; when none does (or none is given), the score columns
    #: decide (:func:`nbo_engine.decisioning.context.resolve_segment`).
    segment_rules: dict[Identifier, str] = Field(default_factory=dict)
    profile_fields: dict[str, ProfileField] = Field(default_factory=dict)
    template_fields: tuple[str, ...] = ("first_name", "last_name", "city")
    offers: tuple[Offer, ...] = Field(min_length=1)
    contact: ContactPolicy = ContactPolicy()
    arbitration: Arbitration = Arbitration()
    bandit: BanditSpec

    _rules: dict[str, Rule] = PrivateAttr(default_factory=dict)
    _segment_rules: tuple[tuple[str, Rule], ...] = PrivateAttr(default=())
    _segment_columns: tuple[str, ...] = PrivateAttr(default=())

    @property
    def rule_schema(self) -> RuleSchema:
        """The fields this policy's rules are checked against."""
        extra = tuple(
            FieldSpec(name, f.type, f.values, f.description)
            for name, f in self.profile_fields.items()
        )
        return default_rule_schema(self.segments, extra)

    @model_validator(mode="after")
    def _cross_check(self) -> PolicySpec:
        problems = cross_problems(self.model_dump(mode="python"))
        if problems:
            raise ValidationError.from_exception_data(
                "PolicySpec",
                [
                    InitErrorDetails(
                        type=PydanticCustomError("policy", "{message}", {"message": m}),
                        loc=loc,
                        input=value,
                    )
                    for loc, m, value in problems
                ],
            )
        schema = self.rule_schema
        for offer in self.offers:
            self._rules[offer.id] = compile_rule(offer.eligibility, schema)
        self._segment_rules = tuple(
            (seg, compile_rule(rule, schema))
            for seg, rule in self.segment_rules.items()
        )
        self._segment_columns = tuple(
            sorted({c for _, r in self._segment_rules for c in r.columns})
        )
        return self

    # ------------------------------------------------------------ segments
    @property
    def segment_rule_columns(self) -> tuple[str, ...]:
        """Profile columns the segment rules read."""
        return self._segment_columns

    def rule_segment(self, profile: Mapping[str, Any]) -> str | None:
        """The first segment (in the rules' order) whose rule holds for
        ``profile``, or ``None`` (no rule holds, or none is written). Fields
        the rules read and ``profile`` lacks are missing (``None``)."""
        if not self._segment_rules:
            return None
        full = profile
        missing = [c for c in self.segment_rule_columns if c not in profile]
        if missing:  # decisioning's profiles hold them all: no copy there
            full = {**profile, **dict.fromkeys(missing)}
        for seg, rule in self._segment_rules:
            if rule.holds(full):
                return seg
        return None

    def rule_segments(self, profiles: pd.DataFrame) -> NDArray[np.object_]:
        """:meth:`rule_segment` of every row, vectorised, shape (n,)."""
        out = np.full(len(profiles), None, dtype=object)
        for seg, rule in reversed(self._segment_rules):  # the first rule wins
            out[rule.mask(profiles)] = seg
        return out

    # ------------------------------------------------------------ queries
    @property
    def offer_ids(self) -> tuple[str, ...]:
        return tuple(o.id for o in self.offers)

    @property
    def channels(self) -> tuple[str, ...]:
        """Channels used by at least one offer, in the canonical order."""
        used = {c for o in self.offers for c in o.channels}
        return tuple(c for c in CONTACT_CHANNELS if c in used)

    def rule(self, offer_id: str) -> Rule:
        """The compiled eligibility rule of one offer."""
        return self._rules[offer_id]

    def eligibility(self, profiles: pd.DataFrame, today: dt.date) -> NDArray[np.bool_]:
        """Which offers each profile may receive on ``today`` by the offers'
        dates and eligibility rules (not the contact policy), shape
        (n_profiles, n_offers) in :attr:`offer_ids` order."""
        out = np.zeros((len(profiles), len(self.offers)), dtype=bool)
        for k, offer in enumerate(self.offers):
            if offer.live(today):
                out[:, k] = self._rules[offer.id].mask(profiles)
        return out

    def levers(self, segments: Sequence[str] | NDArray[np.str_]) -> NDArray[np.float64]:
        """Product of the offer, segment and offer-by-segment levers for each
        customer's segment, shape (n_customers, n_offers); 1 where unset."""
        uniq, inverse = np.unique(np.asarray(segments, dtype=str), return_inverse=True)
        # levers per distinct segment (few), then gathered per customer
        table = np.empty((uniq.size, len(self.offers)))
        for j, s in enumerate(uniq):
            base = self.arbitration.segment_levers.get(str(s), 1.0)
            for k, offer in enumerate(self.offers):
                table[j, k] = offer.lever * base * offer.segment_levers.get(str(s), 1.0)
        return table[inverse.reshape(-1)]

    def priorities(
        self,
        p_accept: NDArray[np.float64],
        segments: Sequence[str] | NDArray[np.str_],
    ) -> NDArray[np.float64]:
        """``P(accept) x margin x levers``, shape (n_customers, n_offers).

        ``p_accept`` has shape (n_customers, n_offers) in :attr:`offer_ids`
        order; the margin is each offer's ``value.margin`` (currency).
        """
        margin = np.array([o.value.margin for o in self.offers])
        return np.asarray(p_accept, dtype=float) * margin * self.levers(segments)


Loc = tuple[str | int, ...]


def _str_list(v: Any) -> list[str]:
    return [x for x in v if isinstance(x, str)] if isinstance(v, list | tuple) else []


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _schema_of(data: dict[str, Any]) -> RuleSchema:
    extra = []
    for name, f in _dict(data.get("profile_fields")).items():
        f = _dict(f)
        if isinstance(name, str) and f.get("type") in (
            "number",
            "string",
            "category",
            "bool",
        ):
            extra.append(
                FieldSpec(name, f["type"], tuple(_str_list(f.get("values", ()))))
            )
    return default_rule_schema(tuple(_str_list(data.get("segments"))), tuple(extra))


def cross_problems(data: dict[str, Any]) -> list[tuple[Loc, str, Any]]:
    """Problems that span fields: ``(location, message, value)`` each.

    Works on the validated model dumped to plain data and, defensively, on the
    raw YAML data when field validation failed (parts of the wrong type are
    skipped), so a policy file gets these reported alongside the field
    errors: duplicate offer ids, eligibility rules (syntax and fields),
    message templates, unknown segments in levers, bandit features and the
    consent fields.
    """
    out: list[tuple[Loc, str, Any]] = []
    schema = _schema_of(data)
    segments = _str_list(data.get("segments"))
    known_segments = ", ".join(segments) or "(no segments declared)"
    for name in _dict(data.get("profile_fields")):
        if not (isinstance(name, str) and _NAME.match(name)):
            out.append(
                (
                    ("profile_fields", str(name)),
                    f"expected a lower_snake_case name, got {name!r}",
                    name,
                )
            )
    template_fields = data.get("template_fields", ("first_name", "last_name", "city"))
    template_fields = _str_list(template_fields)
    for j, name in enumerate(template_fields):
        if schema.field_type(name) not in ("string", "category", "number"):
            out.append(
                (
                    ("template_fields", j),
                    f"expected a declared text or number profile field, got {name!r}",
                    name,
                )
            )
    for seg, rule in _dict(data.get("segment_rules")).items():
        loc: Loc = ("segment_rules", str(seg))
        if seg not in segments:
            out.append(
                (loc, f"unknown segment {seg!r}; expected one of {known_segments}", seg)
            )
        if not isinstance(rule, str):
            continue
        try:
            compiled = compile_rule(rule, schema)
        except RuleError as exc:
            for line, col, msg in exc.issues:
                out.append((loc, f"rule line {line}, column {col}: {msg}", rule))
            continue
        if "segment" in compiled.columns:
            out.append(
                (
                    loc,
                    "a segment rule cannot read the segment it defines "
                    "(segment, in_segment)",
                    rule,
                )
            )
    seen: dict[str, int] = {}
    offers = data.get("offers")
    offer_list = offers if isinstance(offers, list | tuple) else []
    offer_id_set = {str(_dict(o).get("id")) for o in offer_list}
    message_ids: set[str] = set()
    for i, offer in enumerate(offer_list):
        offer = _dict(offer)
        oid = offer.get("id")
        if isinstance(oid, str):
            if oid in seen:
                out.append(
                    (
                        ("offers", i, "id"),
                        f"duplicate offer id {oid!r} (also offers[{seen[oid]}])",
                        oid,
                    )
                )
            seen.setdefault(oid, i)
        rule = offer.get("eligibility", "true")
        if isinstance(rule, str):
            try:
                compile_rule(rule, schema)
            except RuleError as exc:
                for line, col, msg in exc.issues:
                    out.append(
                        (
                            ("offers", i, "eligibility"),
                            f"rule line {line}, column {col}: {msg}",
                            rule,
                        )
                    )
        message = offer.get("message")
        if isinstance(message, str):
            for msg in check_template(message, set(template_fields)):
                out.append((("offers", i, "message"), f"template {msg}", message))
        for mid, text in _dict(offer.get("messages")).items():
            loc = ("offers", i, "messages", str(mid))
            if isinstance(text, str):
                for msg in check_template(text, set(template_fields)):
                    out.append((loc, f"template {msg}", text))
            if str(mid) in message_ids or str(mid) in offer_id_set:
                out.append(
                    (
                        loc,
                        f"message id {mid!r} is used twice (another offer's "
                        "message or an offer id): a message experiment could not "
                        "tell which one it serves",
                        mid,
                    )
                )
            message_ids.add(str(mid))
        for seg in _dict(offer.get("segment_levers")):
            if seg not in segments:
                out.append(
                    (
                        ("offers", i, "segment_levers", str(seg)),
                        f"unknown segment {seg!r}; expected one of {known_segments}",
                        seg,
                    )
                )
    for seg in _dict(_dict(data.get("arbitration")).get("segment_levers")):
        if seg not in segments:
            out.append(
                (
                    ("arbitration", "segment_levers", str(seg)),
                    f"unknown segment {seg!r}; expected one of {known_segments}",
                    seg,
                )
            )
    features = _dict(data.get("bandit")).get("features", ())
    for j, name in enumerate(features if isinstance(features, list | tuple) else []):
        typ = schema.field_type(name) if isinstance(name, str) else None
        categories = schema.fields[name].values if typ == "category" else ()
        if typ not in ("number", "bool") and not (categories and name != "segment"):
            out.append(
                (
                    ("bandit", "features", j),
                    "expected a number or bool profile field, or a category "
                    f"field with declared values (one-hot), got {name!r}",
                    name,
                )
            )
    contact = _dict(data.get("contact"))
    for key, default in (
        ("do_not_contact_field", "do_not_contact"),
        ("consent_field", "marketing_consent"),
    ):
        name = contact.get(key, default)
        if isinstance(name, str) and schema.field_type(name) != "bool":
            out.append(
                (("contact", key), f"expected a bool profile field, got {name!r}", name)
            )
    return out

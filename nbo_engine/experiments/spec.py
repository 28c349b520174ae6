"""Experiment definitions: pydantic models loaded from YAML.

An experiment tests offers, messages or whole policy versions (champion /
challenger) on an audience, with variants that own fixed shares of the
experiment's 10,000 buckets, a traffic ramp, optional mutually exclusive layers,
and primary, secondary and guardrail metrics. The bank-wide global holdout is a
separate object (:class:`GlobalHoldout`): its customers receive no offers at all.

Validation errors name the file, line, field path and value received, e.g.
``ab.yaml:12 variants.1.weight: expected a share in (0, 1], got 1.5``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from nbo_engine.errors import ExperimentSpecError
from nbo_engine.experiments.hashing import BUCKETS

__all__ = [
    "STANDARD_METRICS",
    "Audience",
    "Design",
    "ExperimentSpec",
    "GlobalHoldout",
    "Layer",
    "Metric",
    "Metrics",
    "Variant",
    "check_layers",
    "load_experiment",
    "load_global_holdout",
    "parse_experiment",
    "parse_global_holdout",
]

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=64),
]
"""Names and salts: letters, digits, ``.``, ``_``, ``-`` (no ``:``, which
separates the parts of a hash key)."""

MAX_GLOBAL_HOLDOUT = 0.2


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class GlobalHoldout(_Model):
    """Customers who receive no offers at all, kept across campaigns.

    The share is fixed and small; changing ``salt`` re-draws the whole holdout,
    so it is changed only deliberately (e.g. once a year).
    """

    salt: Name
    share: Annotated[float, Field(gt=0.0, le=MAX_GLOBAL_HOLDOUT)]
    description: str = ""

    @property
    def buckets(self) -> int:
        """Number of buckets (of 10,000) in the holdout."""
        return round(self.share * BUCKETS)


class Layer(_Model):
    """A mutually exclusive layer: each experiment owns slots ``[start, end)`` of
    the layer's 10,000 slots; a customer falls in exactly one slot per layer."""

    name: Name
    start: Annotated[int, Field(ge=0, le=BUCKETS)] = 0
    end: Annotated[int, Field(ge=0, le=BUCKETS)] = BUCKETS

    @model_validator(mode="after")
    def _range(self) -> Layer:
        if self.start >= self.end:
            raise ValueError(
                f"end: expected start < end (slots of 0..{BUCKETS}), got start={self.start}, "
                f"end={self.end}"
            )
        return self


class Audience(_Model):
    """Who may enter: latent-free customer segments and/or a rule (text kept as
    written; evaluated by the policy rule language). Both given means both hold."""

    segments: tuple[str, ...] = ()
    rule: str | None = None
    description: str = ""


class Variant(_Model):
    """One arm. ``weight`` is the share of the experiment's buckets reserved for
    it (absolute, not relative: unreserved buckets stay free for later variants).
    ``treatment`` is the offer id, message id or policy version served; ``None``
    means no contact (a campaign holdout). ``paused`` empties its exposed range
    (its customers become not enrolled; nobody moves to another variant)."""

    name: Name
    weight: Annotated[float, Field(gt=0.0, le=1.0)]
    control: bool = False
    treatment: str | None = None
    paused: bool = False
    description: str = ""

    @property
    def reserved_buckets(self) -> int:
        """Buckets reserved for this variant (of 10,000)."""
        return round(self.weight * BUCKETS)


MetricKind = Literal["proportion", "mean", "ratio"]


class Metric(_Model):
    """A metric measured per unit.

    ``outcome`` names the per-unit column the data layer provides (defaults to
    ``name``); ``ratio`` metrics divide ``sum(outcome)`` by ``sum(denominator)``.
    ``cuped`` adjusts with the same outcome's pre-period value. For guardrails,
    ``max_harm`` is the largest tolerated relative change in the harmful direction
    (e.g. 0.02 = complaints may rise by at most 2%).
    """

    name: Name
    kind: MetricKind = "proportion"
    outcome: str | None = None
    denominator: str | None = None
    higher_is_better: bool = True
    cuped: bool = False
    max_harm: Annotated[float, Field(gt=0.0)] | None = None
    description: str = ""

    @model_validator(mode="after")
    def _ratio(self) -> Metric:
        if self.kind == "ratio" and not self.denominator:
            raise ValueError("denominator: a ratio metric needs one, got none")
        if self.kind != "ratio" and self.denominator:
            raise ValueError(
                f"denominator: only ratio metrics have one, got kind={self.kind!r}"
            )
        return self

    @property
    def column(self) -> str:
        """The per-unit outcome column."""
        return self.outcome or self.name


STANDARD_METRICS: dict[str, Metric] = {
    "conversion": Metric(name="conversion", kind="proportion"),
    "value": Metric(name="value", kind="mean", cuped=True),
    "churn": Metric(name="churn", kind="proportion", higher_is_better=False),
    "complaints": Metric(name="complaints", kind="mean", higher_is_better=False),
}
"""Shorthands: a metric given as a bare name is one of these."""


def _expand_metric(v: Any) -> Any:
    if isinstance(v, str):
        if v not in STANDARD_METRICS:
            raise ValueError(
                f"unknown standard metric {v!r}; expected one of "
                f"{', '.join(STANDARD_METRICS)} or a mapping with name and kind"
            )
        return STANDARD_METRICS[v]
    return v


class Metrics(_Model):
    """One primary metric (the decision), secondary metrics (reported, BH
    adjusted) and guardrails (stop for harm; not adjusted, to stay sensitive)."""

    primary: Metric
    secondary: tuple[Metric, ...] = ()
    guardrails: tuple[Metric, ...] = ()

    @field_validator("primary", mode="before")
    @classmethod
    def _primary(cls, v: Any) -> Any:
        return _expand_metric(v)

    @field_validator("secondary", "guardrails", mode="before")
    @classmethod
    def _many(cls, v: Any) -> Any:
        if isinstance(v, list | tuple):
            return tuple(_expand_metric(x) for x in v)
        return v

    @model_validator(mode="after")
    def _unique(self) -> Metrics:
        names = [m.name for m in self.all()]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(
                f"metric names must be unique, got {', '.join(dup)} more than once"
            )
        return self

    def all(self) -> tuple[Metric, ...]:
        """Primary, then secondary, then guardrails."""
        return (self.primary, *self.secondary, *self.guardrails)

    def role(self, name: str) -> Literal["primary", "secondary", "guardrail"]:
        """The role of metric ``name``."""
        if name == self.primary.name:
            return "primary"
        if any(m.name == name for m in self.secondary):
            return "secondary"
        if any(m.name == name for m in self.guardrails):
            return "guardrail"
        raise KeyError(f"unknown metric {name!r}")


class Design(_Model):
    """The power calculation behind ``planned_sample_size`` (see ``power.py``)."""

    metric: Literal["proportion", "mean"] = "proportion"
    baseline: float
    mde: float
    sd: Annotated[float, Field(gt=0.0)] | None = None
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    power: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.8


class ExperimentSpec(_Model):
    """An A/B/n test of offers, messages or policy versions."""

    name: Name
    kind: Literal["offer", "message", "policy"]
    description: str = ""
    owner: str | None = None
    campaign: str | None = None
    salt: Name | None = None
    layer: Layer | None = None
    audience: Audience = Audience()
    start: dt.date
    end: dt.date | None = None
    traffic: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    variants: Annotated[tuple[Variant, ...], Field(min_length=2)]
    metrics: Metrics
    analysis: Literal["sequential", "fixed"] = "sequential"
    alpha: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.05
    planned_sample_size: Annotated[int, Field(gt=0)] | None = None
    design: Design | None = None

    @model_validator(mode="after")
    def _check(self) -> ExperimentSpec:
        if self.end is not None and self.end <= self.start:
            raise ValueError(
                f"end: expected a date after start, got start={self.start}, end={self.end}"
            )
        names = [v.name for v in self.variants]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(
                f"variants: names must be unique, got {', '.join(dup)} more than once"
            )
        controls = [v.name for v in self.variants if v.control]
        if len(controls) != 1:
            raise ValueError(
                "variants: expected exactly one with control: true, got "
                f"{len(controls)}{' (' + ', '.join(controls) + ')' if controls else ''}"
            )
        reserved = sum(v.reserved_buckets for v in self.variants)
        if reserved > BUCKETS:
            total = sum(v.weight for v in self.variants)
            raise ValueError(
                f"variants: weights sum to {total:g}, expected at most 1 (weights are "
                "shares of the experiment's buckets; leave the rest free to add "
                "variants later without moving anyone)"
            )
        for i, v in enumerate(self.variants):
            if v.reserved_buckets < 1:
                raise ValueError(
                    f"variants.{i}.weight: expected at least one bucket "
                    f"({1 / BUCKETS:g}), got {v.weight:g}"
                )
            if math.floor(self.traffic * v.reserved_buckets + 1e-9) < 1:
                raise ValueError(
                    f"traffic: {self.traffic:g} x weight {v.weight:g} of variant "
                    f"{v.name!r} exposes no bucket, expected at least one; got "
                    f"{self.traffic:g}"
                )
        if self.kind == "policy":
            missing = [v.name for v in self.variants if not v.treatment]
            if missing:
                raise ValueError(
                    "variants: a policy experiment serves a policy version in every "
                    f"variant, got no treatment in {', '.join(missing)}"
                )
        return self

    @property
    def hash_salt(self) -> str:
        """The salt of the variant hash (``salt``, else the experiment name)."""
        return self.salt or self.name

    @property
    def control_index(self) -> int:
        """Position of the control variant."""
        return next(i for i, v in enumerate(self.variants) if v.control)

    @property
    def variant_names(self) -> tuple[str, ...]:
        """Variant names in declaration order (the indices ``assign`` returns)."""
        return tuple(v.name for v in self.variants)

    def is_active(self, now: dt.date) -> bool:
        """Whether ``now`` lies in ``[start, end)`` (``end`` None: open-ended)."""
        return self.start <= now and (self.end is None or now < self.end)


# ------------------------------------------------------------------ loading


def _line_of(node: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the field at ``loc`` in the YAML node tree: the line of
    its key (or of its list item), or of the nearest parent that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    nxt, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if 0 <= part < len(node.value):
                nxt = node.value[part]
                line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


_FIELD_HEAD = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w-]+)*): ")


def _format_errors(
    exc: ValidationError, source: str, root: yaml.Node | None
) -> ExperimentSpecError:
    errors = exc.errors(include_url=False)
    locs = [tuple(e["loc"]) for e in errors]
    lines = []
    for e in errors:
        loc: list[int | str] = [
            p for p in e["loc"] if not str(p).startswith("function-")
        ]
        # "too short" after an invalid item is noise: the item's error says it all
        if e["type"] == "too_short" and any(
            other != tuple(e["loc"]) and other[: len(e["loc"])] == tuple(e["loc"])
            for other in locs
        ):
            continue
        msg = e["msg"].removeprefix("Value error, ")
        model_level = e["type"] == "value_error" and isinstance(e["input"], Mapping)
        head = _FIELD_HEAD.match(msg) if e["type"] == "value_error" else None
        if head:  # model-level checks name their field first: "variants: ..."
            loc += [int(p) if p.isdigit() else p for p in head.group(1).split(".")]
            msg = msg[head.end() :]
        path = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "missing":
            lines.append(f"{source} {path}: required field is missing")
            continue
        line = _line_of(root, loc) if root is not None else None
        where = f"{source}:{line}" if line else source
        if e["type"] == "extra_forbidden":
            lines.append(f"{where} {path}: unknown field (got {e['input']!r})")
        elif model_level or "got " in msg:
            lines.append(f"{where} {path}: {msg}")
        else:
            lines.append(f"{where} {path}: {msg}, got {e['input']!r}")
    return ExperimentSpecError("\n".join(lines))


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentSpecError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ExperimentSpecError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, Mapping):
        raise ExperimentSpecError(
            f"{path}: expected a mapping of fields at the top level, got "
            f"{type(data).__name__}"
        )
    return data, root, str(path)


def parse_experiment(
    data: Mapping[str, Any], source: str = "<experiment>", *, _root: Any = None
) -> ExperimentSpec:
    """Validate a mapping into an :class:`ExperimentSpec`.

    Raises
    ------
    ExperimentSpecError
        One line per problem: ``source[:line] field.path: what, got value``.
    """
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise _format_errors(exc, source, _root) from None


def parse_global_holdout(
    data: Mapping[str, Any], source: str = "<global holdout>", *, _root: Any = None
) -> GlobalHoldout:
    """Validate a mapping into a :class:`GlobalHoldout`."""
    try:
        return GlobalHoldout.model_validate(data)
    except ValidationError as exc:
        raise _format_errors(exc, source, _root) from None


def load_experiment(path: Path | str) -> ExperimentSpec:
    """Read and validate one experiment YAML file."""
    data, root, source = _read_yaml(Path(path))
    return parse_experiment(data, source, _root=root)


def load_global_holdout(path: Path | str) -> GlobalHoldout:
    """Read and validate the global holdout YAML file."""
    data, root, source = _read_yaml(Path(path))
    return parse_global_holdout(data, source, _root=root)


def _overlap(a: ExperimentSpec, b: ExperimentSpec) -> bool:
    a_end = a.end or dt.date.max
    b_end = b.end or dt.date.max
    return a.start < b_end and b.start < a_end


def check_layers(experiments: Iterable[ExperimentSpec]) -> None:
    """Raise if two experiments share layer slots while their dates overlap, or
    if two experiments use the same hash salt at the same time.

    Raises
    ------
    ExperimentSpecError
        Naming both experiments, the layer and the overlapping slots.
    """
    exps = list(experiments)
    problems = []
    for i, a in enumerate(exps):
        for b in exps[i + 1 :]:
            if not _overlap(a, b):
                continue
            if a.hash_salt == b.hash_salt:
                problems.append(
                    f"experiments {a.name!r} and {b.name!r} run at the same time with "
                    f"the same salt {a.hash_salt!r}; expected distinct salts"
                )
            if a.layer and b.layer and a.layer.name == b.layer.name:
                lo = max(a.layer.start, b.layer.start)
                hi = min(a.layer.end, b.layer.end)
                if lo < hi:
                    problems.append(
                        f"layer {a.layer.name!r}: experiments {a.name!r} "
                        f"(slots {a.layer.start}-{a.layer.end}) and {b.name!r} "
                        f"(slots {b.layer.start}-{b.layer.end}) overlap on slots "
                        f"{lo}-{hi} while both run; expected disjoint slots"
                    )
    if problems:
        raise ExperimentSpecError("\n".join(problems))

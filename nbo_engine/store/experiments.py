"""Experiments in the store: definitions, lifecycle, audit, and the readout's sums.

An experiment is stored as the spec text submitted (YAML or JSON), validated by
:mod:`nbo_engine.experiments.spec` and by what only the store can check: that
its metrics use outcomes this module measures (:data:`OUTCOMES`), that its
audience rule is valid in the rule language, and that a ``policy`` experiment's
treatments name published policy versions (``NAME@VERSION``, e.g.
``retail_default@3``). The bank-wide global holdout is stored the same way, as
kind ``holdout`` (at most one runs at a time).

Lifecycle: ``draft`` -> ``running`` -> ``stopped`` (terminal; a stopped
experiment is never restarted: create a new one with a new salt). Every change
(create, start, ramp, stop) writes an ``experiment_changes`` row in the same
transaction, and a ramp keeps the previous spec text there, so nothing is lost.
Starting checks layer exclusivity (:func:`~nbo_engine.experiments.check_layers`)
against the running experiments under a lock (PostgreSQL advisory transaction
lock; SQLite's ``BEGIN IMMEDIATE``), so two concurrent starts cannot both pass.

:func:`variant_sums` aggregates the sufficient statistics of a readout in SQL:
one row per variant with ``n`` and ``sum`` of any products of per-unit
outcomes, every value a bound parameter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sqlalchemy import (
    Connection,
    Engine,
    Float,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import Date, DateTime, String

from nbo_engine.errors import (
    DataValidationError,
    ExperimentSpecError,
    ExperimentStateError,
    RuleError,
    UnknownExperimentError,
)
from nbo_engine.experiments.assignment import variant_table
from nbo_engine.experiments.spec import (
    ExperimentSpec,
    GlobalHoldout,
    _line_of,
    check_layers,
    parse_experiment,
    parse_global_holdout,
)
from nbo_engine.policy import compile_rule
from nbo_engine.policy.fields import default_rule_schema
from nbo_engine.store.engine import read, write
from nbo_engine.store.tables import metadata
from nbo_engine.timeutil import naive_utc

__all__ = [
    "HOLDOUT",
    "OUTCOMES",
    "POLICY_REF",
    "ExperimentChangeRecord",
    "ExperimentRecord",
    "Outcome",
    "Running",
    "VariantSums",
    "create_experiment",
    "experiment_changes",
    "get_experiment",
    "list_experiments",
    "parse_policy_ref",
    "parse_spec_text",
    "ramp_experiment",
    "read_experiment_stamp",
    "resolve_policy_refs",
    "running_experiments",
    "start_experiment",
    "stop_experiment",
    "variant_sums",
]

EXPERIMENTS = metadata.tables["experiments"]
CHANGES = metadata.tables["experiment_changes"]
VERSIONS = metadata.tables["policy_versions"]
STATES = metadata.tables["bandit_states"]
DECISIONS = metadata.tables["decisions"]
CHOSEN = metadata.tables["decision_offers"]
EVENTS = metadata.tables["offer_events"]
ACCOUNTS = metadata.tables["accounts"]
INTERACTIONS = metadata.tables["interactions"]
CUSTOMERS = metadata.tables["customers"]

HOLDOUT = "holdout"
"""``kind`` of the stored global holdout."""
POLICY_REF = re.compile(r"^([a-z][a-z0-9_]{0,63})@([1-9][0-9]{0,8})$")
"""A policy version named by its policy name and version number."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_LOCK_KEY = 0x6E626F_657870  # advisory lock of experiment starts ("nbo" "exp")
_POSITIVE = ("accept", "conversion")


@dataclass(frozen=True)
class Outcome:
    """A per-unit outcome the store measures for a readout."""

    binary: bool  # 0/1, so a proportion metric may use it
    pre_period: bool  # measurable before the experiment (CUPED covariate)
    description: str


OUTCOMES: Mapping[str, Outcome] = {
    "conversion": Outcome(
        True, True, "accepted or converted on an offer of the experiment (0/1)"
    ),
    "value": Outcome(
        False, True, "sum of the values of accept and conversion events (currency)"
    ),
    "clicks": Outcome(False, True, "click events on the experiment's offers"),
    "impressions": Outcome(False, True, "impression events on the experiment's offers"),
    "decisions": Outcome(False, False, "decisions logged in the experiment"),
    "offers_shown": Outcome(False, False, "offers shown in those decisions"),
    "new_accounts": Outcome(
        False, True, "accounts opened, any product, from the day of first exposure"
    ),
    "churn": Outcome(
        True,
        False,
        "an open account on the day of first exposure and none on the as-of day (0/1)",
    ),
    "complaints": Outcome(False, True, "complaints in service interactions"),
}
"""Outcomes per unit (customer), from their first decision in the experiment
up to the readout's as-of time; the pre-period values cover a fixed window
before the experiment's start date."""


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class ExperimentRecord:
    """A stored experiment (``spec`` parsed from ``spec_text``)."""

    id: int
    name: str
    kind: str
    layer: str | None
    status: str
    spec_text: str
    spec_sha256: str
    created_at: dt.datetime
    created_by: str | None
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    stop_reason: str | None
    spec: ExperimentSpec | GlobalHoldout

    @property
    def is_holdout(self) -> bool:
        return self.kind == HOLDOUT


@dataclass(frozen=True)
class ExperimentChangeRecord:
    """One audited change (``detail`` decoded from JSON)."""

    id: int
    experiment: str
    at: dt.datetime
    actor: str | None
    action: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class Running:
    """The running experiments (in creation order) and the global holdout."""

    experiments: tuple[ExperimentSpec, ...]
    global_holdout: GlobalHoldout | None
    stamp: int | None  # newest experiment_changes id: changes when anything does
    #: Running experiments whose stored spec no longer validates (left out).
    problems: tuple[str, ...] = ()


def _naive_utc(t: dt.datetime | None) -> dt.datetime:
    return naive_utc(t if t is not None else dt.datetime.now(dt.UTC))


def _sha(text_: str) -> str:
    return hashlib.sha256(text_.encode()).hexdigest()


# ------------------------------------------------------------------ parsing


def _load_text(text_: str, source: str, json_body: bool) -> tuple[Any, Any]:
    if json_body:
        try:
            return json.loads(text_), None
        except json.JSONDecodeError as exc:
            raise ExperimentSpecError(
                f"{source}: not valid JSON ({exc.msg} at line {exc.lineno} column "
                f"{exc.colno})"
            ) from None
    try:
        return yaml.safe_load(text_), yaml.compose(text_, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ExperimentSpecError(f"{source}: not valid YAML ({exc})") from None


def parse_spec_text(
    spec_text: str, source: str = "<experiment>", *, json_body: bool = False
) -> tuple[str, ExperimentSpec | GlobalHoldout]:
    """``(name, spec)`` of an experiment or global-holdout text.

    A global holdout is a mapping with ``share`` and no ``variants`` (or with
    ``kind: holdout``); ``name`` is optional for it (default
    ``global-holdout-<salt>``).

    Raises
    ------
    ExperimentSpecError
        One line per problem, ``source[:line] field.path: what, got value``.
    """
    data, root = _load_text(spec_text, source, json_body)
    if not isinstance(data, Mapping):
        raise ExperimentSpecError(
            f"{source}: expected a mapping of fields at the top level, got "
            f"{type(data).__name__}"
        )
    if data.get("kind") == HOLDOUT or ("variants" not in data and "share" in data):
        body = {k: v for k, v in data.items() if k not in ("name", "kind")}
        holdout = parse_global_holdout(body, source, _root=root)
        name = data.get("name", f"global-holdout-{holdout.salt}")
        if not isinstance(name, str) or not _NAME.match(name):
            line = _line_of(root, ["name"]) if root is not None else None
            where = f"{source}:{line}" if line else source
            raise ExperimentSpecError(
                f"{where} name: expected letters, digits, '.', '_' or '-' (at most "
                f"64), got {name!r}"
            )
        return name, holdout
    spec = parse_experiment(data, source, _root=root)
    return spec.name, spec


def parse_policy_ref(ref: str) -> tuple[str, int] | None:
    """``("retail_default", 3)`` for ``"retail_default@3"``; None if malformed."""
    m = POLICY_REF.match(ref)
    return None if m is None else (m.group(1), int(m.group(2)))


def _metric_paths(spec: ExperimentSpec) -> list[tuple[str, Any]]:
    m = spec.metrics
    out: list[tuple[str, Any]] = [("metrics.primary", m.primary)]
    out += [(f"metrics.secondary.{i}", x) for i, x in enumerate(m.secondary)]
    out += [(f"metrics.guardrails.{i}", x) for i, x in enumerate(m.guardrails)]
    return out


def _store_problems(conn: Connection, spec: ExperimentSpec) -> list[tuple[str, str]]:
    """``(field path, message)`` of what only the store can check."""
    problems: list[tuple[str, str]] = []
    known = ", ".join(OUTCOMES)
    for path, m in _metric_paths(spec):
        field = "outcome" if m.outcome else "name"
        outcome = OUTCOMES.get(m.column)
        if outcome is None:
            problems.append(
                (
                    f"{path}.{field}",
                    f"unknown outcome {m.column!r}; expected one of {known}",
                )
            )
        elif m.kind == "proportion" and not outcome.binary:
            problems.append(
                (
                    f"{path}.kind",
                    f"outcome {m.column!r} is a count or an amount, not 0/1; expected "
                    "kind mean or ratio, got 'proportion'",
                )
            )
        elif m.cuped and not outcome.pre_period:
            problems.append(
                (
                    f"{path}.cuped",
                    f"outcome {m.column!r} has no pre-period value; expected cuped: "
                    "false, got true",
                )
            )
        if m.denominator and m.denominator not in OUTCOMES:
            problems.append(
                (
                    f"{path}.denominator",
                    f"unknown outcome {m.denominator!r}; expected one of {known}",
                )
            )
    if spec.audience.rule is not None:
        try:
            compile_rule(spec.audience.rule, default_rule_schema())
        except RuleError as exc:
            problems.append(("audience.rule", str(exc)))
    if spec.kind == "policy":
        refs = [v.treatment or "" for v in spec.variants]
        found = _resolve(conn, refs)
        for i, ref in enumerate(refs):
            if parse_policy_ref(ref) is None:
                problems.append(
                    (
                        f"variants.{i}.treatment",
                        "expected a published policy version as NAME@VERSION (e.g. "
                        f"retail_default@3), got {ref!r}",
                    )
                )
            elif ref not in found:
                problems.append(
                    (
                        f"variants.{i}.treatment",
                        f"no published policy version {ref!r}; see `nbo policy list`",
                    )
                )
    return problems


def _raise_problems(problems: list[tuple[str, str]], source: str, root: Any) -> None:
    if not problems:
        return
    lines = []
    for path, msg in problems:
        loc = [int(p) if p.isdigit() else p for p in path.split(".")]
        line = _line_of(root, loc) if root is not None else None
        lines.append(
            f"{source}:{line} {path}: {msg}" if line else f"{source} {path}: {msg}"
        )
    raise ExperimentSpecError("\n".join(lines))


def _resolve(conn: Connection, refs: Sequence[str]) -> dict[str, int]:
    parsed = {r: parse_policy_ref(r) for r in refs}
    pairs = {p for p in parsed.values() if p is not None}
    if not pairs:
        return {}
    rows = conn.execute(
        select(VERSIONS.c.id, VERSIONS.c.name, VERSIONS.c.version).where(
            VERSIONS.c.name.in_(sorted({n for n, _ in pairs}))
        )
    ).all()
    ids = {(str(n), int(v)): int(i) for i, n, v in rows}
    return {r: ids[p] for r, p in parsed.items() if p is not None and p in ids}


def resolve_policy_refs(engine: Engine, refs: Sequence[str]) -> dict[str, int]:
    """``{ref: policy_versions.id}`` of the refs that name a published version."""
    with read(engine) as conn:
        return _resolve(conn, refs)


# ------------------------------------------------------------------ records io


def _record(row: Mapping[Any, Any]) -> ExperimentRecord:
    _, spec = parse_spec_text(row["spec"], f"experiment {row['name']}")
    return ExperimentRecord(
        id=int(row["id"]),
        name=str(row["name"]),
        kind=str(row["kind"]),
        layer=row["layer"],
        status=str(row["status"]),
        spec_text=str(row["spec"]),
        spec_sha256=str(row["spec_sha256"]),
        created_at=row["created_at"],
        created_by=row["created_by"],
        started_at=row["started_at"],
        stopped_at=row["stopped_at"],
        stop_reason=row["stop_reason"],
        spec=spec,
    )


def _row(conn: Connection, name: str, *, lock: bool = False) -> Mapping[Any, Any]:
    stmt = select(EXPERIMENTS).where(EXPERIMENTS.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise UnknownExperimentError(
            f"experiment {name!r} does not exist; see `nbo experiment list`", name
        )
    return row


def _audit(
    conn: Connection,
    experiment_id: int,
    action: str,
    at: dt.datetime,
    actor: str | None,
    detail: Mapping[str, Any],
) -> None:
    conn.execute(
        insert(CHANGES).values(
            experiment_id=experiment_id,
            at=at.replace(tzinfo=dt.UTC),  # this column takes aware times
            actor=actor,
            action=action,
            detail=json.dumps(dict(detail), default=str),
        )
    )


def create_experiment(
    engine: Engine,
    spec_text: str,
    *,
    source: str = "<experiment>",
    json_body: bool = False,
    actor: str | None = None,
    now: dt.datetime | None = None,
) -> ExperimentRecord:
    """Validate ``spec_text`` and store it as a draft (text kept as submitted).

    Raises
    ------
    ExperimentSpecError
        The spec is invalid (every problem, each naming its field).
    ExperimentStateError
        An experiment of that name exists already.
    """
    name, spec = parse_spec_text(spec_text, source, json_body=json_body)
    at = _naive_utc(now)
    try:
        with write(engine) as conn:
            existing = conn.execute(
                select(EXPERIMENTS.c.status).where(EXPERIMENTS.c.name == name)
            ).first()
            if existing is not None:
                raise ExperimentStateError(
                    f"experiment {name!r} already exists ({existing[0]}); expected a "
                    "new name"
                )
            if isinstance(spec, ExperimentSpec):
                root = None if json_body else yaml.compose(spec_text, yaml.SafeLoader)
                _raise_problems(_store_problems(conn, spec), source, root)
            kind = HOLDOUT if isinstance(spec, GlobalHoldout) else spec.kind
            layer = (
                spec.layer.name
                if isinstance(spec, ExperimentSpec) and spec.layer
                else None
            )
            key = conn.execute(
                insert(EXPERIMENTS).values(
                    name=name,
                    kind=kind,
                    layer=layer,
                    spec=spec_text,
                    spec_sha256=_sha(spec_text),
                    status="draft",
                    created_at=at.replace(tzinfo=dt.UTC),
                    created_by=actor,
                )
            ).inserted_primary_key
            assert key is not None
            _audit(
                conn, int(key[0]), "create", at, actor, {"spec_sha256": _sha(spec_text)}
            )
    except IntegrityError:  # a concurrent create of the same name won
        raise ExperimentStateError(
            f"experiment {name!r} already exists; expected a new name"
        ) from None
    return get_experiment(engine, name)


def get_experiment(engine: Engine, name: str) -> ExperimentRecord:
    """One stored experiment.

    Raises
    ------
    UnknownExperimentError
    """
    with read(engine) as conn:
        return _record(_row(conn, name))


def list_experiments(
    engine: Engine, *, status: str | None = None
) -> list[ExperimentRecord]:
    """Stored experiments in creation order (of one ``status`` if given)."""
    stmt = select(EXPERIMENTS).order_by(EXPERIMENTS.c.id)
    if status is not None:
        if status not in ("draft", "running", "stopped"):
            raise DataValidationError(
                f"status: expected draft, running or stopped, got {status!r}"
            )
        stmt = stmt.where(EXPERIMENTS.c.status == status)
    with read(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    return [_record(r) for r in rows]


def experiment_changes(engine: Engine, name: str) -> list[ExperimentChangeRecord]:
    """The audit of one experiment, oldest first."""
    with read(engine) as conn:
        exp_id = int(_row(conn, name)["id"])
        rows = conn.execute(
            select(CHANGES)
            .where(CHANGES.c.experiment_id == exp_id)
            .order_by(CHANGES.c.id)
        ).mappings()
        return [
            ExperimentChangeRecord(
                int(r["id"]),
                name,
                r["at"],
                r["actor"],
                str(r["action"]),
                json.loads(r["detail"]) if r["detail"] else {},
            )
            for r in rows
        ]


def _lock_starts(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})


def start_experiment(
    engine: Engine,
    name: str,
    *,
    actor: str | None = None,
    now: dt.datetime | None = None,
    note: str | None = None,
) -> ExperimentRecord:
    """Start a draft: checked against the running experiments, audited
    (with ``note``, if given).

    Raises
    ------
    UnknownExperimentError
    ExperimentStateError
        Not a draft, already ended, its layer slots or salt clash with a
        running experiment, or another global holdout is running.
    """
    at = _naive_utc(now)
    with write(engine) as conn:
        _lock_starts(conn)
        rec = _record(_row(conn, name, lock=True))
        if rec.status != "draft":
            again = (
                "; a stopped experiment stays stopped: create a new one with a new salt"
                if rec.status == "stopped"
                else ""
            )
            raise ExperimentStateError(
                f"experiment {name!r} is {rec.status}; expected a draft to start{again}"
            )
        others = [
            _record(r)
            for r in conn.execute(
                select(EXPERIMENTS).where(
                    EXPERIMENTS.c.status == "running", EXPERIMENTS.c.name != name
                )
            ).mappings()
        ]
        spec = rec.spec
        if isinstance(spec, GlobalHoldout):
            held = [o.name for o in others if o.is_holdout]
            if held:
                raise ExperimentStateError(
                    f"global holdout {held[0]!r} is running; stop it before starting "
                    f"{name!r} (one global holdout at a time)"
                )
        else:
            if spec.end is not None and spec.end <= at.date():
                raise ExperimentStateError(
                    f"experiment {name!r} ended on {spec.end} (its end date); expected "
                    f"an end after today ({at.date()})"
                )
            running = [o.spec for o in others if isinstance(o.spec, ExperimentSpec)]
            try:
                check_layers([*running, spec])
            except ExperimentSpecError as exc:
                raise ExperimentStateError(
                    f"cannot start experiment {name!r}: {exc}"
                ) from None
        conn.execute(
            update(EXPERIMENTS)
            .where(EXPERIMENTS.c.id == rec.id)
            .values(status="running", started_at=at)
        )
        _audit(conn, rec.id, "start", at, actor, {"note": note} if note else {})
    return get_experiment(engine, name)


def stop_experiment(
    engine: Engine,
    name: str,
    *,
    reason: str,
    actor: str | None = None,
    now: dt.datetime | None = None,
) -> ExperimentRecord:
    """Stop a running (or draft) experiment for ``reason``; audited.

    Raises
    ------
    UnknownExperimentError
    ExperimentStateError
        Already stopped.
    DataValidationError
        An empty reason.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise DataValidationError(
            f"reason: expected a non-empty text saying why, got {reason!r}"
        )
    at = _naive_utc(now)
    with write(engine) as conn:
        row = _row(conn, name, lock=True)
        if row["status"] == "stopped":
            raise ExperimentStateError(
                f"experiment {name!r} was stopped already at {row['stopped_at']} "
                f"({row['stop_reason']}); expected a draft or running experiment"
            )
        conn.execute(
            update(EXPERIMENTS)
            .where(EXPERIMENTS.c.id == row["id"])
            .values(status="stopped", stopped_at=at, stop_reason=reason.strip())
        )
        _audit(
            conn,
            int(row["id"]),
            "stop",
            at,
            actor,
            {"reason": reason.strip(), "was": row["status"]},
        )
    return get_experiment(engine, name)


_TRAFFIC_LINE = re.compile(r"^traffic:[ \t]*([^#\n]*?)([ \t]+#[^\n]*)?$", re.M)


def _with_traffic(spec_text: str, traffic: float) -> str:
    """The spec text with ``traffic`` replaced, comments kept where possible."""
    value = f"{traffic:g}"
    if spec_text.lstrip().startswith("{"):
        data = json.loads(spec_text)
        data["traffic"] = traffic
        return json.dumps(data, indent=2)
    found = _TRAFFIC_LINE.findall(spec_text)
    if len(found) == 1:
        return _TRAFFIC_LINE.sub(
            lambda m: f"traffic: {value}{m.group(2) or ''}", spec_text
        )
    if not found:
        return spec_text.rstrip("\n") + f"\ntraffic: {value}\n"
    data = yaml.safe_load(spec_text)
    data["traffic"] = traffic
    return yaml.safe_dump(data, sort_keys=False)


def ramp_experiment(
    engine: Engine,
    name: str,
    traffic: float,
    *,
    actor: str | None = None,
    now: dt.datetime | None = None,
) -> ExperimentRecord:
    """Raise an experiment's traffic: a new spec, checked to move nobody.

    Every bucket of 10,000 is compared through the assignment code
    (:func:`~nbo_engine.experiments.assignment.variant_table`): a unit enrolled
    before keeps its variant. The previous spec text is kept in the audit row.

    Raises
    ------
    UnknownExperimentError
    ExperimentStateError
        A global holdout, a stopped experiment, or a ramp that would move or
        un-enrol someone.
    DataValidationError
        ``traffic`` not above the current value or above 1.
    """
    at = _naive_utc(now)
    with write(engine) as conn:
        rec = _record(_row(conn, name, lock=True))
        old = rec.spec
        if not isinstance(old, ExperimentSpec):
            raise ExperimentStateError(
                f"experiment {name!r} is the global holdout; it has no traffic to ramp"
            )
        if rec.status == "stopped":
            raise ExperimentStateError(
                f"experiment {name!r} is stopped; expected a draft or running one"
            )
        if (
            isinstance(traffic, bool)
            or not isinstance(traffic, int | float)
            or not math.isfinite(traffic)
            or not old.traffic < traffic <= 1.0
        ):
            raise DataValidationError(
                f"traffic: expected more than the current {old.traffic:g} and at most "
                f"1 (lowering it would un-enrol customers), got {traffic!r}"
            )
        new_text = _with_traffic(rec.spec_text, float(traffic))
        _, new = parse_spec_text(new_text, f"experiment {name} ramped")
        if (
            not isinstance(new, ExperimentSpec)
            or new.model_copy(update={"traffic": old.traffic}) != old
        ):
            raise ExperimentStateError(
                f"experiment {name!r}: could not rewrite traffic alone in the stored "
                "spec; create a new experiment instead"
            )
        before, after = variant_table(old), variant_table(new)
        moved = int(((before >= 0) & (after != before)).sum())
        if moved:
            raise ExperimentStateError(
                f"experiment {name!r}: traffic {old.traffic:g} -> {traffic:g} would "
                f"move or un-enrol the units of {moved} bucket(s); expected none"
            )
        conn.execute(
            update(EXPERIMENTS)
            .where(EXPERIMENTS.c.id == rec.id)
            .values(spec=new_text, spec_sha256=_sha(new_text))
        )
        _audit(
            conn,
            rec.id,
            "ramp",
            at,
            actor,
            {
                "traffic_from": old.traffic,
                "traffic_to": float(traffic),
                "spec_sha256": _sha(new_text),
                "previous_spec_sha256": rec.spec_sha256,
                "previous_spec": rec.spec_text,
            },
        )
    return get_experiment(engine, name)


def running_experiments(engine: Engine, today: dt.date | None = None) -> Running:
    """The running experiments (those active on ``today`` if given) and the
    running global holdout, with the change stamp they were read at.

    A stored spec that no longer validates (say, after an upgrade tightened a
    rule) is left out and named in ``problems`` rather than failing every
    decision."""
    with read(engine) as conn:
        stamp = conn.execute(select(func.max(CHANGES.c.id))).scalar_one()
        rows = conn.execute(
            select(EXPERIMENTS)
            .where(EXPERIMENTS.c.status == "running")
            .order_by(EXPERIMENTS.c.id)
        ).mappings()
        specs: list[ExperimentSpec | GlobalHoldout] = []
        problems: list[str] = []
        for r in rows:
            try:
                specs.append(_record(r).spec)
            except ExperimentSpecError as exc:
                problems.append(f"experiment {r['name']!r} left out: {exc}")
    exps = tuple(
        s
        for s in specs
        if isinstance(s, ExperimentSpec) and (today is None or s.is_active(today))
    )
    holdout = next((s for s in specs if isinstance(s, GlobalHoldout)), None)
    return Running(
        exps, holdout, None if stamp is None else int(stamp), tuple(problems)
    )


def read_experiment_stamp(
    engine: Engine, version_ids: Sequence[int] = ()
) -> tuple[int | None, tuple[tuple[int, int], ...]]:
    """``(newest change id, ((version id, newest bandit state id), ...))``: equal
    stamps mean no experiment changed and no treatment version learned."""
    with read(engine) as conn:
        stamp = conn.execute(select(func.max(CHANGES.c.id))).scalar_one()
        states: list[tuple[int, int]] = []
        if version_ids:
            states = [
                (int(v), int(s))
                for v, s in conn.execute(
                    select(STATES.c.policy_version_id, func.max(STATES.c.id))
                    .where(STATES.c.policy_version_id.in_(sorted(set(version_ids))))
                    .group_by(STATES.c.policy_version_id)
                ).all()
            ]
    return (None if stamp is None else int(stamp)), tuple(sorted(states))


# ------------------------------------------------------------------ readout sums


@dataclass(frozen=True)
class VariantSums:
    """Per-variant ``n`` and sums of products of per-unit columns.

    ``frame`` has one row per variant seen (index ``variant``), column ``n``
    and one column per term named ``a*b``; ``mixed_units`` counts customers
    logged under more than one variant (left out: assignment never does that,
    so any such unit is a bug to investigate).
    """

    frame: pd.DataFrame
    mixed_units: int


def _open_on(cid: Any, day: Any) -> Any:
    a = ACCOUNTS
    return exists(
        select(1).where(
            a.c.customer_id == cid,
            a.c.open_date <= day,
            or_(a.c.close_date.is_(None), a.c.close_date > day),
        )
    )


def _unit_columns(needed: set[str]) -> tuple[Any, dict[str, Any]]:
    """The units subquery (one row per customer) and the per-unit column
    expressions in ``needed``.

    One pass over the experiment's decisions, left-joined to their events,
    gives each unit's variant, first exposure and event outcomes; everything
    else is a correlated subquery on an indexed ``customer_id``. No join
    between grouped subqueries: the plan stays linear in the units whatever
    the planner's row estimates (a fresh, unanalysed PostgreSQL table made a
    join plan quadratic).
    """
    d, e = DECISIONS, EVENTS
    name = bindparam("name", type_=String)
    until = bindparam("until", type_=DateTime)
    pre_start = bindparam("pre_start", type_=DateTime)
    pre_end = bindparam("pre_end", type_=DateTime)
    as_of_day = bindparam("as_of_day", type_=Date)
    pre_start_day = bindparam("pre_start_day", type_=Date)
    pre_end_day = bindparam("pre_end_day", type_=Date)
    in_exp = and_(d.c.experiment == name, d.c.mode == "live", d.c.ts < until)
    pos = e.c.type.in_(_POSITIVE)

    def agg(k: str) -> Any:
        """The aggregate of event outcome ``k`` over ``offer_events`` rows."""
        if k == "conversion":
            return func.max(case((pos, 1), else_=0))
        if k == "value":
            return func.sum(case((pos, func.coalesce(e.c.value, 0.0)), else_=0.0))
        kind = "click" if k == "clicks" else "impression"
        return func.sum(case((e.c.type == kind, 1), else_=0))

    event_aggs = ("conversion", "value", "clicks", "impressions")
    during = [k for k in event_aggs if k in needed]
    u_ = (
        select(
            d.c.customer_id.label("cid"),
            func.min(d.c.variant).label("variant"),
            func.max(d.c.variant).label("variant_max"),
            func.min(d.c.ts).label("first_ts"),
            func.count(func.distinct(d.c.decision_id)).label("decisions"),
            *[agg(k).label(k) for k in during],
        )
        .select_from(
            d.outerjoin(e, and_(e.c.decision_id == d.c.decision_id, e.c.ts < until))
        )
        .where(in_exp)
        .group_by(d.c.customer_id)
        .subquery("u")
    )
    cid = u_.c.cid
    cols: dict[str, Any] = {"decisions": u_.c.decisions}
    cols.update({k: u_.c[k] for k in during})
    for k in event_aggs:  # the customer's events in the pre-period, any decision
        if f"pre_{k}" in needed:
            cols[f"pre_{k}"] = func.coalesce(
                select(agg(k))
                .where(e.c.customer_id == cid, e.c.ts >= pre_start, e.c.ts < pre_end)
                .scalar_subquery(),
                0,
            )
    d2 = DECISIONS.alias("d2")
    first_day = func.date(u_.c.first_ts)
    i, a = INTERACTIONS, ACCOUNTS
    complaint = and_(i.c.customer_id == cid, i.c.complaint.is_(True))
    correlated = {
        "offers_shown": select(func.count())
        .select_from(d2.join(CHOSEN, CHOSEN.c.decision_id == d2.c.decision_id))
        .where(
            d2.c.customer_id == cid,
            d2.c.experiment == name,
            d2.c.mode == "live",
            d2.c.ts < until,
        ),
        "complaints": select(func.count()).where(
            complaint, i.c.timestamp >= u_.c.first_ts, i.c.timestamp < until
        ),
        "pre_complaints": select(func.count()).where(
            complaint, i.c.timestamp >= pre_start, i.c.timestamp < pre_end
        ),
        "new_accounts": select(func.count()).where(
            a.c.customer_id == cid,
            a.c.open_date >= first_day,
            a.c.open_date < as_of_day,
        ),
        "pre_new_accounts": select(func.count()).where(
            a.c.customer_id == cid,
            a.c.open_date >= pre_start_day,
            a.c.open_date < pre_end_day,
        ),
    }
    for k, stmt in correlated.items():
        if k in needed:
            cols[k] = stmt.scalar_subquery()
    if "churn" in needed:
        cols["churn"] = case(
            (and_(_open_on(cid, first_day), ~_open_on(cid, as_of_day)), 1), else_=0
        )
    if "has_pre" in needed or any(c.startswith("pre_") for c in needed):
        joined = exists(
            select(1).where(
                CUSTOMERS.c.customer_id == cid, CUSTOMERS.c.join_date <= pre_start_day
            )
        )
        cols["has_pre"] = case((joined, 1), else_=0)
        # new to bank: no pre-period, so the covariate is 0 (missing indicator)
        for k in [c for c in cols if c.startswith("pre_")]:
            cols[k] = case((joined, cols[k]), else_=0)
    return u_, cols


def variant_sums(
    engine: Engine,
    experiment: str,
    terms: Sequence[tuple[str, ...]],
    *,
    until: dt.datetime,
    pre_start: dt.datetime,
    pre_end: dt.datetime,
) -> VariantSums:
    """Per-variant sufficient statistics of an experiment, aggregated in SQL.

    Parameters
    ----------
    experiment : the experiment name logged in ``decisions.experiment``.
    terms : products of per-unit columns to sum, e.g. ``("value",)``,
        ``("value", "value")``, ``("pre_value", "value")``. Columns: the
        :data:`OUTCOMES`, ``pre_<outcome>`` for outcomes with a pre-period
        (0 for customers without one) and ``has_pre`` (1 if the customer
        joined before ``pre_start``).
    until : live decisions and events before this time (naive UTC) count.
    pre_start, pre_end : the pre-period window.

    Returns
    -------
    VariantSums
    """
    needed = {c for t in terms for c in t}
    allowed = {
        *OUTCOMES,
        "has_pre",
        *(f"pre_{k}" for k, o in OUTCOMES.items() if o.pre_period),
    }
    unknown = sorted(needed - allowed)
    if unknown:
        raise DataValidationError(
            f"terms: unknown per-unit column(s) {', '.join(unknown)}; expected "
            f"{', '.join(sorted(allowed))}"
        )
    u_, cols = _unit_columns(needed)
    # units logged under two variants fall in the NULL group (counted, left out)
    one = case((u_.c.variant == u_.c.variant_max, u_.c.variant))
    per_unit = (
        select(
            one.label("variant"),
            *[cast(cols[c], Float).label(c) for c in sorted(needed)],
        )
        .select_from(u_)
        .subquery("per_unit")
    )
    aggs = [func.count().label("n")]
    for t in terms:
        prod: Any = literal(1.0)
        for c in t:
            prod = prod * per_unit.c[c]
        aggs.append(func.coalesce(func.sum(prod), 0.0).label("*".join(t)))
    stmt = select(per_unit.c.variant, *aggs).group_by(per_unit.c.variant)
    until_n = _naive_utc(until)
    start_n, end_n = _naive_utc(pre_start), _naive_utc(pre_end)
    params = {
        "name": experiment,
        "until": until_n,
        "pre_start": start_n,
        "pre_end": end_n,
        "as_of_day": until_n.date(),
        "pre_start_day": start_n.date(),
        "pre_end_day": end_n.date(),
    }
    with read(engine) as conn:
        rows = conn.execute(stmt, params).mappings().all()
    names = ["n", *("*".join(t) for t in terms)]
    mixed = sum(int(r["n"]) for r in rows if r["variant"] is None)
    rows = [r for r in rows if r["variant"] is not None]
    frame = pd.DataFrame(
        {k: np.array([float(r[k]) for r in rows], dtype=np.float64) for k in names},
        index=pd.Index([str(r["variant"]) for r in rows], name="variant"),
    )
    return VariantSums(frame, mixed)

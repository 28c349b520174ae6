"""``/v1/experiments``: define, list, start and stop experiments; read results.

Campaign managers (and admins) create, start and stop; analysts may read. A
definition is the experiment YAML of ``docs/experiments.md`` (or the same as
JSON), sent as the request body and stored as sent. Validation errors answer
422 with every problem's field in ``fields`` (``variants[1].weight``) and the
full lines, with their line numbers, in ``details.problems``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, RootModel
from starlette.concurrency import run_in_threadpool

from nbo_engine.api.problems import ApiError, error_responses
from nbo_engine.api.schemas import FieldError
from nbo_engine.api.state import State
from nbo_engine.errors import (
    DataValidationError,
    ExperimentSpecError,
    ExperimentStateError,
    NboError,
    UnknownExperimentError,
)
from nbo_engine.experiments import ExperimentSpec
from nbo_engine.jobs.experiments import Results, experiment_results_detail
from nbo_engine.store import experiments as store

__all__ = ["router"]

router = APIRouter(tags=["experiments"])

MAX_SPEC_BYTES = 256 * 1024
T = TypeVar("T")
Name = Annotated[
    str, Path(min_length=1, max_length=64, description="The experiment's name.")
]

# ------------------------------------------------------------------ bodies


class ChangeOut(BaseModel):
    """One audited change of an experiment."""

    at: dt.datetime
    actor: str | None
    action: str = Field(examples=["start"])
    detail: dict[str, Any] = Field(default_factory=dict)


class ExperimentOut(BaseModel):
    """A stored experiment: its status and its spec (as parsed, and as sent)."""

    name: str = Field(examples=["savings-message-q3"])
    kind: str = Field(
        examples=["message"], description="offer, message, policy, holdout"
    )
    status: Literal["draft", "running", "stopped"]
    layer: str | None = None
    created_at: dt.datetime
    created_by: str | None = None
    started_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    stop_reason: str | None = None
    spec_sha256: str
    spec: dict[str, Any] = Field(description="The validated definition.")
    spec_text: str = Field(description="The definition exactly as submitted.")


class ExperimentSummary(BaseModel):
    """One line of the list."""

    name: str
    kind: str
    status: Literal["draft", "running", "stopped"]
    layer: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    traffic: float | None = None
    variants: list[str] = Field(default_factory=list)
    started_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None


class ExperimentList(BaseModel):
    experiments: list[ExperimentSummary]


class PrimaryResult(BaseModel):
    """A challenger variant on the primary metric (fixed-horizon and
    always-valid p-values; ``relative`` is the lift over control)."""

    variant: str
    metric: str
    n_control: int
    n_variant: int
    mean_control: float
    mean_variant: float
    absolute: float
    absolute_ci: tuple[float, float]
    relative: float
    relative_ci: tuple[float, float]
    p_value: float
    p_value_adjusted: float
    sequential_p_value: float
    prob_beat_control: float | None = None
    significant: bool
    direction: Literal["better", "worse", "flat"]


class ReadoutSummary(BaseModel):
    """The headline of ``nbo experiment results``."""

    as_of: dt.datetime
    decision: str = Field(examples=["keep_running"])
    reason: str
    best_variant: str | None = None
    units: dict[str, int]
    progress: float | None = None
    srm_p_value: float
    srm_mismatch: bool
    primary: list[PrimaryResult]


class ExperimentDetail(ExperimentOut):
    """An experiment with its audit and, once started, its readout summary."""

    changes: list[ChangeOut] = Field(default_factory=list)
    readout: ReadoutSummary | None = Field(
        default=None,
        description="Null for a draft and the global holdout, or when the readout "
        "failed (see readout_error).",
    )
    readout_error: str | None = None


_EXAMPLE: dict[str, Any] = {
    "name": "cashback-card-q3",
    "kind": "offer",
    "start": "2026-07-01",
    "traffic": 0.5,
    "variants": [
        {"name": "holdout", "weight": 0.2, "control": True, "treatment": None},
        {"name": "cashback", "weight": 0.4, "treatment": "cc_cashback"},
        {"name": "travel", "weight": 0.4, "treatment": "cc_premium_travel"},
    ],
    "metrics": {
        "primary": "conversion",
        "secondary": ["value"],
        "guardrails": ["churn", "complaints"],
    },
}


class ExperimentDefinition(RootModel[dict[str, Any] | str]):
    """An experiment definition (``docs/experiments.md``): a JSON object, or
    the YAML text with ``Content-Type: application/yaml``. Validated by the
    engine, which names every invalid field."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})


class StartRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"note": "approved by pricing committee"}]},
    )

    note: str | None = Field(
        default=None, max_length=2000, description="Kept in the audit (optional)."
    )


_NO_NOTE = StartRequest()


class StopRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"reason": "guardrail: complaints up 8%"}]},
    )

    reason: str = Field(
        min_length=1, max_length=2000, description="Why (kept in the audit)."
    )


# ------------------------------------------------------------------ helpers

_LINE = re.compile(
    r"^(?P<src>\S+?)(?::(?P<line>\d+))?(?: (?P<path>[A-Za-z_][\w.-]*|\(top level\)))?: "
    r"(?P<msg>.*)$"
)
_GOT = re.compile(r"[,;]?\s*\(?got .*$")


def _api_path(path: str) -> str:
    out = ""
    for part in path.split("."):
        if part.isdigit():
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _spec_fields(exc: ExperimentSpecError) -> list[FieldError]:
    fields = []
    for line in str(exc).splitlines():
        m = _LINE.match(line)
        path = m.group("path") if m else None
        msg = m.group("msg") if m else line
        fields.append(
            FieldError(
                field=_api_path(path) if path and path != "(top level)" else "(body)",
                location="body",
                # values sent are never echoed in fields (details has the lines)
                message=_GOT.sub("", msg).strip() or msg,
                type="value_error",
            )
        )
    return fields


@contextmanager
def _answers() -> Iterator[None]:
    """Engine errors of this router as HTTP answers."""
    try:
        yield
    except ExperimentSpecError as exc:
        fields = _spec_fields(exc)
        n = len(fields)
        names = ", ".join(dict.fromkeys(f.field for f in fields))
        raise ApiError(
            422,
            "validation_error",
            f"{n} invalid field{'s' if n != 1 else ''}: {names}",
            fields=fields,
            details={"problems": str(exc).splitlines()},
        ) from None
    except UnknownExperimentError as exc:
        raise ApiError(404, "unknown_experiment", str(exc)) from None
    except ExperimentStateError as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except DataValidationError as exc:
        raise ApiError(422, "invalid_input", str(exc)) from None


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with _answers():
        return await run_in_threadpool(fn, *args, **kwargs)


def _actor(request: Request) -> str | None:
    key = getattr(request.state, "api_key", None)
    return None if key is None else f"{key.name} (key {key.prefix})"


def _out(rec: store.ExperimentRecord) -> dict[str, Any]:
    return {
        "name": rec.name,
        "kind": rec.kind,
        "status": rec.status,
        "layer": rec.layer,
        "created_at": rec.created_at,
        "created_by": rec.created_by,
        "started_at": rec.started_at,
        "stopped_at": rec.stopped_at,
        "stop_reason": rec.stop_reason,
        "spec_sha256": rec.spec_sha256,
        "spec": rec.spec.model_dump(mode="json"),
        "spec_text": rec.spec_text,
    }


def _summary(res: Results) -> ReadoutSummary:
    r = res.readout
    cells = [
        PrimaryResult(
            variant=c.variant,
            metric=c.metric,
            n_control=c.n_control,
            n_variant=c.n_variant,
            mean_control=c.mean_control,
            mean_variant=c.mean_variant,
            absolute=c.absolute.estimate,
            absolute_ci=(c.absolute.ci_low, c.absolute.ci_high),
            relative=c.relative.estimate,
            relative_ci=(c.relative.ci_low, c.relative.ci_high),
            p_value=c.absolute.p_value,
            p_value_adjusted=c.p_value_adjusted,
            sequential_p_value=c.sequential.p_value_adjusted,
            prob_beat_control=c.bayes.get("prob_beat_control"),
            significant=c.significant,
            direction=c.direction,
        )
        for c in r.metrics
        if c.role == "primary"
    ]
    return ReadoutSummary(
        as_of=res.stats.as_of,
        decision=r.decision,
        reason=r.reason,
        best_variant=r.best_variant,
        units=dict(zip(r.variants, r.units, strict=True)),
        progress=r.progress,
        srm_p_value=r.srm.p_value,
        srm_mismatch=r.srm.mismatch,
        primary=cells,
    )


# ------------------------------------------------------------------ routes


@router.post(
    "/v1/experiments",
    response_model=ExperimentOut,
    status_code=201,
    summary="Define an experiment (or the global holdout) as a draft",
    description=(
        "The body is the experiment definition in YAML (`application/yaml`) or "
        "JSON (`application/json`), as in `docs/experiments.md`; it is validated "
        "and stored exactly as sent. A global holdout is a definition with "
        "`share` and `salt` (optional `name`). 422 names every invalid field; "
        "409 if the name exists.\n\nRoles: campaign_manager, admin."
    ),
    responses=error_responses(401, 403, 409, 413, 422, 429),
    openapi_extra={
        "requestBody": {
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def create_experiment(
    definition: Annotated[ExperimentDefinition, Body()],
    request: Request,
    state: State,
) -> dict[str, Any]:
    del definition  # documents the body; the text is read as sent, below
    raw = await request.body()
    if len(raw) > MAX_SPEC_BYTES:
        raise ApiError(
            413,
            "payload_too_large",
            f"experiment definition of {len(raw):,} bytes; expected at most "
            f"{MAX_SPEC_BYTES:,}",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(
            422, "invalid_input", "body: expected UTF-8 text (YAML or JSON)"
        ) from None
    if not text.strip():
        raise ApiError(
            422,
            "validation_error",
            "1 invalid field: (body)",
            fields=[
                FieldError(
                    field="(body)",
                    location="body",
                    message="expected an experiment definition, got an empty body",
                    type="missing",
                )
            ],
        )
    json_body = "json" in request.headers.get("content-type", "")
    rec = await _call(
        store.create_experiment,
        state.engine,
        text,
        source="body",
        json_body=json_body,
        actor=_actor(request),
        now=state.clock(),
    )
    return _out(rec)


@router.get(
    "/v1/experiments",
    response_model=ExperimentList,
    summary="List experiments",
    description="In creation order.\n\nRoles: analyst, campaign_manager, admin.",
    responses=error_responses(401, 403, 422, 429),
)
async def list_experiments(
    state: State,
    status: Annotated[
        Literal["draft", "running", "stopped"] | None,
        Query(description="Only experiments in this status."),
    ] = None,
) -> ExperimentList:
    records = await _call(store.list_experiments, state.engine, status=status)
    out = []
    for rec in records:
        spec = rec.spec
        exp = spec if isinstance(spec, ExperimentSpec) else None
        out.append(
            ExperimentSummary(
                name=rec.name,
                kind=rec.kind,
                status=rec.status,  # type: ignore[arg-type]
                layer=rec.layer,
                start=exp.start if exp else None,
                end=exp.end if exp else None,
                traffic=exp.traffic if exp else None,
                variants=list(exp.variant_names) if exp else [],
                started_at=rec.started_at,
                stopped_at=rec.stopped_at,
            )
        )
    return ExperimentList(experiments=out)


@router.get(
    "/v1/experiments/{name}",
    response_model=ExperimentDetail,
    summary="An experiment: status, definition, audit and readout",
    description=(
        "With the audit of every change and, for a started experiment, the "
        "readout summary computed now from the decision log (`nbo experiment "
        "results NAME` prints the full readout).\n\nRoles: analyst, "
        "campaign_manager, admin."
    ),
    responses=error_responses(401, 403, 404, 429),
)
async def get_experiment(name: Name, state: State) -> dict[str, Any]:
    rec = await _call(store.get_experiment, state.engine, name)
    changes = await _call(store.experiment_changes, state.engine, name)
    out: dict[str, Any] = {
        **_out(rec),
        "changes": [
            ChangeOut(at=c.at, actor=c.actor, action=c.action, detail=c.detail)
            for c in changes
        ],
    }
    if rec.status != "draft" and not rec.is_holdout:
        as_of = rec.stopped_at or state.clock()
        try:
            res = await run_in_threadpool(
                experiment_results_detail, state.engine, name, as_of=as_of
            )
            out["readout"] = _summary(res)
        except NboError as exc:
            out["readout_error"] = str(exc)
    return out


@router.post(
    "/v1/experiments/{name}/start",
    response_model=ExperimentOut,
    summary="Start a draft experiment",
    description=(
        "Deciders pick it up at their next refresh (about a second). 409 if it "
        "is not a draft, its layer slots or salt clash with a running "
        "experiment, or (for a global holdout) another holdout runs.\n\n"
        "Roles: campaign_manager, admin."
    ),
    responses=error_responses(401, 403, 404, 409, 429),
)
async def start_experiment(
    name: Name,
    request: Request,
    state: State,
    body: Annotated[StartRequest, Body()] = _NO_NOTE,
) -> dict[str, Any]:
    rec = await _call(
        store.start_experiment,
        state.engine,
        name,
        actor=_actor(request),
        now=state.clock(),
        note=body.note,
    )
    return _out(rec)


@router.post(
    "/v1/experiments/{name}/stop",
    response_model=ExperimentOut,
    summary="Stop an experiment, saying why",
    description=(
        "Stopped is final: its customers return to the default policy at the "
        "deciders' next refresh; its readout stays available.\n\nRoles: "
        "campaign_manager, admin."
    ),
    responses=error_responses(401, 403, 404, 409, 422, 429),
)
async def stop_experiment(
    name: Name, body: StopRequest, request: Request, state: State
) -> dict[str, Any]:
    rec = await _call(
        store.stop_experiment,
        state.engine,
        name,
        reason=body.reason,
        actor=_actor(request),
        now=state.clock(),
    )
    return _out(rec)

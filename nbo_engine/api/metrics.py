"""Prometheus metrics of the API.

Multi-process: ``nbo serve`` runs several uvicorn workers, each its own process
with its own counters. When ``PROMETHEUS_MULTIPROC_DIR`` is set before this
module (and so ``prometheus_client``) is first imported, every worker writes its
values to memory-mapped files in that directory and ``/metrics`` sums them over
all workers (``MultiProcessCollector``), whichever worker answers the scrape.
``nbo serve`` sets it to a fresh directory when it starts more than one worker.
Without it (one process, tests) the default registry is used.

Labels are bounded: ``route`` is the route template, never a raw path;
``channel`` is one of the contact channels (anything else is counted as
``other``), and every channel's decision series exists from start-up at 0, so
a per-channel rate has a series before the channel's first decision.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _mp

from nbo_engine.ingest.schemas import CONTACT_CHANNELS

__all__ = [
    "CHANNELS",
    "CONTENT_TYPE",
    "DECISIONS",
    "DECISION_BATCH",
    "DECISION_LATENCY",
    "ERRORS",
    "EVENTS",
    "EVENT_BATCH",
    "MULTIPROCESS",
    "REQUESTS",
    "REQUEST_LATENCY",
    "channel_label",
    "observe_decision",
    "render",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: The values of the ``channel`` label (plus ``other``): bounded.
CHANNELS: tuple[str, ...] = (*CONTACT_CHANNELS, "other")
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# Fine buckets below 25 ms: the latency target is p99 < 25 ms.
_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

REQUESTS = Counter(
    "nbo_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
ERRORS = Counter(
    "nbo_http_errors",
    "HTTP answers with status >= 400, by route template and status.",
    ["route", "status"],
)
REQUEST_LATENCY = Histogram(
    "nbo_http_request_duration_seconds",
    "Time from request to response, by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
DECISIONS = Counter(
    "nbo_decisions",
    "Decisions served by POST /v1/offers, by channel.",
    ["channel"],
)
DECISION_LATENCY = Histogram(
    "nbo_decision_latency_seconds",
    "Time spent deciding (profile, rules, bandit, logging) per decision, by channel.",
    ["channel"],
    buckets=_LATENCY_BUCKETS,
)
DECISION_BATCH = Histogram(
    "nbo_decision_batch_size",
    "Requests decided together in one transaction by the offer API's "
    "micro-batcher (1 when requests arrive one at a time).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
EVENT_BATCH = Histogram(
    "nbo_event_batch_size",
    "Requests to POST /v1/events stored together in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
EVENTS = Counter(
    "nbo_events",
    "Outcome events received by POST /v1/events, by type and outcome "
    "(inserted, duplicate).",
    ["type", "outcome"],
)


for _channel in CHANNELS:  # every series present (at 0) from start-up
    DECISIONS.labels(_channel)
    DECISION_LATENCY.labels(_channel)


def channel_label(channel: str) -> str:
    """``channel`` if it is a contact channel, else ``other`` (bounded labels)."""
    return channel if channel in CONTACT_CHANNELS else "other"


def observe_decision(channel: str, seconds: float) -> None:
    """Count one decision served on ``channel`` and its latency."""
    label = channel_label(channel)
    DECISION_LATENCY.labels(label).observe(seconds)
    DECISIONS.labels(label).inc()


def render() -> bytes:
    """The exposition text of every metric (summed over workers if multi-process)."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        _mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)

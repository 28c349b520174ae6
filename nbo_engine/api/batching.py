"""Micro-batching of ``POST /v1/offers`` and ``POST /v1/events``: one
transaction per batch of requests.

A decision must be logged before it is answered, and its contact caps must
count every earlier contact, so each decision reads the customer's history
and writes its row under the customer's lock in one transaction. One
transaction per request pays a commit per request: on PostgreSQL a WAL flush
(about 2.5 ms here) plus five statement round trips, which held a worker to a
few hundred decisions a second.

The batcher keeps the exactness and pays the commit once per batch. Each
request is queued with a future; one task per process drains the queue:
it takes everything waiting (up to ``max_batch``), runs
:meth:`~nbo_engine.decisioning.Decider.decide_many` on it in the process's
decision thread (one transaction: lock the customers in key order, read
every profile and history in a statement each, decide, insert, commit), and
resolves each future with its own answer or its own error. Requests that
arrive while a batch is deciding wait for the next one, so the batch size
adapts to the load: alone, a request is decided at once (a batch of one);
under load, batches grow and the commit is shared. There is no timer and no
deliberate wait.

Events are batched the same way (:class:`EventBatcher`): one idempotent
insert for the events of every request waiting, each request answered as if
stored alone.

The batch's decision time is read from the app's clock once, when it
starts; every decision of the batch is stamped with it. A request whose
client went away before its batch started is dropped undecided (nothing was
served, so nothing is logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from nbo_engine.api import metrics
from nbo_engine.api.deciding import DeciderHolder
from nbo_engine.decisioning.decide import DecisionRequest, DecisionResult
from nbo_engine.store import Engine
from nbo_engine.store.events import (
    MAX_BATCH,
    EventBatchResult,
    EventIn,
    record_events,
    split_result,
)

__all__ = ["DecisionBatcher", "EventBatcher", "MicroBatcher"]

Req = TypeVar("Req")
Res = TypeVar("Res")


class MicroBatcher(Generic[Req, Res]):
    """Queues requests and runs them in batches in one thread (the module).

    ``run(requests)`` answers a batch, in order, each with its result or the
    exception that request alone raised; if ``run`` itself raises, every
    request of the batch gets that error.
    """

    def __init__(
        self,
        run: Callable[[list[Req]], Sequence[Res | Exception]],
        *,
        max_batch: int = 64,
        name: str = "nbo-batch",
        observe: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch: expected >= 1, got {max_batch}")
        self._run = run
        self._max = max_batch
        self._observe = observe
        self._queue: deque[tuple[Req, asyncio.Future[Res]]] = deque()
        self._drainer: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)

    async def submit(self, request: Req) -> Res:
        """Answer one request (in the next batch); raises its own error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        self._queue.append((request, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch: list[tuple[Req, asyncio.Future[Res]]] = []
            while self._queue and len(batch) < self._max:
                item = self._queue.popleft()
                if not item[1].done():  # its client is still waiting
                    batch.append(item)
            if not batch:
                continue
            if self._observe is not None:
                self._observe(len(batch))
            requests = [r for r, _ in batch]
            try:
                answers: Sequence[Res | Exception] = await loop.run_in_executor(
                    self._executor, self._run, requests
                )
            except Exception as exc:  # e.g. no decider, or the store is down
                answers = [exc] * len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    async def close(self) -> None:
        """Finish the queued requests, then stop the batch thread."""
        if self._drainer is not None:
            with contextlib.suppress(Exception):
                await self._drainer
        self._executor.shutdown(wait=True)


class DecisionBatcher(MicroBatcher[DecisionRequest, DecisionResult]):
    """``POST /v1/offers``: a batch is one
    :meth:`~nbo_engine.decisioning.Decider.decide_many` at the clock's time.

    Parameters
    ----------
    deciders : the process's decider holder.
    clock : returns the (aware) decision time; read once per batch.
    max_batch : most requests decided in one transaction.
    """

    def __init__(
        self,
        deciders: DeciderHolder,
        clock: Callable[[], dt.datetime],
        *,
        max_batch: int = 64,
    ) -> None:
        def run(requests: list[DecisionRequest]) -> list[DecisionResult | Exception]:
            return deciders.current().decide_many(requests, now=clock())

        super().__init__(
            run,
            max_batch=max_batch,
            name="nbo-decide",
            observe=metrics.DECISION_BATCH.observe,
        )

    async def decide(self, request: DecisionRequest) -> DecisionResult:
        """Decide one request (in the next batch); raises its own error."""
        return await self.submit(request)


class EventBatcher(MicroBatcher[list[EventIn], EventBatchResult]):
    """``POST /v1/events``: the events of the requests waiting together are
    stored in one transaction (:func:`~nbo_engine.store.events.record_events`
    of them all, up to :data:`~nbo_engine.store.events.MAX_BATCH` events),
    and each request is answered as if it had been stored alone, in arrival
    order: an event resent by a later request of the batch is that request's
    duplicate. If the merged batch is refused (one request names an unknown
    decision or an offer it did not choose), each request is stored on its
    own, so the refusal is the bad request's alone.
    """

    def __init__(
        self, engine: Engine, clock: Callable[[], dt.datetime], *, max_batch: int = 64
    ) -> None:
        def run(requests: list[list[EventIn]]) -> list[EventBatchResult | Exception]:
            received_at = clock()
            out: list[EventBatchResult | Exception] = []
            for group in _groups(requests, MAX_BATCH):
                try:
                    merged = record_events(
                        engine,
                        [e for events in group for e in events],
                        received_at=received_at,
                    )
                except Exception:
                    out += [_alone(engine, events, received_at) for events in group]
                    continue
                out += split_result(merged, group)
            return out

        super().__init__(
            run,
            max_batch=max_batch,
            name="nbo-events",
            observe=metrics.EVENT_BATCH.observe,
        )

    async def record(self, events: list[EventIn]) -> EventBatchResult:
        """Store one request's events (in the next batch); raises its own error."""
        return await self.submit(events)


def _alone(
    engine: Engine, events: list[EventIn], received_at: dt.datetime
) -> EventBatchResult | Exception:
    try:
        return record_events(engine, events, received_at=received_at)
    except Exception as exc:
        return exc


def _groups(requests: list[list[EventIn]], limit: int) -> list[list[list[EventIn]]]:
    """Consecutive requests with at most ``limit`` events per group (a request
    over the limit alone in its group, where ``record_events`` refuses it)."""
    groups: list[list[list[EventIn]]] = []
    size = 0
    for events in requests:
        if not groups or size + len(events) > limit:
            groups.append([])
            size = 0
        groups[-1].append(events)
        size += len(events)
    return groups

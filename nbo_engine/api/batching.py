"""Micro-batching of ``POST /v1/offers``: one transaction per batch of requests.

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

from nbo_engine.api import metrics
from nbo_engine.api.deciding import DeciderHolder
from nbo_engine.decisioning.decide import DecisionRequest, DecisionResult

__all__ = ["DecisionBatcher"]


class DecisionBatcher:
    """Queues decision requests and decides them in batches (see the module).

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
        if max_batch < 1:
            raise ValueError(f"max_batch: expected >= 1, got {max_batch}")
        self._deciders = deciders
        self._clock = clock
        self._max = max_batch
        self._queue: deque[tuple[DecisionRequest, asyncio.Future[DecisionResult]]] = (
            deque()
        )
        self._drainer: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="nbo-decide")

    async def decide(self, request: DecisionRequest) -> DecisionResult:
        """Decide one request (in the next batch); raises its own error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[DecisionResult] = loop.create_future()
        self._queue.append((request, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch: list[tuple[DecisionRequest, asyncio.Future[DecisionResult]]] = []
            while self._queue and len(batch) < self._max:
                item = self._queue.popleft()
                if not item[1].done():  # its client is still waiting
                    batch.append(item)
            if not batch:
                continue
            metrics.DECISION_BATCH.observe(len(batch))
            requests = [r for r, _ in batch]
            try:
                answers: Sequence[
                    DecisionResult | Exception
                ] = await loop.run_in_executor(self._executor, self._run, requests)
            except Exception as exc:  # no decider, or the store is down
                answers = [exc] * len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)

    def _run(self, requests: list[DecisionRequest]) -> list[DecisionResult | Exception]:
        decider = self._deciders.current()
        return decider.decide_many(requests, now=self._clock())

    async def close(self) -> None:
        """Finish the queued requests, then stop the decision thread."""
        if self._drainer is not None:
            with contextlib.suppress(Exception):
                await self._drainer
        self._executor.shutdown(wait=True)

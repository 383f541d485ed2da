"""The group-commit writer: accepted events become durable in batches, and each request or message is
acknowledged only once the batch holding its events is stored.

Requests queue their events and wait. The writer takes everything queued (up to `max_batch` events, never
splitting a request), waits at most `max_delay` for more when the batch is small, appends it with one
`EventStore.append` call, then releases every waiter of that batch together. While a commit runs, new
requests queue up, so the batch grows with load. `max_delay` is 0 by default: the requests that arrive
during one commit already form the next batch, and a fixed wait before each commit left the event loop
idle under load (beacons: 11-31% more requests/s without it, at about the same CPU per event). Dedupe by event
id is the store's job.

Store down: a failed append is retried with backoff for `retry_for` seconds; its waiters then get
Unavailable (never acknowledged, so clients retry; ids make the retry safe). The queue is bounded by
`max_pending` events: beyond it new requests get Unavailable at once (503 + Retry-After), never unbounded
memory. `stop()` refuses new work and flushes everything queued, so SIGTERM loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from domain.errors import Unavailable
from runtime.metrics import Metrics, StorePart
from storage.ports import EventStore
from storage.records import Event

log = logging.getLogger("eddy.ingest")
Listener = Callable[[Sequence[Event]], None]


class GroupCommitWriter:
    """Batches events into durable appends (a context component: start/stop)."""

    def __init__(
        self,
        store: EventStore,
        metrics: Metrics,
        listeners: list[Listener],
        *,
        max_batch: int = 5000,
        max_delay: float = 0.0,
        max_pending: int = 100_000,
        retry_for: float = 1.0,
        retry_after: float = 2.0,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._listeners = listeners  # the context's list: listeners added later are seen too
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.max_pending = max_pending
        self.retry_for = retry_for
        self.retry_after = retry_after
        self._queue: deque[tuple[list[Event], asyncio.Future[None]]] = deque()
        self._queued = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self._healthy = True

    @property
    def queued(self) -> int:
        """Events waiting for a commit (not counting the batch being written)."""
        return self._queued

    @property
    def healthy(self) -> bool:
        """False after a failed append, until one succeeds."""
        return self._healthy

    async def start(self) -> None:
        """Start the commit loop."""
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="eddy-group-commit")

    async def stop(self) -> None:
        """Refuse new events, write everything queued, then end the loop."""
        self._accepting = False
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def submit(self, events: list[Event]) -> None:
        """Queue events and return once they are durable. Raises Unavailable when the queue is full,
        the writer is stopping, or the store stayed down through the retries."""
        # A cancelled caller (client gone) must not cancel the commit of events others share a batch with.
        await asyncio.shield(self.enqueue(events))

    def enqueue(self, events: list[Event]) -> asyncio.Future[None]:
        """Queue events now; the returned future resolves once they are durable (or fails with
        Unavailable when the store stayed down through the retries). Raises Unavailable at once when the
        queue is full or the writer is stopping."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not events:
            done.set_result(None)
            return done
        if not self._accepting:
            raise Unavailable(self.retry_after, "ingestion is shutting down")
        if self._queued + len(events) > self.max_pending:
            raise Unavailable(self.retry_after, "the event store is not keeping up; retry later")
        self._queue.append((events, done))
        self._queued += len(events)
        self._metrics.ingest_queue_depth.set(self._queued)
        self._wake.set()
        return done

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if not self._accepting:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._queued < self.max_batch and self._accepting and self.max_delay > 0:
                # A small batch waits a moment for company; a full one goes at once.
                await asyncio.sleep(self.max_delay)
            events, waiters = self._take()
            await self._commit(events, waiters)

    def _take(self) -> tuple[list[Event], list[asyncio.Future[None]]]:
        events: list[Event] = []
        waiters: list[asyncio.Future[None]] = []
        while self._queue and (not events or len(events) + len(self._queue[0][0]) <= self.max_batch):
            batch, done = self._queue.popleft()
            events.extend(batch)
            waiters.append(done)
        self._queued -= len(events)
        self._metrics.ingest_queue_depth.set(self._queued)
        return events, waiters

    async def _commit(self, events: list[Event], waiters: list[asyncio.Future[None]]) -> None:
        first_try = time.monotonic()
        delay = 0.05
        while True:
            started = time.monotonic()
            try:
                await self._store.append(events)
            except Exception as error:  # noqa: BLE001 - any store failure means "not durable": retry, then 503
                self._healthy = False
                self._metrics.store_errors.labels(StorePart.EVENTS).inc()
                if time.monotonic() - first_try + delay > self.retry_for:
                    log.warning("event append failed, %d events not acknowledged: %s", len(events), error)
                    failure = Unavailable(self.retry_after, "the event store is unavailable; retry later")
                    for done in waiters:
                        if not done.done():
                            done.set_exception(failure)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                continue
            break
        self._healthy = True
        self._metrics.ingest_commit_seconds.observe(time.monotonic() - started)
        self._metrics.ingest_batch_events.observe(len(events))
        for done in waiters:
            if not done.done():
                done.set_result(None)
        for listener in list(self._listeners):
            try:
                listener(events)
            except Exception:  # a listener must never break ingestion
                log.exception("event listener %r failed", listener)

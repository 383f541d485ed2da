"""The group-commit writer on the real SQLite event store: waiters released together after the append,
bounded queue, flush on stop, listeners after durability."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from domain.errors import Unavailable
from domain.ingest.writer import GroupCommitWriter
from handlers.context import AppContext
from storage.records import Event
from tests.ingest.helpers import stored_count
from tests.support.until import until


class GatedStore:
    """The context's real event store behind a gate the test opens; records each append's size."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.gate.set()
        self.batches: list[int] = []
        self.waiting = 0  # appends held at the gate right now

    async def append(self, events: Sequence[Event]) -> int:
        self.waiting += 1
        await self.gate.wait()
        self.waiting -= 1
        stored = await self.inner.append(events)
        self.batches.append(len(events))
        return stored


def make_events(site: str, n: int, prefix: str) -> list[Event]:
    return [
        Event(id=f"{prefix}{i}", site_id=site, ts=1_700_000_000_000 + i, name="pageview") for i in range(n)
    ]


async def test_waiters_of_a_batch_are_released_together(ctx: AppContext) -> None:
    store = GatedStore(ctx.stores.events)
    seen: list[int] = []
    writer = GroupCommitWriter(store, ctx.metrics, [lambda events: seen.append(len(events))], max_delay=0)
    await writer.start()
    store.gate.clear()
    first = asyncio.create_task(writer.submit(make_events("w1", 3, "a")))
    await until(lambda: store.waiting == 1)  # the first batch is at the gate
    second = asyncio.create_task(writer.submit(make_events("w1", 2, "b")))
    third = asyncio.create_task(writer.submit(make_events("w1", 3, "c")))
    await until(lambda: writer.queued == 5)  # the next two wait in the queue behind it
    assert not first.done() and not second.done() and not third.done()
    assert await stored_count(ctx, "w1") == 0
    store.gate.set()
    await asyncio.gather(first, second, third)
    assert store.batches == [3, 5]  # the two requests queued during the first commit shared one append
    assert seen == [3, 5]
    assert await stored_count(ctx, "w1") == 8
    await writer.stop()


@pytest.mark.reliability
async def test_queue_is_bounded(ctx: AppContext) -> None:
    store = GatedStore(ctx.stores.events)
    writer = GroupCommitWriter(store, ctx.metrics, [], max_delay=0, max_pending=10)
    await writer.start()
    store.gate.clear()
    in_flight = asyncio.create_task(writer.submit(make_events("w2", 4, "a")))
    await until(lambda: store.waiting == 1)  # taken out of the queue, held at the gate
    queued = writer.enqueue(make_events("w2", 8, "b"))
    assert writer.queued == 8
    assert ctx.metrics.ingest_queue_depth._value.get() == 8
    with pytest.raises(Unavailable) as refused:
        await writer.submit(make_events("w2", 3, "c"))
    assert refused.value.headers["Retry-After"] == "2"
    store.gate.set()
    await asyncio.gather(in_flight, queued)
    assert await stored_count(ctx, "w2") == 12
    await writer.stop()


@pytest.mark.reliability
async def test_stop_flushes_everything_queued(ctx: AppContext) -> None:
    writer = GroupCommitWriter(ctx.stores.events, ctx.metrics, [], max_delay=0.05, max_batch=100)
    await writer.start()
    done = [writer.enqueue(make_events("w3", 10, f"r{n}-")) for n in range(50)]  # every request is queued
    await writer.stop()
    await asyncio.gather(*done)  # none failed
    assert await stored_count(ctx, "w3") == 500
    with pytest.raises(Unavailable):
        await writer.submit(make_events("w3", 1, "late"))


@pytest.mark.expect_errors("eddy.ingest")
async def test_a_failing_listener_does_not_break_ingestion(ctx: AppContext) -> None:
    def broken(_events: Sequence[Event]) -> None:
        raise RuntimeError("listener bug")

    seen: list[int] = []
    writer = GroupCommitWriter(ctx.stores.events, ctx.metrics, [broken, lambda e: seen.append(len(e))])
    await writer.start()
    await writer.submit(make_events("w4", 2, "a"))
    await writer.stop()
    assert seen == [2]
    assert await stored_count(ctx, "w4") == 2


async def test_context_stop_flushes_the_pipeline_writer(ctx: AppContext) -> None:
    done = [ctx.ingest.writer.enqueue(make_events("w5", 5, f"r{n}-")) for n in range(20)]
    for component in reversed(ctx.components):
        if component is ctx.ingest.writer:
            await component.stop()
    await asyncio.gather(*done)
    assert await stored_count(ctx, "w5") == 100
    await ctx.ingest.writer.start()  # the ctx fixture stops it again at teardown

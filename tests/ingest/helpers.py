"""Shared bits of the ingestion tests: counting stored events and reading drop counters."""

from __future__ import annotations

from handlers.context import AppContext
from storage.ports import EventFilter
from storage.records import Event
from tests.support.until import until

FOREVER = 2**62


async def stored(ctx: AppContext, site_id: str) -> list[Event]:
    """Every stored event of a site."""
    events: list[Event] = []
    async for batch in ctx.stores.events.read(EventFilter(site_id=site_id, start=0, end=FOREVER)):
        events.extend(batch)
    return events


async def stored_count(ctx: AppContext, site_id: str) -> int:
    """How many events a site has stored."""
    return await ctx.stores.events.count(EventFilter(site_id=site_id, start=0, end=FOREVER))


async def until_stored(ctx: AppContext, site_id: str, count: int, timeout: float = 5.0) -> None:
    """Wait until a site has `count` events stored (exactly: more fails the wait too)."""

    async def reached() -> bool:
        return await stored_count(ctx, site_id) == count

    await until(reached, timeout, interval=0.02, message=f"{count} events were not stored")


def dropped(ctx: AppContext, reason: str) -> float:
    """The drop counter for a reason."""
    return ctx.metrics.ingest_dropped.labels(reason)._value.get()

"""Events made up for tests, stored and handed to the event listeners the way a durable batch is."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from handlers.context import AppContext
from storage.records import Event


def make_events(site_id: str, pageviews: int, others: int = 0) -> list[Event]:
    """`pageviews` pageviews and `others` custom events for a site, stamped now."""
    now = int(time.time() * 1000)
    names = ["pageview"] * pageviews + ["signup"] * others
    return [
        Event(id=uuid.uuid4().hex, site_id=site_id, ts=now, name=name, path="/", visitor_id=f"v{i}")
        for i, name in enumerate(names)
    ]


async def store_events(ctx: AppContext, events: Sequence[Event]) -> None:
    """Append durably, then run every event listener on the batch (what the ingest writer does)."""
    await ctx.stores.events.append(events)
    for listener in ctx.event_listeners:
        listener(events)

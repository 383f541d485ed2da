"""The hub and publisher together on a shared bus and key-value store: deltas from two processes merge
into one view, visitors now is shared, publishing is coalesced, and a new watcher starts from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from domain.live.hub import LiveHub
from domain.live.messages import channel_for
from domain.live.publisher import LivePublisher
from domain.live.stream import Filters, LiveStream
from storage.embedded.events import SqliteEventStore
from storage.embedded.memory_bus import MemoryBus
from storage.embedded.memory_kv import MemoryKeyValue
from tests.support.live import event
from tests.support.until import until


class _Collect:
    """A transport that takes every message at once."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, text: str) -> None:
        self.messages.append(orjson.loads(text))

    def drop(self, reason: str) -> None:
        raise AssertionError(f"dropped: {reason}")


class _Process:
    """What one Eddy process holds: a hub and a publisher on the shared bus and kv."""

    def __init__(self, bus: MemoryBus, kv: MemoryKeyValue, events: SqliteEventStore) -> None:
        self.hub = LiveHub(bus, kv, events)
        self.publisher = LivePublisher(bus, kv, self.hub)


class _Shared:
    """The bus, key-value store and event store the processes of one test share."""

    def __init__(self, data_dir: Path) -> None:
        self.bus, self.kv, self.events = MemoryBus(), MemoryKeyValue(), SqliteEventStore(data_dir)
        self.processes: list[_Process] = []

    def process(self) -> _Process:
        """One more process on them (its hub is stopped after the test)."""
        process = _Process(self.bus, self.kv, self.events)
        self.processes.append(process)
        return process


@pytest.fixture
async def shared(data_dir: Path) -> AsyncIterator[_Shared]:
    parts = _Shared(data_dir)
    for part in (parts.bus, parts.kv, parts.events):
        await part.open()
    yield parts
    for process in parts.processes:
        await process.hub.stop()
    for part in (parts.bus, parts.kv, parts.events):
        await part.close()


async def test_deltas_from_two_processes_merge_on_a_third(shared: _Shared) -> None:
    a, b, watcher = shared.process(), shared.process(), shared.process()
    await watcher.hub.start()
    seen = _Collect()
    await watcher.hub.watch(LiveStream("s1", seen))
    assert seen.messages[0]["type"] == "snapshot" and seen.messages[0]["visitors_now"] == 0
    a.publisher.on_events([event("s1", path="/", visitor_id="v1", country="DE", source="google")])
    b.publisher.on_events(
        [
            event("s1", path="/", visitor_id="v2", country="FR"),
            event("s1", path="/docs", visitor_id="v1", country="DE"),
            event("other", path="/elsewhere", visitor_id="v9"),
        ]
    )
    await until(lambda: sum(len(m["recent"]) for m in seen.messages if m["type"] == "tick") == 3)
    last = seen.messages[-1]
    assert last["visitors_now"] == 2  # v1 was seen by both processes: counted once
    assert last["top_pages"] == [{"value": "/", "count": 2}, {"value": "/docs", "count": 1}]
    assert last["top_countries"] == [{"value": "DE", "count": 2}, {"value": "FR", "count": 1}]
    assert {"value": "google", "count": 1} in last["top_sources"]
    assert last["events_per_s"] == 0.3
    paths = [e["path"] for m in seen.messages if m["type"] == "tick" for e in m["recent"]]
    assert sorted(paths) == ["/", "/", "/docs"]  # the other site's event never shows here


async def test_publishing_is_coalesced_while_a_site_is_busy(shared: _Shared) -> None:
    process = shared.process()
    published: list[bytes] = []
    await shared.bus.subscribe(channel_for("s1"), lambda _c, data: published.append(data))
    for _ in range(20):
        process.publisher.on_events([event("s1")])
        await asyncio.sleep(0.01)  # the scenario: batches spread over 0.2 s, as a busy site sends them
    await until(lambda: sum(orjson.loads(d)["n"] for d in published) == 20, timeout=3)
    # 20 batches over ~0.2 s: the first leaves at once, the rest wait for the 250 ms interval.
    assert 2 <= len(published) <= 3


async def test_a_new_watcher_starts_from_the_stored_events(shared: _Shared) -> None:
    process = shared.process()
    await shared.events.append(
        [
            event("s1", path="/a", visitor_id="v1", name="signup"),
            event("s1", path="/b", visitor_id="v2"),
            event("s2", path="/c", visitor_id="v3"),
        ]
    )
    everything, signups = _Collect(), _Collect()
    await process.hub.watch(LiveStream("s1", everything))
    await process.hub.watch(LiveStream("s1", signups, Filters(event="signup")))
    snapshot = everything.messages[0]
    assert snapshot["type"] == "snapshot" and snapshot["visitors_now"] == 2
    assert [e["path"] for e in snapshot["recent"]] == ["/a", "/b"]
    assert [e["path"] for e in signups.messages[0]["recent"]] == ["/a"]
    assert process.hub.stream_count("s1") == 2 and process.hub.watched_sites() == ["s1"]
    assert shared.bus.channel_count() == 1  # one subscription for both dashboards


async def test_the_site_subscription_goes_with_its_last_dashboard(shared: _Shared) -> None:
    process = shared.process()
    first, second = LiveStream("s1", _Collect()), LiveStream("s1", _Collect())
    await process.hub.watch(first)
    await process.hub.watch(second)
    process.hub.unwatch(first)
    process.hub.unwatch(first)  # idempotent
    assert shared.bus.channel_count() == 1
    process.hub.unwatch(second)
    await until(lambda: shared.bus.channel_count() == 0)
    assert process.hub.watched_sites() == []

"""Every implementation of each storage port, as parametrised fixtures. The same tests run against all
of them; the MongoDB legs skip (loudly, with the reason) when MONGODB_URI is not set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from storage.embedded.documents import SqliteDocumentStore
from storage.embedded.events import SqliteEventStore
from storage.embedded.memory_kv import MemoryKeyValue
from storage.embedded.sqlite_kv import SqliteKeyValue
from storage.redis.kv import RedisKeyValue
from tests.support.clock import FakeClock
from tests.support.mongo import (
    MONGO_RETENTION_DAYS,
    MONGODB_URI,
    drop_mongo_prefix,
    mongo_prefix,
    needs_mongo,
)
from tests.support.redis_server import RedisServer

STORE_KINDS = ["sqlite", pytest.param("mongo", marks=[needs_mongo, pytest.mark.mongo])]
EVENT_STORE_KINDS = ["sqlite", "sqlite-segments", *STORE_KINDS[1:]]
SHARED_KINDS = ["memory", "redis"]


class CompactingEventStore(SqliteEventStore):
    """The embedded store compacting after every append, so every answer reads segments (merged ones
    too) as well as, or instead of, the log's tail, and builds the rollups of sealed days. A fixture
    loaded in many batches sets `settled = False` first and calls `settle()` once it is in: building the
    rollups after each batch only rebuilt them again and again (most of the conformance suite's time)."""

    settled = True

    async def append(self, events: Any) -> int:
        stored = await super().append(events)
        if self.settled:
            await self.compact_now()
        else:
            assert self.compactor is not None
            compactor = self.compactor
            loop = asyncio.get_running_loop()
            while await loop.run_in_executor(None, compactor.run, compactor.compact):
                pass
        return stored

    async def settle(self) -> None:
        """The fixture is loaded: build the rollups, and keep them current from now on."""
        self.settled = True
        await self.compact_now()


@pytest.fixture(params=STORE_KINDS)
async def docs(request: pytest.FixtureRequest, data_dir: Path, unique_prefix: str) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        store: Any = SqliteDocumentStore(data_dir)
    else:
        from storage.mongo.documents import MongoDocumentStore

        store = MongoDocumentStore(MONGODB_URI or "", prefix=mongo_prefix(unique_prefix))
    await store.open()
    yield store
    await store.close()
    if request.param == "mongo":
        await drop_mongo_prefix(mongo_prefix(unique_prefix))


@pytest.fixture(params=EVENT_STORE_KINDS)
async def events(request: pytest.FixtureRequest, data_dir: Path, unique_prefix: str) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        store: Any = SqliteEventStore(data_dir, compact_interval_s=None)
    elif request.param == "sqlite-segments":
        store = CompactingEventStore(data_dir, compact_interval_s=None)
    else:
        from storage.mongo.events import MongoEventStore

        store = MongoEventStore(
            MONGODB_URI or "", prefix=mongo_prefix(unique_prefix), retention_days=MONGO_RETENTION_DAYS
        )
    await store.open()
    yield store
    await store.close()
    if request.param == "mongo":
        await drop_mongo_prefix(mongo_prefix(unique_prefix))


@pytest.fixture
def kv_clock() -> FakeClock:
    """The clock of the in-process key-value stores (a Redis server keeps its own time)."""
    return FakeClock()


@pytest.fixture(params=[*SHARED_KINDS, "sqlite"])
async def kv(request: pytest.FixtureRequest, unique_prefix: str, kv_clock: FakeClock) -> AsyncIterator[Any]:
    if request.param == "memory":
        store: Any = MemoryKeyValue(clock=kv_clock)
    elif request.param == "sqlite":
        store = SqliteKeyValue(request.getfixturevalue("data_dir"), clock=kv_clock)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        store = RedisKeyValue(server.url, prefix=unique_prefix)
    await store.open()
    yield store
    await store.close()


@pytest.fixture
def elapse(kv: Any, kv_clock: FakeClock) -> Callable[[float], Awaitable[None]]:
    """Let `seconds` pass for the `kv` under test: its fake clock moves, or, for Redis, whose expiries run
    on the server's own clock, the test really waits (that wait is part of what the Redis leg tests)."""

    async def elapse(seconds: float) -> None:
        if isinstance(kv, RedisKeyValue):
            await asyncio.sleep(seconds)
        else:
            kv_clock.advance(seconds)

    return elapse


@pytest.fixture(params=[*SHARED_KINDS, "sqlite"])
def bus_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)

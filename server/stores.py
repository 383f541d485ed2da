"""Choose storage implementations from the configuration: embedded by default, MongoDB and Redis when
their URLs are set. This is the only place that knows which implementation backs each port."""

from __future__ import annotations

from settings.config import Config
from storage.embedded.documents import SqliteDocumentStore
from storage.embedded.events import SqliteEventStore
from storage.embedded.memory_bus import MemoryBus
from storage.embedded.memory_kv import MemoryKeyValue
from storage.ports import Bus, DocumentStore, EventStore, KeyValue, Stores


def build_stores(config: Config) -> Stores:
    """Unopened stores for this configuration; call `await stores.open()` inside the running loop."""
    docs: DocumentStore
    events: EventStore
    kv: KeyValue
    bus: Bus
    if config.mongo_uri:
        from storage.mongo.client import MongoConnection
        from storage.mongo.documents import MongoDocumentStore
        from storage.mongo.events import MongoEventStore

        connection = MongoConnection(config.mongo_uri)  # one client per process, both stores on it
        docs = MongoDocumentStore(connection, prefix=config.mongo_prefix)
        events = MongoEventStore(
            connection, retention_days=config.retention_days, prefix=config.mongo_prefix, rollup_worker=True
        )
        store_kind = "mongodb"
    else:
        docs = SqliteDocumentStore(config.data_dir)
        events = SqliteEventStore(
            config.data_dir,
            shared=config.processes > 1,
            compact_interval_s=config.compact_interval_s,
            query_timeout_s=config.query_timeout_s,
        )
        store_kind = "sqlite"
    if config.redis_url:
        from storage.redis.bus import RedisBus
        from storage.redis.kv import RedisKeyValue

        kv = RedisKeyValue(config.redis_url, prefix=config.redis_prefix)
        bus = RedisBus(config.redis_url, prefix=config.redis_prefix)
        shared_kind = "redis"
    elif config.processes > 1:
        # One box, several workers, no Redis: the bus goes through a SQLite file they share, so
        # revocations, key and config changes and live deltas reach every worker.
        # The account throttles and visitors now are the box's too (storage/embedded/sqlite_kv.py).
        from storage.embedded.sqlite_bus import SqliteBus
        from storage.embedded.sqlite_kv import RoutedKeyValue, SqliteKeyValue

        kv = RoutedKeyValue(MemoryKeyValue(), SqliteKeyValue(config.data_dir))
        bus = SqliteBus(config.data_dir)
        shared_kind = "memory"
    else:
        kv = MemoryKeyValue()
        bus = MemoryBus()
        shared_kind = "memory"
    box_shared = not config.redis_url and config.processes > 1
    kinds = {
        "documents": store_kind,
        "events": store_kind,
        "kv": "memory+sqlite" if box_shared else shared_kind,
        "bus": "sqlite" if box_shared else shared_kind,
    }
    return Stores(docs=docs, events=events, kv=kv, bus=bus, kinds=kinds)

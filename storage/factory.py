"""Choose storage implementations from the configuration: embedded by default, MongoDB and Redis when
their URLs are set. This is the only place that knows which implementation backs each port."""

from __future__ import annotations

from server.config import Config
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
            compact_interval_s=float(config.extra.get("EDDY_COMPACT_INTERVAL_S", 2.0)),
            query_timeout_s=float(config.extra.get("EDDY_QUERY_TIMEOUT_S", 30.0)),
        )
        store_kind = "sqlite"
    if config.redis_url:
        from storage.redis.bus import RedisBus
        from storage.redis.kv import RedisKeyValue

        kv = RedisKeyValue(config.redis_url, prefix=config.redis_prefix)
        bus = RedisBus(config.redis_url, prefix=config.redis_prefix)
        shared_kind = "redis"
    else:
        kv = MemoryKeyValue()
        bus = MemoryBus()
        shared_kind = "memory"
    kinds = {"documents": store_kind, "events": store_kind, "kv": shared_kind, "bus": shared_kind}
    return Stores(docs=docs, events=events, kv=kv, bus=bus, kinds=kinds)

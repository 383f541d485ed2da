"""The MongoDB stores under faults injected at the PyMongo boundary (tests/support/mongo_fake.py): exactly-
once appends across failed and concurrent attempts, error mapping, cold start, retryable single-document
updates, timeouts, and the small defects (tie order, redundant index, retention changes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, OperationFailure, ServerSelectionTimeoutError

from storage.errors import StoreUnavailableError
from storage.mongo import client as mongo_client
from storage.mongo.documents import MongoDocumentStore
from storage.mongo.events import LEASE_S, MongoEventStore
from storage.ports import EventFilter, Grouping
from storage.records import Event
from tests.support.mongo_fake import FakeConnection, FakeDatabase, Fault

T0 = 1_750_000_000_000


def ev(i: int, site: str = "s1") -> Event:
    return Event(id=f"e{i}", site_id=site, ts=T0 + i * 1000, name="pageview", path=f"/{i}", visitor_id="v")


async def open_events(db: FakeDatabase, **kwargs: Any) -> MongoEventStore:
    store = MongoEventStore(FakeConnection(db), **kwargs)
    await store.open()
    return store


async def open_docs(db: FakeDatabase) -> MongoDocumentStore:
    store = MongoDocumentStore(FakeConnection(db))
    await store.open()
    return store


def stored_ids(db: FakeDatabase) -> list[tuple[str, str]]:
    return sorted((d["meta"]["site"], d["id"]) for d in db["events"].docs)


async def failed_append(fault: Fault, events: int) -> tuple[FakeDatabase, MongoEventStore, list[Event]]:
    """A fresh store whose append of a batch of `events` events has just failed with `fault`."""
    db = FakeDatabase()
    store = await open_events(db)
    batch = [ev(i) for i in range(events)]
    db.faults.append(fault)
    with pytest.raises(StoreUnavailableError):
        await store.append(batch)
    return db, store, batch


# ---- 1: exactly-once appends -------------------------------------------------------------------------


async def test_a_batch_retried_after_the_events_insert_failed_unapplied_is_stored_once() -> None:
    fault = Fault("insert_many", "events", error=AutoReconnect("primary stepped down"))
    db, store, batch = await failed_append(fault, 5)
    assert stored_ids(db) == []
    assert await store.append(batch) == 5
    assert stored_ids(db) == sorted(("s1", f"e{i}") for i in range(5))
    assert await store.append(batch) == 0


async def test_a_batch_whose_events_were_written_but_not_acknowledged_is_not_stored_twice() -> None:
    """The events reach the primary but the majority write concern fails (BulkWriteError carrying
    writeConcernErrors): the append must fail (not durable) and its retry must not insert them again."""
    db, store, batch = await failed_append(Fault("insert_many", "events", write_concern_error=True), 4)
    assert len(db["events"].docs) == 4  # applied on the primary
    assert await store.append(batch) == 4  # counted once: the failed attempt reported none
    assert len(db["events"].docs) == 4
    assert stored_ids(db) == sorted(("s1", f"e{i}") for i in range(4))


async def test_a_failure_marking_the_claims_done_does_not_duplicate_on_retry() -> None:
    fault = Fault("update_many", "event_ids", error=AutoReconnect("connection reset"))
    db, store, batch = await failed_append(fault, 3)
    assert len(db["events"].docs) == 3
    assert await store.append(batch) == 3
    assert len(db["events"].docs) == 3
    assert all(claim["done"] for claim in db["event_ids"].docs)


async def test_write_concern_errors_on_the_claims_are_not_swallowed() -> None:
    db, store, batch = await failed_append(Fault("insert_many", "event_ids", write_concern_error=True), 1)
    assert await store.append(batch) == 1
    assert stored_ids(db) == [("s1", "e0")]


async def test_a_live_attempt_elsewhere_makes_a_concurrent_retry_wait_and_then_skip() -> None:
    """Host A claimed the ids and has not finished; host B retrying the same batch must neither insert
    nor report success until A's claims are done, and then stores nothing more."""
    db = FakeDatabase()
    host_a = await open_events(db)
    host_b = MongoEventStore(FakeConnection(db))
    await host_b.open()
    batch = [ev(i) for i in range(3)]
    db.faults.append(Fault("insert_many", "events", error=AutoReconnect("timed out")))
    with pytest.raises(StoreUnavailableError):
        await host_a.append(batch)  # A's claims stay pending, fresh
    with pytest.raises(StoreUnavailableError, match="another writer"):
        await host_b.append([*batch, ev(9)])
    assert not any(c["id"] == "e9" for c in db["event_ids"].docs)  # B released its own new claim
    assert await host_a.append(batch) == 3  # A's own retry takes its claims over at once
    assert await host_b.append([*batch, ev(9)]) == 1
    assert stored_ids(db) == sorted([("s1", "e0"), ("s1", "e1"), ("s1", "e2"), ("s1", "e9")])


async def test_claims_of_a_crashed_host_are_taken_over_after_the_lease() -> None:
    db = FakeDatabase()
    crashed = await open_events(db)
    other = await open_events(db)
    batch = [ev(i) for i in range(4)]
    db.faults.append(Fault("update_many", "event_ids", error=AutoReconnect("host died")))
    with pytest.raises(StoreUnavailableError):
        await crashed.append(batch)  # events stored, claims never marked done
    with pytest.raises(StoreUnavailableError):
        await other.append(batch)  # within the lease: could still be running
    for claim in db["event_ids"].docs:
        claim["at"] -= dt.timedelta(seconds=LEASE_S + 1)
    assert await other.append(batch) == 4
    assert len(db["events"].docs) == 4


async def test_duplicate_ids_in_one_batch_and_other_sites() -> None:
    db = FakeDatabase()
    store = await open_events(db)
    assert await store.append([ev(1), ev(1), ev(2), ev(1, site="s2")]) == 3
    assert await store.append([ev(1), ev(3)]) == 1
    assert stored_ids(db) == [("s1", "e1"), ("s1", "e2"), ("s1", "e3"), ("s2", "e1")]


async def test_a_write_error_that_is_a_bug_propagates() -> None:
    db = FakeDatabase()
    store = await open_events(db)
    db.faults.append(Fault("insert_many", "events", error=OperationFailure("document is invalid", 121)))
    with pytest.raises(OperationFailure):
        await store.append([ev(1)])


# ---- 4: error mapping ---------------------------------------------------------------------------------

DOWN = ServerSelectionTimeoutError("No servers found yet, Timeout: 15.0s")


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("find_one", lambda s: s.get("users", "u1")),
        ("insert_one", lambda s: s.insert("users", {"id": "u1", "email": "a@b.c"})),
        ("find", lambda s: s.find("users", {"email": "a@b.c"})),
        ("update_one", lambda s: s.update("users", {"id": "u1"}, {"name": "x"})),
        ("update_many", lambda s: s.update("sites", {"owner_id": "u1"}, {"name": "x"})),
        ("count_documents", lambda s: s.count("users", {})),
        ("delete_many", lambda s: s.delete("sites", {"owner_id": "u1"})),
        ("delete_one", lambda s: s.delete("sites", {"id": "x"})),
    ],
)
async def test_document_store_maps_an_unreachable_server_to_unavailable(method: str, call: Any) -> None:
    db = FakeDatabase()
    store = await open_docs(db)
    db.faults.append(Fault(method, error=DOWN))
    with pytest.raises(StoreUnavailableError):
        await call(store)


async def test_event_store_maps_an_unreachable_server_to_unavailable() -> None:
    db = FakeDatabase()
    store = await open_events(db)
    flt = EventFilter(site_id="s1", start=0, end=T0 * 2)
    for method, call in [
        ("count_documents", lambda: store.count(flt)),
        ("delete_many", lambda: store.purge_before("s1", T0)),
        ("delete_many", lambda: store.delete_site("s1")),
        ("aggregate", lambda: store.aggregate(flt)),
        ("aggregate", lambda: store.identity_days(flt, "UTC")),
    ]:
        db.faults.append(Fault(method, error=DOWN))
        with pytest.raises(StoreUnavailableError):
            await call()
    db.faults.append(Fault("find", "events", error=DOWN))
    with pytest.raises(StoreUnavailableError):
        async for _ in store.read(flt):
            pass


async def test_a_bad_query_is_a_bug_not_an_outage() -> None:
    db = FakeDatabase()
    store = await open_events(db)
    db.faults.append(Fault("aggregate", error=OperationFailure("unrecognized time zone identifier", 40485)))
    with pytest.raises(OperationFailure):
        await store.aggregate(
            EventFilter(site_id="s1", start=0, end=1), Grouping(kind="time", tz="Mars/Base")
        )


async def test_stepdown_and_time_limit_errors_are_unavailable() -> None:
    db = FakeDatabase()
    store = await open_events(db)
    flt = EventFilter(site_id="s1", start=0, end=1)
    for error in (
        OperationFailure("operation exceeded time limit", 50),
        OperationFailure("interrupted due to repl state change", 11602),
    ):
        db.faults.append(Fault("aggregate", error=error))
        with pytest.raises(StoreUnavailableError):
            await store.aggregate(flt)


# ---- 8: cold start --------------------------------------------------------------------------------------


async def test_two_workers_racing_to_create_the_events_collection_both_start() -> None:
    db = FakeDatabase()
    # The loser of the race passes PyMongo's existence check, then the server answers NamespaceExists.
    db.faults.append(
        Fault("create_collection", "db", error=OperationFailure("Collection already exists", 48))
    )
    db.options["events"] = {
        "timeseries": {"timeField": "ts"},
        "expireAfterSeconds": 400 * 86400,
    }  # the winner's
    store = await open_events(db)
    assert {"ix_site_ts", "ix_ts"} <= set(db["events"].indexes)
    await store.ping()


async def test_index_creation_failures_at_start_are_unavailable() -> None:
    db = FakeDatabase()
    db.faults.append(Fault("create_index", "event_ids", error=DOWN))
    with pytest.raises(StoreUnavailableError):
        await open_events(db)
    docs_db = FakeDatabase()
    docs_db.faults.append(Fault("create_index", "users", error=DOWN))
    with pytest.raises(StoreUnavailableError):
        await open_docs(docs_db)


# ---- 9: the refresh-token swap survives a lost reply -----------------------------------------------------


async def test_a_compare_and_set_on_one_id_survives_a_lost_reply() -> None:
    db = FakeDatabase()
    store = await open_docs(db)
    await store.insert("refresh_families", {"id": "f1", "user_id": "u1", "current": "old"})
    db.faults.append(Fault("update_one", "refresh_families", lost_reply=True))
    db.faults.append(Fault("update_many", "refresh_families", lost_reply=True))
    assert await store.update("refresh_families", {"id": "f1", "current": "old"}, {"current": "new"}) == 1
    assert (await store.get("refresh_families", "f1") or {})["current"] == "new"


# ---- 10: timeouts ---------------------------------------------------------------------------------------


async def test_client_bounds_every_operation_and_outlasts_an_election() -> None:
    client = mongo_client.make_client("mongodb://127.0.0.1:1/eddy?replicaSet=rs0")
    try:
        assert client.options.timeout == mongo_client.OPERATION_TIMEOUT_MS / 1000
        # An election takes ~10-12 s: server selection must wait longer to reach the new primary.
        assert client.options.server_selection_timeout >= 12
        assert client.options.retry_writes and client.options.retry_reads
        db = mongo_client.database(client)
        assert db.write_concern.document == {"w": "majority", "j": True, "wtimeout": 20_000}
    finally:
        await client.close()


# ---- 11: small defects ------------------------------------------------------------------------------------


async def test_descending_sorts_break_ties_by_id_ascending_like_the_embedded_store() -> None:
    db = FakeDatabase()
    store = await open_docs(db)
    for doc_id in ("b", "a", "c"):
        await store.insert("sites", {"id": doc_id, "owner_id": "u", "created_at": 5})
    got = await store.find("sites", {"owner_id": "u"}, sort="created_at", descending=True)
    assert [d["id"] for d in got] == ["a", "b", "c"]


async def test_no_plain_index_duplicates_a_unique_one_and_the_old_one_is_dropped() -> None:
    db = FakeDatabase()
    await db["users"].create_index([("email", 1)], name="ix_email")  # left by an older release
    await open_docs(db)
    assert "ix_email" not in db["users"].indexes and db["users"].indexes["ux_email"].unique
    # {site_id, user_id} unique serves site_id queries by its prefix; user_id needs its own index.
    assert set(db["members"].indexes) == {"ux_site_id_user_id", "ix_user_id"}


async def test_a_changed_retention_is_applied_to_the_existing_collection() -> None:
    db = FakeDatabase()
    first = await open_events(db, retention_days=400)
    await first.close()
    await open_events(db, retention_days=30)
    assert ("collMod", "events", {"expireAfterSeconds": 30 * 86400}) in db.commands
    assert db.options["events"]["expireAfterSeconds"] == 30 * 86400
    db.commands.clear()
    await open_events(db, retention_days=30)
    assert not [c for c in db.commands if c[0] == "collMod"]


def test_retention_of_zero_days_is_refused() -> None:
    with pytest.raises(ValueError):
        MongoEventStore("mongodb://127.0.0.1:1/", retention_days=0)
    from settings.config import load_config

    with pytest.raises(SystemExit):
        load_config(["--retention-days", "0"], env={})


def test_one_client_per_process_shared_by_both_stores(tmp_path: Any) -> None:
    from server.stores import build_stores
    from settings.config import Config

    stores = build_stores(Config(mongo_uri="mongodb://127.0.0.1:1/eddy", data_dir=tmp_path))
    assert stores.docs._connection is stores.events._connection  # type: ignore[attr-defined]


async def test_shared_connection_closes_with_its_last_user() -> None:
    db = FakeDatabase()
    connection = FakeConnection(db)
    docs, events = MongoDocumentStore(connection), MongoEventStore(connection)
    await docs.open()
    await events.open()
    await docs.close()
    assert connection.closed == 0
    await events.close()
    assert connection.closed == 1


# ---- 2 (the part a fake can show): purges filter on the metaField only before 7.0 ------------------------


async def test_purge_filters_on_the_meta_field_only_on_6_0() -> None:
    db = FakeDatabase(version="6.0.19")
    store = await open_events(db)
    await store.append([ev(0), ev(90_000), ev(200_000)])  # day 0, day 1 (+90,000 s), day 2
    cutoff = T0 + 150_000 * 1000
    await store.purge_before("s1", cutoff)
    (query,) = [query for name, query in db.deletes if name == "events"]
    assert set(query) <= {"meta.site", "meta.d"}
    # Whole UTC days before the cutoff's day go; the cutoff's own day stays.
    assert [d["id"] for d in db["events"].docs] == [
        e for e in ("e90000", "e200000") if (T0 + int(e[1:]) * 1000) // 86_400_000 >= cutoff // 86_400_000
    ]
    db7 = FakeDatabase(version="7.0.14")
    store7 = await open_events(db7)
    await store7.append([ev(0), ev(5)])
    await store7.purge_before("s1", T0 + 3000)
    assert [d["id"] for d in db7["events"].docs] == ["e5"]


async def test_reads_come_sorted_on_the_index_and_free_the_cursor_when_abandoned() -> None:
    db = FakeDatabase()
    store = await open_events(db)
    await store.append([ev(i) for i in reversed(range(7))])
    flt = EventFilter(site_id="s1", start=0, end=T0 * 2)
    reader = store.read(flt, batch_size=3)
    first = await reader.__anext__()
    assert [e.id for e in first] == ["e0", "e1", "e2"]
    await reader.aclose()
    cursor = db.cursors[-1]
    assert cursor.closed and cursor.hinted == "ix_site_ts"
    assert cursor._sort == [("meta.site", 1), ("ts", 1)]  # the index's key order: no blocking sort


async def test_a_busy_retry_keeps_the_claims_it_took_over_from_a_crashed_host() -> None:
    """Host A stored its events and died before marking its claims; host C is storing other ids right
    now. Host B's batch holds ids of both: B takes A's expired claims over, finds C's busy, and gives up
    for now; it must not delete A's claims (A's events are stored) or a later attempt would store
    them again."""
    db = FakeDatabase()
    host_a, host_b, host_c = [await open_events(db) for _ in range(3)]
    a_batch, c_batch = [ev(i) for i in range(3)], [ev(i) for i in range(10, 13)]
    db.faults.append(Fault("update_many", "event_ids", error=AutoReconnect("host died")))
    with pytest.raises(StoreUnavailableError):
        await host_a.append(a_batch)  # events stored, claims pending
    for claim in db["event_ids"].docs:
        claim["at"] -= dt.timedelta(seconds=LEASE_S + 1)
    db.faults.append(Fault("insert_many", "events", error=AutoReconnect("slow primary")))
    with pytest.raises(StoreUnavailableError):
        await host_c.append(c_batch)  # C's claims pending and fresh
    with pytest.raises(StoreUnavailableError, match="another writer"):
        await host_b.append([*a_batch, *c_batch, ev(20)])
    assert {c["id"] for c in db["event_ids"].docs} == {"e0", "e1", "e2", "e10", "e11", "e12"}
    assert await host_c.append(c_batch) == 3
    assert await host_b.append([*a_batch, *c_batch, ev(20)]) == 4  # A's three (reported by none) and e20
    assert sorted(d["id"] for d in db["events"].docs) == sorted(
        ["e0", "e1", "e2", "e10", "e11", "e12", "e20"]
    )

"""EventStore on MongoDB: a time-series collection (timeField `ts`, metaField `meta` = {site, name}).

Time-series collections allow no unique index, so duplicate ids are caught in a separate `event_ids`
collection (unique `_id`, TTL of 48 h). The events are written first and their ids second: a crash between
the two can only let a retry store an event twice, never lose one that was acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import BulkWriteError, CollectionInvalid, PyMongoError

from storage.errors import StoreUnavailableError
from storage.event_filter_sql import check_key_name
from storage.mongo import aggregates as pipelines
from storage.mongo.client import database, make_client
from storage.ports import Aggregate, EventFilter, Grouping
from storage.records import EVENT_TEXT_FIELDS, Event, step_mask

DEDUPE_WINDOW_S = 48 * 3600
_META_FIELDS = {"site_id": "meta.site", "name": "meta.name"}
_FILTERABLE = frozenset(EVENT_TEXT_FIELDS) - {"site_id"}


def to_datetime(ms: int) -> dt.datetime:
    """Milliseconds since the epoch to an aware UTC datetime (BSON dates keep milliseconds)."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def to_ms(value: dt.datetime) -> int:
    """An aware (or naive UTC) datetime to milliseconds since the epoch."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return round(value.timestamp() * 1000)


def event_document(event: Event) -> dict[str, Any]:
    """The stored form of an event."""
    doc: dict[str, Any] = {
        field: getattr(event, field) for field in EVENT_TEXT_FIELDS if field not in _META_FIELDS
    }
    doc["ts"] = to_datetime(event.ts)
    doc["meta"] = {"site": event.site_id, "name": event.name}
    doc["props"] = dict(event.props)
    doc["traits"] = dict(event.traits)
    return doc


def document_event(doc: dict[str, Any]) -> Event:
    """The Event for a stored document."""
    values = {field: doc.get(field, "") for field in EVENT_TEXT_FIELDS if field not in _META_FIELDS}
    return Event(
        site_id=doc["meta"]["site"],
        name=doc["meta"]["name"],
        ts=to_ms(doc["ts"]),
        props=doc.get("props") or {},
        traits=doc.get("traits") or {},
        **values,
    )


def canonical_text(field: str) -> dict[str, Any]:
    """An aggregation expression rendering a prop/trait value as text the way the SQL stores do."""
    return {
        "$switch": {
            "branches": [
                {"case": {"$eq": [{"$type": field}, "bool"]}, "then": {"$cond": [field, "true", "false"]}},
            ],
            "default": {"$toString": field},
        }
    }


def event_query(flt: EventFilter) -> dict[str, Any]:
    """The find() filter for an EventFilter; the leading meta.site + ts terms use the bucket index."""
    query: dict[str, Any] = {
        "meta.site": flt.site_id,
        "ts": {"$gte": to_datetime(flt.start), "$lt": to_datetime(flt.end)},
    }
    for field, value in flt.equals.items():
        if field not in _FILTERABLE:
            raise ValueError(f"cannot filter on {field!r}")
        query[_META_FIELDS.get(field, field)] = value
    exprs = []
    for column, mapping in (("props", flt.props), ("traits", flt.traits)):
        for name, value in mapping.items():
            exprs.append({"$eq": [canonical_text(f"${column}.{check_key_name(name)}"), value]})
    if flt.path_prefix:
        exprs.append({"$eq": [{"$substrCP": ["$path", 0, len(flt.path_prefix)]}, flt.path_prefix]})
    if exprs:
        query["$expr"] = {"$and": exprs}
    return query


class MongoEventStore:
    """Events in a time-series collection; `retention_days` becomes its expireAfterSeconds."""

    def __init__(self, uri: str, *, retention_days: int = 400, prefix: str = "") -> None:
        self._uri = uri
        self._retention_days = retention_days
        self._prefix = prefix
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._db: Any = None

    @property
    def events(self) -> Any:
        if self._db is None:
            raise StoreUnavailableError("mongo event store is not open")
        return self._db[f"{self._prefix}events"]

    @property
    def event_ids(self) -> Any:
        if self._db is None:
            raise StoreUnavailableError("mongo event store is not open")
        return self._db[f"{self._prefix}event_ids"]

    async def open(self) -> None:
        self._client = make_client(self._uri)
        self._db = database(self._client)
        try:
            await self._db.create_collection(
                f"{self._prefix}events",
                timeseries={"timeField": "ts", "metaField": "meta", "granularity": "minutes"},
                expireAfterSeconds=self._retention_days * 86400,
            )
        except CollectionInvalid:
            pass  # already there
        except PyMongoError as error:
            raise StoreUnavailableError(f"mongo: {error}") from error
        await self.events.create_index([("meta.site", ASCENDING), ("ts", ASCENDING)], name="ix_site_ts")
        await self.event_ids.create_index(
            [("at", ASCENDING)], name="ttl_at", expireAfterSeconds=DEDUPE_WINDOW_S
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
            self._db = None

    async def ping(self) -> None:
        if self._db is None:
            raise StoreUnavailableError("mongo event store is not open")
        try:
            await self._db.command("ping")
        except PyMongoError as error:
            raise StoreUnavailableError(f"mongo: {error}") from error

    async def append(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        keyed = {f"{e.site_id}:{e.id}": e for e in events}
        try:
            seen = {
                doc["_id"] async for doc in self.event_ids.find({"_id": {"$in": list(keyed)}}, {"_id": 1})
            }
            fresh = [(key, event) for key, event in keyed.items() if key not in seen]
            if not fresh:
                return 0
            await self.events.insert_many([event_document(e) for _, e in fresh], ordered=False)
            now = dt.datetime.now(dt.UTC)
            # BulkWriteError: a concurrent writer recorded some ids first; the events are stored either way.
            with contextlib.suppress(BulkWriteError):
                await self.event_ids.insert_many([{"_id": key, "at": now} for key, _ in fresh], ordered=False)
        except PyMongoError as error:
            raise StoreUnavailableError(f"mongo append: {error}") from error
        return len(fresh)

    async def read(self, flt: EventFilter, *, batch_size: int = 1000) -> AsyncIterator[list[Event]]:
        cursor = self.events.find(event_query(flt)).sort([("ts", ASCENDING), ("_id", ASCENDING)])
        batch: list[Event] = []
        async for doc in cursor.batch_size(batch_size):
            batch.append(document_event(doc))
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    async def count(self, flt: EventFilter) -> int:
        return int(await self.events.count_documents(event_query(flt)))

    async def aggregate(
        self, flt: EventFilter, grouping: Grouping | None = None, *, sort: str = "visitors", limit: int = 0
    ) -> list[Aggregate]:
        grouping = grouping or Grouping()
        pipelines.check_sort(sort)
        visits_pipeline, visitors_pipeline = pipelines.aggregate_pipelines(
            event_query(flt), grouping, canonical_text
        )
        try:
            visits, visitors = await asyncio.gather(self._run(visits_pipeline), self._run(visitors_pipeline))
        except PyMongoError as error:
            raise StoreUnavailableError(f"mongo aggregate: {error}") from error
        people = {row["_id"]: int(row["visitors"]) for row in visitors}
        out = []
        for row in visits:
            key = row["_id"]
            if grouping.kind == "total":
                out_key: str | int | None = None
            elif grouping.kind == "time":
                out_key = to_ms(key)
            else:
                out_key = str(key)
            out.append(
                Aggregate(
                    key=out_key,
                    visitors=people.get(key, 0),
                    visits=int(row["visits"]),
                    pageviews=int(row["pageviews"]),
                    events=int(row["events"]),
                    bounces=int(row["bounces"]),
                    duration_ms=int(row["duration"]),
                    first_ts=to_ms(row["lo"]),
                    last_ts=to_ms(row["hi"]),
                )
            )
        if grouping.kind == "time":
            out.sort(key=lambda agg: agg.key)  # type: ignore[arg-type,return-value]
        elif grouping.kind != "total":
            out.sort(key=lambda agg: (-getattr(agg, sort), agg.key))
            if limit:
                out = out[:limit]
        return out

    async def identity_days(self, flt: EventFilter, tz: str) -> list[tuple[str, str]]:
        try:
            rows = await self._run(pipelines.identity_days_pipeline(event_query(flt), tz))
        except PyMongoError as error:
            raise StoreUnavailableError(f"mongo aggregate: {error}") from error
        return [(row["_id"]["w"], row["_id"]["d"]) for row in rows]

    async def _run(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cursor = await self.events.aggregate(pipeline, allowDiskUse=True)
        return [doc async for doc in cursor]

    async def purge_before(self, site_id: str, before_ms: int) -> int:
        result = await self.events.delete_many({"meta.site": site_id, "ts": {"$lt": to_datetime(before_ms)}})
        return int(result.deleted_count)

    async def delete_site(self, site_id: str) -> None:
        await self.events.delete_many({"meta.site": site_id})

    async def bulk_load(self, batches: AsyncIterable[Sequence[Event]] | Iterable[Sequence[Event]]) -> int:
        """Many events through `append` (MongoDB has no faster path that keeps the dedupe)."""
        stored = 0
        if isinstance(batches, AsyncIterable):
            async for batch in batches:
                stored += await self.append(batch)
        else:
            for batch in batches:
                stored += await self.append(batch)
        return stored

    async def step_marks(
        self, flt: EventFilter, steps: Sequence[tuple[str, str]]
    ) -> list[tuple[str, int, str, int]]:
        """Funnel step marks from a read of the range (the matching is done here, in Python)."""
        marks = []
        async for batch in self.read(flt, batch_size=5000):
            for event in batch:
                mask = step_mask(event, steps)
                if mask:
                    who = f"u:{event.user_id}" if event.user_id else f"v:{event.visitor_id}"
                    marks.append((who, event.ts, event.id, mask))
        return marks

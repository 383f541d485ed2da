"""EventStore on MongoDB: a time-series collection (timeField `ts`, metaField `meta` = {site, name, d}).

Exactly-once appends. Time-series collections allow no unique index, so each event id is first claimed
in `event_ids`, a regular collection with a unique index on {site_id, id}; only the claim's owner inserts
the event. A claim is {site_id, id, owner, at, done}: `owner` is the attempt (an ObjectId per `append`
call), `at` when it was claimed (also its 48-hour TTL), `done` set once the owner's events are stored.
One `append`:

1. inserts claims for its ids (unordered; a duplicate-key error marks an id already claimed);
2. for each id claimed before: `done` means stored, skip it; a claim left by a failed attempt (an attempt
   of this process that raised, or any attempt older than `LEASE_S`) is taken over, and the events
   collection is asked whether that attempt stored the event before failing (found: counted, not
   inserted again); a fresh claim of another live attempt (the same batch retried on another host at the
   same moment) makes this call release its own new claims and raise StoreUnavailableError, and the
   caller's retry later finds the claim `done`;
3. inserts the events it owns, then marks its claims `done`.

A failure at any step leaves claims pending, never released: whether an insert reached the server before
a network error is unknown, and a released claim would let the retry store the event a second time. The
retry takes the claims over and inserts only the events the events collection does not hold. So a batch
retried any number of times, from any number of hosts, is stored once; `append` returns how many events
of the batch were stored by this call or by an earlier failed attempt (which reported none of them).

Stored document: the event's text fields, `ts` (a BSON date), `meta` {site, name, d}, `props`, `traits`,
and `pt`: the text of each non-string prop as the embedded store renders it (storage/mongo/values.py), which
prop filters and breakdowns compare and group by. Hourly pre-aggregates: storage/mongo/rollups.py.

Server versions: 6.0 and 7.0. On 6.x a delete on a time-series collection may filter on the metaField
only, so `meta.d` (the UTC day number) lets `purge_before` delete whole UTC days there; 7.0 and later
delete exactly by `ts`. Errors: transient failures become StoreUnavailableError, bugs propagate
(storage/mongo/errors.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.errors import BulkWriteError

from runtime.tasks import cancel_and_wait
from storage.errors import StoreUnavailableError, opened
from storage.event_filter_sql import check_key_name
from storage.mongo import aggregates as pipelines
from storage.mongo.client import MongoConnection, connection_for, ping
from storage.mongo.errors import is_transient, mapped, unavailable
from storage.mongo.rollups import Rollups, first_touch_pipeline, rollup_dim, rollup_query
from storage.mongo.schema import collection_options, ensure_collection
from storage.mongo.values import prop_texts
from storage.ports import (
    FILTERABLE_FIELDS,
    Aggregate,
    Condition,
    EventFilter,
    Grouping,
    check_condition,
    fold_ascii,
)
from storage.records import EVENT_TEXT_FIELDS, Event, step_mask

log = logging.getLogger(__name__)

DEDUPE_WINDOW_S = 48 * 3600
ROLLUP_EVERY_S = 300
LEASE_S = 60  # longer than any one operation may run (client timeoutMS is 20 s)
DAY_MS = 86_400_000
MAX_RETENTION_DAYS = (2**31 - 1) // 86400
DUPLICATE_KEY = 11000
_META_FIELDS = {"site_id": "meta.site", "name": "meta.name"}


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
    doc["meta"] = {"site": event.site_id, "name": event.name, "d": event.ts // DAY_MS}
    doc["props"] = dict(event.props)
    texts = prop_texts(doc["props"])
    if texts:
        doc["pt"] = texts
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


def canonical_text(field: str) -> Any:
    """An aggregation expression for a prop's text as the SQL stores render it (`$props.<name>`): the
    stored text of a non-string value, else the string itself."""
    name = field.removeprefix("$props.")
    return {"$ifNull": [f"$pt.{name}", field]}


def event_query(flt: EventFilter) -> dict[str, Any]:
    """The find() filter for an EventFilter; the leading meta.site + ts terms use the bucket index."""
    query: dict[str, Any] = {
        "meta.site": flt.site_id,
        "ts": {"$gte": to_datetime(flt.start), "$lt": to_datetime(flt.end)},
    }
    for field, value in flt.equals.items():
        if field not in FILTERABLE_FIELDS:
            raise ValueError(f"cannot filter on {field!r}")
        query[_META_FIELDS.get(field, field)] = value
    terms: list[dict[str, Any]] = []
    for name, value in flt.props.items():
        key = check_key_name(name)
        terms.append({"$or": [{f"pt.{key}": value}, {f"props.{key}": value}]})
    for name, value in flt.traits.items():
        query[f"traits.{check_key_name(name)}"] = value
    if flt.path_prefix:
        terms.append({"$expr": {"$eq": [{"$substrCP": ["$path", 0, len(flt.path_prefix)]}, flt.path_prefix]}})
    terms.extend(condition_query(condition) for condition in flt.conditions)
    if terms:
        query["$and"] = terms
    return query


def regex_literal(text: str, *, fold: bool) -> str:
    """A regular expression matching `text` literally: ASCII letters and digits as they are (each letter
    as [xX] with `fold`, the A-Z case folding of ports.fold_ascii), other ASCII characters as \\xhh
    escapes, the rest as themselves (no regex syntax lies outside ASCII). PCRE and Python's re agree."""
    out: list[str] = []
    for char in text:
        if char.isascii() and char.isalpha():
            out.append(f"[{char.lower()}{char.upper()}]" if fold else char)
        elif char.isascii() and char.isdigit():
            out.append(char)
        elif char.isascii():
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def condition_query(condition: Condition) -> dict[str, Any]:
    """The find() term of one Condition. `$nor` is true where the positive term is false, and also where
    the field, prop or trait is missing: the negation keeps exactly what the positive form drops."""
    check_condition(condition)
    values = list(condition.values)
    if condition.op == "is":
        test: dict[str, Any] = {"$in": values}
    else:
        fold = condition.op == "contains"
        alternatives = "|".join(regex_literal(fold_ascii(v) if fold else v, fold=fold) for v in values)
        test = {"$regex": ("^" if condition.op == "starts_with" else "") + f"(?:{alternatives})"}
    if condition.kind == "field":
        positive = {_META_FIELDS.get(condition.name, condition.name): test}
    elif condition.kind == "prop":
        key = check_key_name(condition.name)
        # Non-string props are matched by their stored text (`pt`), strings by themselves.
        positive = {"$or": [{f"pt.{key}": test}, {f"props.{key}": test}]}
    else:
        positive = {f"traits.{check_key_name(condition.name)}": test}
    return {"$nor": [positive]} if condition.negate else positive


class MongoEventStore:
    """Events in a time-series collection; `retention_days` becomes its expireAfterSeconds."""

    def __init__(
        self,
        uri: str | MongoConnection,
        *,
        retention_days: int = 400,
        prefix: str = "",
        rollup_worker: bool = False,
    ) -> None:
        """`rollup_worker`: run the pre-aggregation worker in this process (the lease keeps it to one
        at a time across processes and hosts)."""
        if not 1 <= retention_days <= MAX_RETENTION_DAYS:
            # 0 would expire every event at once; the server takes expireAfterSeconds as a 32-bit int.
            raise ValueError(f"retention_days must be between 1 and {MAX_RETENTION_DAYS}")
        self._connection = connection_for(uri)
        self._retention_days = retention_days
        self._prefix = prefix
        self._db: Any = None
        self._exact_deletes = False
        self._version: tuple[int, ...] = ()
        self.rollups: Rollups | None = None
        self._rollup_worker = rollup_worker
        self._rollup_task: asyncio.Task[None] | None = None
        # Attempts of this process that failed after claiming ids: their claims may be taken over at once.
        self._abandoned: dict[ObjectId, float] = {}

    def _collection(self, name: str) -> Any:
        return opened(self._db, "mongo event store")[f"{self._prefix}{name}"]

    @property
    def events(self) -> Any:
        return self._collection("events")

    @property
    def event_ids(self) -> Any:
        return self._collection("event_ids")

    @property
    def server_version(self) -> tuple[int, ...]:
        """The server's version as read at open (major, minor, ...)."""
        return self._version

    async def open(self) -> None:
        """Connect; create the collections and indexes (safe when several workers start together) and
        apply a changed retention to an existing events collection."""
        self._db = await self._connection.acquire()
        expire = self._retention_days * 86400
        async with mapped("open"):
            info = await self._db.command("buildInfo")
            self._version = tuple(int(part) for part in info.get("versionArray", [0])[:2])
            self._exact_deletes = self._version >= (7, 0)
            name = f"{self._prefix}events"
            created = await ensure_collection(
                self._db,
                name,
                timeseries={"timeField": "ts", "metaField": "meta", "granularity": "minutes"},
                expireAfterSeconds=expire,
            )
            if not created and (await collection_options(self._db, name)).get("expireAfterSeconds") != expire:
                await self._db.command("collMod", name, expireAfterSeconds=expire)
            await self.events.create_index([("meta.site", ASCENDING), ("ts", ASCENDING)], name="ix_site_ts")
            # The pre-aggregation worker reads hours of every site at once: by time alone.
            await self.events.create_index([("ts", ASCENDING)], name="ix_ts")
            await self.event_ids.create_index(
                [("site_id", ASCENDING), ("id", ASCENDING)], name="ux_site_id", unique=True
            )
            await self.event_ids.create_index([("owner", ASCENDING)], name="ix_owner")
            await self.event_ids.create_index(
                [("at", ASCENDING)], name="ttl_at", expireAfterSeconds=DEDUPE_WINDOW_S
            )
            self.rollups = Rollups(self._db, self._prefix, name)
            await self.rollups.create_indexes()
        if self._rollup_worker:
            self._rollup_task = asyncio.create_task(self._roll_up_forever())

    async def _roll_up_forever(self) -> None:
        """Every few minutes (jittered: workers of several processes spread out), roll up closed hours;
        the lease lets one worker do it at a time."""
        while True:
            await asyncio.sleep(ROLLUP_EVERY_S * random.uniform(0.5, 1.0))
            try:
                if self.rollups is not None:
                    await self.rollups.catch_up()
            except Exception:  # a failed round is retried next time; serving must go on
                log.warning("pre-aggregation round failed", exc_info=True)

    async def close(self) -> None:
        task, self._rollup_task = self._rollup_task, None
        await cancel_and_wait(task)
        if self._db is not None:
            self._db = None
            self.rollups = None
            await self._connection.release()

    async def ping(self) -> None:
        await ping(self._db, "mongo event store")

    # ---- append: claims first, then events -------------------------------------------------------

    async def append(self, events: Sequence[Event]) -> int:
        if not events:
            return 0
        batch: dict[tuple[str, str], Event] = {}
        for event in events:
            batch.setdefault((event.site_id, event.id), event)
        owner = ObjectId()
        now = dt.datetime.now(dt.UTC)
        try:
            mine, contested = await self._claim(owner, now, list(batch))
            present: set[tuple[str, str]] = set()
            if contested:
                taken, busy = await self._take_over(owner, now, contested)
                if busy:
                    await self._release_new(owner, mine)
                    raise StoreUnavailableError(
                        f"mongo append: {len(busy)} events are being stored by another writer; retry later"
                    )
                mine |= taken
                present = await self._stored(taken, batch)
            to_insert = [event_document(batch[key]) for key in batch if key in mine and key not in present]
            if to_insert:
                async with mapped("append"):
                    await self.events.insert_many(to_insert, ordered=False)
            async with mapped("append"):
                await self.event_ids.update_many({"owner": owner, "done": False}, {"$set": {"done": True}})
        except BaseException:
            self._abandon(owner)
            raise
        return len(to_insert) + len(present)

    async def _claim(
        self, owner: ObjectId, now: dt.datetime, keys: list[tuple[str, str]]
    ) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
        """Insert claims for `keys`: (claimed now, claimed before by some attempt)."""
        claims = [
            {"site_id": site, "id": event_id, "owner": owner, "at": now, "done": False}
            for site, event_id in keys
        ]
        try:
            async with mapped("append"):
                await self.event_ids.insert_many(claims, ordered=False)
        except BulkWriteError as error:
            details = error.details or {}
            if details.get("writeConcernErrors"):
                raise unavailable("append", error) from error
            duplicates: set[int] = set()
            for item in details.get("writeErrors", []):
                if item.get("code") != DUPLICATE_KEY:
                    if is_transient(error):
                        raise unavailable("append", error) from error
                    raise
                duplicates.add(int(item["index"]))
            contested = [keys[i] for i in sorted(duplicates)]
            return {key for i, key in enumerate(keys) if i not in duplicates}, contested
        return set(keys), []

    async def _take_over(
        self, owner: ObjectId, now: dt.datetime, keys: list[tuple[str, str]]
    ) -> tuple[set[tuple[str, str]], list[tuple[str, str]]]:
        """Take over the pending claims of failed attempts among `keys`: (taken, busy with a live
        attempt). Claims already `done` are in neither: their events are stored."""
        self._forget_old_abandoned()
        stale = {"at": {"$lt": now - dt.timedelta(seconds=LEASE_S)}}
        takeable: dict[str, Any] = {"$or": [stale]}
        if self._abandoned:
            takeable["$or"].append({"owner": {"$in": list(self._abandoned)}})
        by_site: dict[str, list[str]] = defaultdict(list)
        for site, event_id in keys:
            by_site[site].append(event_id)
        scope = {"$or": [{"site_id": site, "id": {"$in": ids}} for site, ids in by_site.items()]}
        async with mapped("append"):
            await self.event_ids.update_many(
                {"$and": [scope, {"done": False}, takeable]}, {"$set": {"owner": owner, "at": now}}
            )
            claims = [
                doc
                async for doc in self.event_ids.find(scope, {"site_id": 1, "id": 1, "owner": 1, "done": 1})
            ]
        taken: set[tuple[str, str]] = set()
        busy: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for claim in claims:
            key = (claim["site_id"], claim["id"])
            seen.add(key)
            if claim.get("done"):
                continue
            if claim.get("owner") == owner:
                taken.add(key)
            else:
                busy.append(key)
        # A claim that expired between our insert and this read: claim it again on the retry.
        busy.extend(key for key in keys if key not in seen)
        return taken, busy

    async def _stored(
        self, keys: set[tuple[str, str]], batch: dict[tuple[str, str], Event]
    ) -> set[tuple[str, str]]:
        """Which of `keys` a failed attempt stored before it failed (the events collection holds them)."""
        by_site: dict[str, list[Event]] = defaultdict(list)
        for key in keys:
            by_site[key[0]].append(batch[key])
        found: set[tuple[str, str]] = set()
        async with mapped("append"):
            for site, evs in by_site.items():
                query = {
                    "meta.site": site,
                    "ts": {
                        "$gte": to_datetime(min(e.ts for e in evs)),
                        "$lte": to_datetime(max(e.ts for e in evs)),
                    },
                    "id": {"$in": [e.id for e in evs]},
                }
                async for doc in self.events.find(query, {"id": 1}):
                    found.add((site, doc["id"]))
        return found

    async def _release_new(self, owner: ObjectId, keys: set[tuple[str, str]]) -> None:
        """Delete the claims this attempt created (no event of theirs can be stored yet). Claims it took
        over from a failed attempt stay: that attempt may have stored their events, which only the
        presence check of a later take-over can tell."""
        if not keys:
            return
        by_site: dict[str, list[str]] = defaultdict(list)
        for site, event_id in keys:
            by_site[site].append(event_id)
        scope = [{"site_id": site, "id": {"$in": ids}} for site, ids in by_site.items()]
        async with mapped("append"):
            await self.event_ids.delete_many({"owner": owner, "done": False, "$or": scope})

    def _abandon(self, owner: ObjectId) -> None:
        self._abandoned[owner] = time.monotonic()

    def _forget_old_abandoned(self) -> None:
        """Past the lease every pending claim is takeable anyway: keep the set small."""
        limit = time.monotonic() - LEASE_S
        for owner in [o for o, at in self._abandoned.items() if at < limit]:
            del self._abandoned[owner]

    # ---- reads ------------------------------------------------------------------------------------

    async def read(self, flt: EventFilter, *, batch_size: int = 1000) -> AsyncIterator[list[Event]]:
        # Sorted on the index ({meta.site, ts} after the equality on meta.site): no blocking sort. Events
        # with the same ts come in index order.
        cursor = (
            self.events.find(event_query(flt))
            .sort([("meta.site", ASCENDING), ("ts", ASCENDING)])
            .hint("ix_site_ts")
            .batch_size(batch_size)
        )
        batch: list[Event] = []
        try:
            async with mapped("read"):
                async for doc in cursor:
                    batch.append(document_event(doc))
                    if len(batch) >= batch_size:
                        yield batch
                        batch = []
        finally:
            await cursor.close()  # a consumer that stops early (a client gone) frees the server cursor
        if batch:
            yield batch

    async def count(self, flt: EventFilter) -> int:
        async with mapped("count"):
            return int(await self.events.count_documents(event_query(flt)))

    async def aggregate(
        self, flt: EventFilter, grouping: Grouping | None = None, *, sort: str = "visitors", limit: int = 0
    ) -> list[Aggregate]:
        grouping = grouping or Grouping()
        pipelines.check_sort(sort)
        dim = rollup_dim(flt, grouping, sort) if self.rollups is not None else None
        if dim is not None and self.rollups is not None:
            async with mapped("aggregate"):
                through = await self.rollups.watermark()
            if through is not None and through > flt.start:
                return await self._from_rollups(flt, grouping, dim, sort, limit, min(through, flt.end))
        pipeline = pipelines.aggregate_pipeline(
            event_query(flt), grouping, canonical_text, sort=sort, limit=limit
        )
        async with mapped("aggregate"):
            rows = await self._run(pipeline)
        return pipelines.to_aggregates(rows, grouping, to_ms)

    async def _from_rollups(
        self, flt: EventFilter, grouping: Grouping, dim: str, sort: str, limit: int, split: int
    ) -> list[Aggregate]:
        """Hours before `split` from the pre-aggregates, the rest (after the watermark) from raw events
        with its visitors counted as first touches of their UTC day (storage/mongo/rollups.py)."""
        assert self.rollups is not None
        pipeline = rollup_query(flt, grouping, dim, split)
        tail = split < flt.end
        if not tail and grouping.kind == "field":
            pipeline.append({"$sort": {sort: -1, "_id": 1}})
            if limit:
                pipeline.append({"$limit": int(limit)})
        async with mapped("aggregate"):
            cursor = await self.rollups.hours.aggregate(pipeline)
            merged = {row["_id"]: row async for row in cursor}
            if tail:
                tail_flt = EventFilter(site_id=flt.site_id, start=split, end=flt.end, equals=flt.equals)
                touched = EventFilter(
                    site_id=flt.site_id, start=split - split % DAY_MS, end=flt.end, equals=flt.equals
                )
                key = pipelines.group_expression(grouping, canonical_text)
                rows, touches = await asyncio.gather(
                    self._run(pipelines.aggregate_pipeline(event_query(tail_flt), grouping, canonical_text)),
                    self._run(first_touch_pipeline(event_query(touched), key, split)),
                )
                firsts = {row["_id"]: int(row["visitors"]) for row in touches}
                for row in rows:
                    row["visitors"] = firsts.get(row["_id"], 0)
                    _add(merged, row)
        out = [row for row in merged.values() if row.get("events")]
        if grouping.kind == "field":
            out.sort(key=lambda row: (-int(row.get(sort) or 0), str(row["_id"])))
            if limit:
                out = out[:limit]
            for row in out:
                row.update(visits=-1, bounces=-1, duration=-1)
        else:
            out.sort(key=lambda row: row["_id"])
            for row in out:
                for field in ("visits", "bounces", "duration"):
                    row[field] = int(row.get(field) or 0)
        return pipelines.to_aggregates(out, grouping, to_ms)

    async def identity_days(self, flt: EventFilter, tz: str) -> list[tuple[str, str]]:
        async with mapped("aggregate"):
            rows = await self._run(pipelines.identity_days_pipeline(event_query(flt), tz))
        return [(row["_id"]["w"], row["_id"]["d"]) for row in rows]

    async def _run(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cursor = await self.events.aggregate(pipeline, allowDiskUse=True)
        return [doc async for doc in cursor]

    # ---- deletes ----------------------------------------------------------------------------------

    def purge_filter(self, site_id: str, before_ms: int) -> dict[str, Any]:
        """The delete filter for `purge_before`: exact on 7.0+, whole UTC days (metaField only) on 6.x."""
        if self._exact_deletes:
            return {"meta.site": site_id, "ts": {"$lt": to_datetime(before_ms)}}
        return {"meta.site": site_id, "meta.d": {"$lt": before_ms // DAY_MS}}

    async def purge_before(self, site_id: str, before_ms: int) -> int:
        async with mapped("purge"):
            result = await self.events.delete_many(self.purge_filter(site_id, before_ms))
            if self.rollups is not None:
                await self.rollups.delete(site_id, before_ms)
        return int(result.deleted_count)

    async def delete_site(self, site_id: str) -> None:
        async with mapped("delete"):
            await self.events.delete_many({"meta.site": site_id})
            await self.event_ids.delete_many({"site_id": site_id})
            if self.rollups is not None:
                await self.rollups.delete(site_id)

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


_SUMMED = ("events", "pageviews", "visitors", "visits", "bounces", "duration")


def _add(merged: dict[Any, dict[str, Any]], row: dict[str, Any]) -> None:
    """Fold one raw tail row into the pre-aggregated rows (sums; first and last ts)."""
    into = merged.get(row["_id"])
    if into is None:
        merged[row["_id"]] = {
            "_id": row["_id"],
            **{f: row.get(f, 0) for f in _SUMMED},
            "lo": row["lo"],
            "hi": row["hi"],
        }
        return
    for field in _SUMMED:
        into[field] = int(into.get(field) or 0) + int(row.get(field) or 0)
    into["lo"] = min(x for x in (into.get("lo"), row["lo"]) if x is not None)
    into["hi"] = max(x for x in (into.get("hi"), row["hi"]) if x is not None)

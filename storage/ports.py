"""The storage ports: small interfaces every implementation honours.

- `DocumentStore`: accounts, sites, members, API keys, metric configs, refresh-token families... as JSON-like
  documents in named collections with equality filters, unique indexes and compare-and-set updates.
- `EventStore`: append batches of enriched events durably, read them back, count, purge.
- `KeyValue`: the small Redis-shaped needs (rate-limit windows, cache entries, version counters, sets of
  recently seen members, set-if-absent markers).
- `Bus`: publish/subscribe of bytes on named channels across processes.

One conformance suite (tests/conformance) runs against every implementation.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import msgspec

from storage.records import EVENT_TEXT_FIELDS, Event

Document = dict[str, Any]
Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class CollectionSpec:
    """How a document collection is indexed. `unique` lists tuples of fields that must be unique together."""

    name: str
    indexed: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()


# Every collection Eddy keeps. Stores create the indexes at start-up.
COLLECTIONS: tuple[CollectionSpec, ...] = (
    CollectionSpec("users", indexed=("email",), unique=(("email",),)),
    CollectionSpec("sites", indexed=("owner_id", "plausible_domain", "umami_alias")),
    CollectionSpec("members", indexed=("site_id", "user_id"), unique=(("site_id", "user_id"),)),
    CollectionSpec("api_keys", indexed=("site_id",), unique=(("lookup",),)),
    CollectionSpec("metric_configs", indexed=("site_id",), unique=(("site_id", "name"),)),
    CollectionSpec("refresh_families", indexed=("user_id",)),
    CollectionSpec("alert_rules", indexed=("site_id",)),
    CollectionSpec("share_links", indexed=("site_id",), unique=(("token_hash",),)),
    CollectionSpec("salts", indexed=()),
    # Mail waiting for (or done with) delivery: {id, state: pending|sending|sent|failed, next_attempt_at...}.
    CollectionSpec("mail_outbox", indexed=("state",)),
    # One-use secrets mailed to people (email verification, password reset), stored only as a hash.
    CollectionSpec("account_tokens", indexed=("user_id",), unique=(("token_hash",),)),
    CollectionSpec("invitations", indexed=("site_id", "email"), unique=(("token_hash",),)),
    # Instance-wide settings (registration mode) and one-time claims (the first account), keyed by id.
    CollectionSpec("instance", indexed=()),
    CollectionSpec("report_subscriptions", indexed=("user_id", "site_id"), unique=(("user_id", "site_id"),)),
    CollectionSpec("imports", indexed=("site_id",)),
    CollectionSpec("imported_stats", indexed=("site_id", "import_id")),
)
COLLECTION_NAMES = frozenset(spec.name for spec in COLLECTIONS)


def check_filter(where: Mapping[str, Any]) -> None:
    """Reject anything but plain field == scalar filters, so operator injection cannot reach a store."""
    for key, value in where.items():
        if not isinstance(key, str) or not key or key.startswith("$") or "." in key:
            raise ValueError(f"invalid filter field {key!r}")
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValueError(f"filter on {key!r} must be a scalar")


def check_document(doc: Mapping[str, Any]) -> None:
    """Reject `$`-prefixed or dotted keys anywhere in a document before it is stored."""
    for key, value in doc.items():
        if not isinstance(key, str) or key.startswith("$") or "." in key:
            raise ValueError(f"invalid document field {key!r}")
        if isinstance(value, Mapping):
            check_document(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, Mapping):
                    check_document(item)


class DocumentStore(Protocol):
    """Documents keyed by `id` (a string) in the collections of `COLLECTIONS`."""

    async def open(self) -> None:
        """Connect and create indexes."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> None:
        """Raise if the store cannot answer."""

    async def insert(self, collection: str, doc: Document) -> None:
        """Insert a new document (it must carry `id`); raises DuplicateKeyError on a unique violation."""

    async def get(self, collection: str, doc_id: str) -> Document | None:
        """The document with this id, or None."""

    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar],
        *,
        sort: str | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> list[Document]:
        """Documents whose fields equal every value in `where`, optionally sorted and limited."""

    async def count(self, collection: str, where: Mapping[str, Scalar]) -> int:
        """How many documents match `where`."""

    async def update(self, collection: str, where: Mapping[str, Scalar], changes: Mapping[str, Any]) -> int:
        """Set `changes` on every matching document; returns how many matched (compare-and-set when
        `where` includes the expected old value). Raises DuplicateKeyError on a unique violation."""

    async def delete(self, collection: str, where: Mapping[str, Scalar]) -> int:
        """Delete matching documents; returns how many."""


# How a Condition compares (see Condition) and what it looks at.
CONDITION_OPS = ("is", "contains", "starts_with")
CONDITION_KINDS = ("field", "prop", "trait")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_ascii(text: str) -> str:
    """`text` with A-Z lowered and every other character as it is: how `contains` ignores case, the
    same in every store (SQLite's lower() and MongoDB's $toLower fold ASCII only, so all stores do)."""
    return text.translate(_ASCII_LOWER)


class Condition(msgspec.Struct, frozen=True, kw_only=True):
    """One filter beyond a single-value equality. `kind` field (an event text field), prop or trait,
    `name` which one. `op`: "is" (the text equals one of `values`), "contains" (it contains one of them,
    ignoring the case of A-Z, see `fold_ascii`) or "starts_with" (it starts with one of them, case
    kept). `negate` keeps exactly the events the condition without it drops, events without the prop or
    trait included."""

    kind: str
    name: str
    op: str
    values: tuple[str, ...]
    negate: bool = False


# Event fields an equality or a Condition may look at.
FILTERABLE_FIELDS = frozenset(EVENT_TEXT_FIELDS) - {"site_id"}


def check_condition(condition: Condition) -> Condition:
    """Raise ValueError unless a store can translate `condition` safely (known kind, field and op, at
    least one value; prop and trait names are checked where they become a path)."""
    if condition.kind not in CONDITION_KINDS or condition.op not in CONDITION_OPS:
        raise ValueError(f"unknown condition {condition.kind!r} {condition.op!r}")
    if condition.kind == "field" and condition.name not in FILTERABLE_FIELDS:
        raise ValueError(f"cannot filter on {condition.name!r}")
    if not condition.values or not all(isinstance(v, str) for v in condition.values):
        raise ValueError("a condition needs one or more text values")
    return condition


class EventFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which events a read, count or export covers: one site, a time range [start, end) in ms, optional
    equality filters on event fields, props and traits, a path prefix, and `conditions` (negations,
    contains, several values: see Condition); every part must hold. Pre-aggregates answer only questions
    without conditions."""

    site_id: str
    start: int
    end: int
    equals: dict[str, str] = {}
    props: dict[str, str] = {}
    traits: dict[str, str] = {}
    path_prefix: str = ""
    conditions: tuple[Condition, ...] = ()


# What `EventStore.aggregate` can group by: nothing (one total row), a time bucket in a timezone, an
# event field, a prop, or the session's first/last pageview path.
GROUP_KINDS = ("total", "time", "field", "prop", "entry_page", "exit_page")
TIME_UNITS = ("minute", "hour", "day", "week", "month")
# Event fields a breakdown may group by (not ids, urls or titles: unbounded and identifying).
GROUP_FIELDS = frozenset(EVENT_TEXT_FIELDS) - {
    "id",
    "site_id",
    "url",
    "title",
    "visitor_id",
    "session_id",
    "user_id",
}
AGGREGATE_SORTS = ("visitors", "visits", "pageviews", "events")


class Grouping(msgspec.Struct, frozen=True, kw_only=True):
    """How `EventStore.aggregate` groups events. `field` names the event field (kind "field") or the prop
    (kind "prop"); `unit` and `tz` (IANA) define time buckets (kind "time"; weeks start on Monday)."""

    kind: str = "total"
    field: str = ""
    unit: str = "day"
    tz: str = "UTC"


class Aggregate(msgspec.Struct, frozen=True, kw_only=True):
    """The metrics of one group. A visit is one session (`session_id`, or the event alone when it has
    none) restricted to the group's events; a bounce is a visit with exactly one pageview; duration is
    the sum over visits of (last - first event ts). `key` is None (total), the bucket start as UTC ms
    (time), or the text value (others). The embedded engine knows every metric for every group; the
    MongoDB store's pre-aggregated breakdowns give visits, bounces and duration_ms as -1 (unknown)."""

    key: str | int | None
    visitors: int
    visits: int
    pageviews: int
    events: int
    bounces: int
    duration_ms: int
    first_ts: int
    last_ts: int


class EventStore(Protocol):
    """Enriched events, append-only, partitioned by site and time."""

    async def open(self) -> None:
        """Connect and create tables/collections and indexes."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> None:
        """Raise if the store cannot answer."""

    async def append(self, events: Sequence[Event]) -> int:
        """Store a batch durably before returning. Events whose id was already stored (within at least
        48 hours) are skipped; returns how many were newly stored. Raises StoreUnavailableError."""

    async def bulk_load(self, batches: AsyncIterable[Sequence[Event]] | Iterable[Sequence[Event]]) -> int:
        """Store many events at once, as fast as the store can (imports, demo data, benchmarks). Events
        are not acknowledged one by one; a store may skip the dedupe of `append`. Returns how many."""

    def read(self, flt: EventFilter, *, batch_size: int = 1000) -> AsyncIterator[list[Event]]:
        """Matching events in ascending time order, in batches (for exports and journeys)."""

    async def count(self, flt: EventFilter) -> int:
        """How many events match."""

    async def purge_before(self, site_id: str, before_ms: int) -> int:
        """Delete a site's events older than `before_ms` (retention); returns how many if known."""

    async def aggregate(
        self, flt: EventFilter, grouping: Grouping | None = None, *, sort: str = "visitors", limit: int = 0
    ) -> list[Aggregate]:
        """Metrics of the matching events per group. Time groups come in bucket order; other groups by
        `sort` (one of AGGREGATE_SORTS) descending then key ascending, at most `limit` (0: all). Prop
        groups skip events without the prop; entry/exit groups cover visits with a pageview. No group
        is returned for no events (the total grouping then answers [])."""

    async def step_marks(
        self, flt: EventFilter, steps: Sequence[tuple[str, str]]
    ) -> list[tuple[str, int, str, int]]:
        """The matching events that complete at least one funnel step, as (identity, ts, id, mask):
        identity as in `identity_days`, bit i of mask set when step i matches. A step is ("event", name)
        or ("page", path), a path ending in `*` matching a prefix (pageviews only)."""

    async def identity_days(self, flt: EventFilter, tz: str) -> list[tuple[str, str]]:
        """Distinct (identity, local date YYYY-MM-DD in `tz`) pairs of the matching events, sorted; the
        identity is `u:<user_id>` when the event has a user id, else `v:<visitor_id>`."""

    async def delete_site(self, site_id: str) -> None:
        """Delete every event of a site."""


@runtime_checkable
class PeopleCounts(Protocol):
    """What an EventStore may answer itself, next to the port: the small final counts of funnels,
    weekly cohorts and active people, instead of the step marks and identity days the query service
    otherwise counts in Python (domain/stats). Identity and steps are those of `step_marks` and
    `identity_days`; days are local dates in `tz`. The answers equal the service's own counting."""

    async def funnel_reach(
        self, flt: EventFilter, steps: Sequence[tuple[str, str]], window_ms: int
    ) -> list[int]:
        """People reaching at least step 1, 2, ... (one number per step): each later step completed in
        order by an event at most `window_ms` after the person's step-1 event, events in (ts, id) order."""

    async def week_cohorts(self, flt: EventFilter, tz: str) -> list[tuple[str, int, int]]:
        """(first week, week offset, people) for every non-zero count: a person's first week is the
        Monday (YYYY-MM-DD) of their first active local day; offset k counts them in the k-th week after."""

    async def active_people(
        self, flt: EventFilter, tz: str, first: str, last: str
    ) -> list[tuple[str, int, int, int]]:
        """(date, people active that day, in the 7 days and in the 30 days ending it) for each local date
        from `first` to `last` (YYYY-MM-DD), over the activity of the matching events."""


class KeyValue(Protocol):
    """The Redis-shaped needs. Keys are strings; every write that should expire takes a TTL in seconds."""

    async def open(self) -> None:
        """Connect."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> None:
        """Raise if unreachable."""

    async def get(self, key: str) -> bytes | None:
        """The value, or None when absent or expired."""

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store a value that expires after `ttl` seconds."""

    async def delete(self, key: str) -> None:
        """Remove a key."""

    async def set_if_absent(self, key: str, value: bytes, ttl: float) -> bool:
        """Store only if the key does not exist; True if stored."""

    async def incr(self, key: str, ttl: float | None = None) -> int:
        """Increment an integer counter (created at 0); `ttl` is applied when the key is created."""

    async def hit(self, key: str, window: float) -> tuple[int, float]:
        """Count one hit in a fixed window: returns (hits so far in this window, seconds until it resets)."""

    async def touch_members(self, key: str, members: Mapping[str, float], ttl: float) -> None:
        """Record members with a score (e.g. last-seen time); the key expires `ttl` after the last touch."""

    async def count_members(self, key: str, min_score: float) -> int:
        """How many members have a score >= min_score; members below it are dropped."""

    async def top_members(self, key: str, min_score: float, limit: int) -> list[tuple[str, float]]:
        """Members with score >= min_score, highest score first."""


Callback = Callable[[str, bytes], Awaitable[None] | None]


class Subscription(Protocol):
    """A handle returned by Bus.subscribe."""

    async def unsubscribe(self) -> None:
        """Stop delivering to this subscriber."""


class Bus(Protocol):
    """Fan-out of messages across every process attached to the same bus."""

    @property
    def healthy(self) -> bool:
        """False while the bus cannot deliver across processes (e.g. Redis down)."""

    async def open(self) -> None:
        """Connect and start the reader."""

    async def close(self) -> None:
        """Stop the reader and release connections."""

    async def ping(self) -> None:
        """Raise if unreachable."""

    async def publish(self, channel: str, data: bytes) -> None:
        """Deliver `data` to every subscriber of `channel` in every process."""

    async def publish_many(self, messages: Sequence[tuple[str, bytes]]) -> None:
        """Publish several messages in one round trip."""

    async def subscribe(self, channel: str, callback: Callback) -> Subscription:
        """Call `callback(channel, data)` for each message on `channel` until unsubscribed."""


@dataclass
class Stores:
    """The set of storage parts one process uses, with what is configured."""

    docs: DocumentStore
    events: EventStore
    kv: KeyValue
    bus: Bus
    kinds: dict[str, str] = field(default_factory=dict)

    async def open(self) -> None:
        """Open every part (documents first: others may depend on it)."""
        for part in (self.docs, self.events, self.kv, self.bus):
            await part.open()

    async def close(self) -> None:
        """Close every part, newest first, ignoring parts that fail to close."""
        for part in (self.bus, self.kv, self.events, self.docs):
            with contextlib.suppress(Exception):  # shutdown must go on
                await part.close()

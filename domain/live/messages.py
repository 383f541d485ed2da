"""What travels on the live bus: one compact delta per site per publish, and the shape of a recent event;
and what a live dashboard receives: snapshot, tick, auth and error messages (`encode_message`).

A delta says what one process ingested for one site since its last publish: how many events, counts by
page, source and country (each map bounded), and the newest events themselves (bounded, text truncated).
Recent events are data only: dashboards must render url, referrer and props as text, never as markup.
"""

from __future__ import annotations

from typing import Any

import msgspec

from storage.records import Event

CHANNEL_PREFIX = "live:"
VISITORS_KEY_PREFIX = "live:visitors:"
MAX_KEYS_PER_MAP = 100  # pages/sources/countries in one delta; the rest are summed under OTHER
MAX_RECENT_PER_DELTA = 20
MAX_TEXT = 500  # characters kept of url, referrer, title and prop values
MAX_PROPS = 20
OTHER = "(other)"


def channel_for(site_id: str) -> str:
    """The bus channel carrying one site's deltas."""
    return CHANNEL_PREFIX + site_id


def visitors_key(site_id: str) -> str:
    """The shared key-value member set of a site's visitors by last-seen time (epoch seconds)."""
    return VISITORS_KEY_PREFIX + site_id


class SiteDelta(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What one process ingested for one site since its previous delta. `at` is the publish time (ms)."""

    site: str
    n: int
    at: int
    pages: dict[str, int] = {}
    sources: dict[str, int] = {}
    countries: dict[str, int] = {}
    recent: list[dict[str, Any]] = []


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SiteDelta)


class Top(msgspec.Struct):
    """One of the most seen values now, and its count."""

    value: str
    count: int


class LiveState(msgspec.Struct):
    """A site's live numbers: visitors now, events per second, and the tops (most first)."""

    site_id: str
    visitors_now: int
    events_per_s: float
    top_pages: list[Top]
    top_sources: list[Top]
    top_countries: list[Top]


class Snapshot(LiveState, tag="snapshot", tag_field="type"):
    """The whole live state, first of all and after a filter change; `recent` the tail under the filter."""

    recent: list[dict[str, Any]]


class Tick(LiveState, tag="tick", tag_field="type"):
    """The live state again, with the events received since the previous tick that pass the filter."""

    recent: list[dict[str, Any]]


class AuthRenewed(msgspec.Struct, tag="auth", tag_field="type"):
    """A renewed authentication holds until `expires_at` (epoch seconds)."""

    expires_at: int


class MessageError(msgspec.Struct, omit_defaults=True):
    """What a client message got wrong: a code, a sentence, and reasons per field."""

    code: str
    message: str
    fields: dict[str, str] = {}


class ErrorMessage(msgspec.Struct, tag="error", tag_field="type"):
    """A client message that could not be followed (the stream goes on)."""

    error: MessageError


DashboardMessage = Snapshot | Tick | AuthRenewed | ErrorMessage
# What the SSE live stream sends, each as one event named by its `type`: a snapshot, then ticks.
StreamMessage = Snapshot | Tick


def with_recent(kind: type[Snapshot] | type[Tick], state: LiveState, recent: list[dict[str, Any]]) -> str:
    """A snapshot or tick of `state` with these recent events, as JSON text."""
    return encode_message(kind(*msgspec.structs.astuple(state), recent))  # the state's fields, then recent


def encode_message(message: DashboardMessage) -> str:
    """A dashboard message as compact JSON text (`type` first)."""
    return _encoder.encode(message).decode()


def encode_delta(delta: SiteDelta) -> bytes:
    """The wire form of a delta (compact JSON)."""
    return _encoder.encode(delta)


def decode_delta(data: bytes) -> SiteDelta:
    """Parse and validate a delta; raises msgspec.DecodeError / ValidationError on anything else."""
    return _decoder.decode(data)


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit]


def recent_event(event: Event) -> dict[str, Any]:
    """The fields of an event a live tail shows, with text truncated and props bounded."""
    props: dict[str, Any] = {}
    for key, value in list(event.props.items())[:MAX_PROPS]:
        props[_cut(key, 100)] = _cut(value) if isinstance(value, str) else value
    item: dict[str, Any] = {
        "id": event.id,
        "ts": event.ts,
        "name": _cut(event.name, 200),
        "path": _cut(event.path),
        "url": _cut(event.url),
        "title": _cut(event.title),
        "referrer": _cut(event.referrer),
        "source": _cut(event.source, 200),
        "country": event.country[:8],
        "browser": event.browser[:100],
        "os": event.os[:100],
        "device": event.device[:100],
    }
    if props:
        item["props"] = props
    return item


def bounded_counts(counts: dict[str, int], limit: int = MAX_KEYS_PER_MAP) -> dict[str, int]:
    """The `limit` largest entries, the remainder summed under OTHER (so a flood of distinct paths
    cannot grow a delta or a view without bound)."""
    if len(counts) <= limit:
        return dict(counts)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = dict(ranked[: limit - 1])
    kept[OTHER] = kept.get(OTHER, 0) + sum(count for _, count in ranked[limit - 1 :])
    return kept

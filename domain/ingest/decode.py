"""Decode-and-validate of collect payloads with msgspec: one event, or `{events: [...]}`.

Limits (the contract's, enforced here so HTTP and websocket share them): at most MAX_EVENTS events per
payload, bounded strings, props flat (str/number/bool) with at most MAX_PROPS keys named
[A-Za-z0-9_-]{1,64}. Timestamps are ISO 8601 or epoch ms; an event more than a day old, or more than a
day ahead, is rejected (422), while one ahead by less than a day is clamped to the server's clock (client
clock skew). A URL or referrer with a scheme other than http/https is dropped (kept as "").
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, NoReturn, TypeVar

import msgspec

from domain.errors import BadRequest, Invalid, TooLarge

MAX_EVENTS = 500
MAX_BODY_BYTES = 1024 * 1024
MAX_PROPS = 30
MAX_AGE_MS = 24 * 3600 * 1000
MAX_AHEAD_MS = 24 * 3600 * 1000
KEY_PATTERN = r"^[A-Za-z0-9_\-]{1,64}$"
ID_PATTERN = r"^[A-Za-z0-9_\-:.]{1,64}$"
_BIG = 2**53
T = TypeVar("T")

# Ids and prop keys carry their pattern in the published schema only: msgspec checks a `pattern` by calling
# Python's `re` once per value (~1 µs of a 2 µs event decode), so their alphabets are checked after
# decoding with one regex over all of a payload's ids and one over its keys (`_check_events`).
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, extra_json_schema={"pattern": ID_PATTERN})]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Url = Annotated[str, msgspec.Meta(max_length=2048)]
Title = Annotated[str, msgspec.Meta(max_length=512)]
Short = Annotated[str, msgspec.Meta(max_length=128)]
PropKey = Annotated[
    str, msgspec.Meta(min_length=1, max_length=64, extra_json_schema={"pattern": KEY_PATTERN})
]
PropValue = (
    Annotated[str, msgspec.Meta(max_length=512)]
    | bool
    | Annotated[int, msgspec.Meta(ge=-_BIG, le=_BIG)]
    | Annotated[float, msgspec.Meta(ge=-1e15, le=1e15)]
)
Props = Annotated[dict[PropKey, PropValue], msgspec.Meta(max_length=MAX_PROPS)]
Timestamp = Annotated[int, msgspec.Meta(ge=0, le=2**48)] | Annotated[str, msgspec.Meta(max_length=40)]
TraitValue = Annotated[str, msgspec.Meta(max_length=64)]


class Traits(msgspec.Struct, omit_defaults=True):
    """Who the visitor is, as the site's identify call describes them (only these traits are kept)."""

    age_band: TraitValue = ""
    gender: TraitValue = ""
    plan: TraitValue = ""


class RawEvent(msgspec.Struct):
    """One event as the tracker or a server sends it (unknown fields are ignored)."""

    name: Name | None = None
    id: Id | None = None
    url: Url = ""
    referrer: Url = ""
    title: Title = ""
    ts: Timestamp | None = None
    session_id: Id | None = None
    user_id: Short = ""
    screen: Annotated[str, msgspec.Meta(max_length=32)] = ""
    props: Props = {}
    traits: Traits | None = None


class Payload(RawEvent):
    """A collect body: one event at the top level, or a batch in `events`; `k` carries the key for
    senders that cannot set headers (sendBeacon)."""

    events: Annotated[list[RawEvent], msgspec.Meta(max_length=MAX_EVENTS)] | None = None
    k: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Message(msgspec.Struct):
    """A websocket message: `{id, events}`."""

    id: Annotated[str, msgspec.Meta(max_length=64)] | Annotated[int, msgspec.Meta(ge=0, le=_BIG)]
    events: Annotated[list[RawEvent], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


_IDS = re.compile(r"[A-Za-z0-9_\-:.]+(?:\n[A-Za-z0-9_\-:.]+)*")  # ID_PATTERN's alphabet, newline-joined
_KEYS = re.compile(r"[A-Za-z0-9_\-]+(?:\n[A-Za-z0-9_\-]+)*")  # KEY_PATTERN's alphabet, newline-joined
_ID = re.compile(ID_PATTERN)
_KEY = re.compile(KEY_PATTERN)
_payload_decoder = msgspec.json.Decoder(Payload)
_message_decoder = msgspec.json.Decoder(Message)


def _invalid(error: msgspec.ValidationError) -> Invalid:
    """A msgspec message (`Expected str, got int - at `$.events[0].name``) as a 422 with a field map."""
    text = str(error)
    message, _, where = text.rpartition(" - at `")
    if not where:
        return Invalid(text, fields={"$": text})
    field = where.rstrip("`").removeprefix("$.").removeprefix("$") or "$"
    return Invalid(f"{field}: {message}", fields={field: message})


def _decode(decoder: msgspec.json.Decoder[T], data: str | bytes, what: str) -> T:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as error:
        raise _invalid(error) from None
    except msgspec.DecodeError:
        raise BadRequest(f"the {what} is not valid JSON", code="invalid_json") from None


def _check_events(events: list[RawEvent], prefix: str) -> None:
    """Every event has a name, and its ids and prop keys are in their alphabets (lengths were checked
    while decoding). The common, valid case costs one regex over all ids and one over all keys."""
    ids = [e.id for e in events if e.id is not None]
    ids += [e.session_id for e in events if e.session_id is not None]
    keys = [key for e in events if e.props for key in e.props]
    if all(e.name is not None for e in events) and _all_match(_IDS, ids) and _all_match(_KEYS, keys):
        return
    for index, event in enumerate(events):
        at = f"{prefix}[{index}]." if prefix else ""
        if event.name is None:
            raise Invalid(f"{at}name: required", fields={f"{at}name": "required"})
        for field, value in (("id", event.id), ("session_id", event.session_id)):
            if value is not None and not _ID.fullmatch(value):
                _mismatch(f"{at}{field}", ID_PATTERN)
        for key in event.props:
            if not _KEY.fullmatch(key):
                _mismatch(f"{at}props", KEY_PATTERN)
    raise Invalid("an id or prop key is outside its alphabet", fields={prefix or "$": "invalid"})


def _all_match(joined_pattern: re.Pattern[str], values: list[str]) -> bool:
    """Whether every value is a run of the pattern's alphabet. A value holding the newline separator
    itself would split in two, so the separator count must match too."""
    if not values:
        return True
    text = "\n".join(values)
    return joined_pattern.fullmatch(text) is not None and text.count("\n") == len(values) - 1


def _mismatch(field: str, pattern: str) -> NoReturn:
    """Raise the 422 for a value outside its pattern, worded as msgspec words it."""
    message = f"Expected `str` matching regex {pattern!r}"
    raise Invalid(f"{field}: {message}", fields={field: message})


def decode_payload(body: bytes) -> tuple[list[RawEvent], str | None]:
    """The events of a collect body and its `k` field. Raises BadRequest (not JSON) or Invalid."""
    if len(body) > MAX_BODY_BYTES:
        raise TooLarge(f"body over {MAX_BODY_BYTES} bytes")
    payload = _decode(_payload_decoder, body, "body")
    if payload.events is None:
        events, prefix = [payload], ""
    elif payload.events:
        events, prefix = payload.events, "events"
    else:
        raise Invalid("events: must hold at least one event", fields={"events": "empty"})
    _check_events(events, prefix)
    return events, payload.k


def decode_message(data: str | bytes) -> Message:
    """A websocket message. Raises BadRequest (not JSON) or Invalid."""
    message = _decode(_message_decoder, data, "message")
    _check_events(message.events, "events")
    return message


def event_time(value: int | str | None, now_ms: int, field: str) -> int:
    """Epoch ms for an event timestamp (now when absent). More than a day old or ahead → Invalid; ahead
    by less than a day → clamped to now."""
    if value is None:
        return now_ms
    ms = _parse_iso(value, field) if isinstance(value, str) else value
    if ms < now_ms - MAX_AGE_MS:
        raise Invalid(f"{field}: more than a day old", fields={field: "more than a day old"})
    if ms > now_ms + MAX_AHEAD_MS:
        raise Invalid(f"{field}: more than a day in the future", fields={field: "in the future"})
    return min(ms, now_ms)


def _parse_iso(text: str, field: str) -> int:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{field}: not ISO 8601", fields={field: "not ISO 8601 or epoch ms"}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # naive timestamps are read as UTC
    seconds = parsed.timestamp()
    if not math.isfinite(seconds):
        raise Invalid(f"{field}: out of range", fields={field: "out of range"})
    return int(seconds * 1000)


def web_url(value: str) -> str:
    """The URL if its scheme is http or https, else "" (javascript:, data: and friends are dropped)."""
    head = value[:8].lower()
    if head.startswith("https://") or head.startswith("http://"):
        return value
    return ""

"""Umami's collect body → Eddy events (what `POST /api/send` and `/api/batch` take).

`{"type": "event" | "identify", "payload": {website, hostname, screen, language, title, url, referrer,
name?, data?, id?, tag?, timestamp?}}`. Both trackers are read: v2.10 sends `url` as a path (with its query)
and the title URI-encoded; v3 sends whole URLs. As Umami does, `url` and a path-only `referrer` are resolved
against `https://<hostname>`, and the title is URI-decoded when it decodes.

How they are kept (events table unchanged):
- an `event` without `name` is a pageview; with `name`, that custom event, `data` in its props (flat values
  as the Plausible mapping keeps them: domain/compat/plausible.py); `tag` becomes the prop `tag`.
- `identify` is the event `identify`: `id` is its user_id, `data` its props, and `data`'s age_band, gender
  and plan its traits (the traits Eddy keeps).
- `timestamp` (epoch seconds) sets the event's time within the collect pipeline's window (a day).

The answer's `cache` is a token signed with the server's hash key (like Umami's JWT): trackers echo it in
`x-umami-cache`; Eddy works out visitors and visits itself, so it only needs to be opaque and unforgeable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urljoin

from domain.compat.plausible import _props
from domain.errors import BadRequest
from domain.ingest.decode import RawEvent, Traits

TYPES = ("event", "identify")
MAX_WEBSITE = 64
MAX_URL = 2048
MAX_TITLE = 512
MAX_BATCH = 100
LIMITS = {"hostname": 100, "screen": 11, "language": 35, "name": 50, "tag": 50, "id": 128}
_HOSTNAME = re.compile(r"^[A-Za-z0-9.\-:\[\]]*$")


@dataclass(frozen=True)
class UmamiEvent:
    """One parsed message: which website it names and the event to store."""

    type: str
    website: str
    event: RawEvent


def _refuse(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", code="invalid_payload", fields={field: message})


def _text(payload: dict[str, Any], field: str, limit: int) -> str:
    value = payload.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _refuse(f"payload.{field}", "must be text")
    if len(value) > limit:
        raise _refuse(f"payload.{field}", f"must be at most {limit} characters")
    return value


def parse_message(message: Any) -> UmamiEvent:
    """Check one `{type, payload}` message. Raises BadRequest (400) naming the field."""
    if not isinstance(message, dict):
        raise _refuse("$", "must be an object with type and payload")
    kind = message.get("type")
    if kind not in TYPES:
        raise _refuse("type", "must be event or identify")
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise _refuse("payload", "must be an object")
    website = _text(payload, "website", MAX_WEBSITE)
    if not website:
        raise _refuse("payload.website", "is required")
    fields = {field: _text(payload, field, limit) for field, limit in LIMITS.items()}
    if not _HOSTNAME.fullmatch(fields["hostname"]):
        raise _refuse("payload.hostname", "must be a host name")
    url = _text(payload, "url", MAX_URL)
    referrer = _text(payload, "referrer", MAX_URL)
    title = _text(payload, "title", 4 * MAX_TITLE)
    data = payload.get("data")
    if data is not None and not isinstance(data, dict):
        raise _refuse("payload.data", "must be an object")
    ts = _timestamp(payload.get("timestamp"))
    base = f"https://{fields['hostname'] or 'localhost'}/"
    page = urljoin(base, url) if url else ""
    # A path-only referrer is the previous page of the same site (v2.10 after SPA navigation).
    ref = urljoin(base, referrer) if referrer and referrer != "undefined" else ""
    props = _props(data or {})
    traits = None
    if fields["tag"]:
        props["tag"] = fields["tag"]
    name = fields["name"] or "pageview"
    if kind == "identify":
        name = "identify"
        known = {k: str(v)[:64] for k, v in (data or {}).items() if k in ("age_band", "gender", "plan")}
        traits = Traits(**known) if known else None
    event = RawEvent(
        name=name,
        url=page,
        referrer=ref,
        title=unquote(title)[:MAX_TITLE],
        ts=ts,
        user_id=fields["id"],
        screen=fields["screen"],
        props=props,
        traits=traits,
    )
    return UmamiEvent(kind, website, event)


def _timestamp(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 2**40:
        raise _refuse("payload.timestamp", "must be epoch seconds")
    return int(value * 1000)


def parse_batch(data: Any) -> list[Any]:
    """The messages of a batch body (a JSON array of at most MAX_BATCH messages)."""
    if not isinstance(data, list):
        raise _refuse("$", "must be an array of messages")
    if len(data) > MAX_BATCH:
        raise _refuse("$", f"must hold at most {MAX_BATCH} messages")
    return data


def cache_token(key: bytes, website: str, session_id: str, visit_id: str, now: float | None = None) -> str:
    """An opaque, signed token for the tracker to echo in `x-umami-cache`."""
    body = f"{website}|{session_id}|{visit_id}|{int(now if now is not None else time.time())}"
    encoded = base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()
    signature = hmac.new(key, b"umami-cache:" + encoded.encode(), hashlib.sha256).digest()[:18]
    return f"{encoded}.{base64.urlsafe_b64encode(signature).decode()}"


def read_cache_token(key: bytes, token: str) -> tuple[str, str, str, int] | None:
    """(website, session_id, visit_id, issued) of a token this server signed, else None. v2.10 trackers
    echo the whole answer body, so a JSON answer holding the token is read too."""
    match = re.search(r"([A-Za-z0-9_\-]+)\.([A-Za-z0-9_\-=]{24})", token[:1024])
    if match is None:
        return None
    encoded, signature = match.group(1), match.group(2)
    expected = hmac.new(key, b"umami-cache:" + encoded.encode(), hashlib.sha256).digest()[:18]
    try:
        given = base64.urlsafe_b64decode(signature)
        parts = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(given, expected) or len(parts) != 4 or not parts[3].isdigit():
        return None
    return parts[0], parts[1], parts[2], int(parts[3])

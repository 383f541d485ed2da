"""Plausible's Events API body → Eddy events (what `POST /api/event` takes).

The tracker sends `text/plain` JSON with short names, servers the long ones: `n`/`name`, `u`/`url`,
`d`/`domain` (a comma-separated list sends the event to each), `r`/`referrer`, props in `p`/`props` (an
object) or `m`/`meta` (a JSON string), revenue in `$`/`revenue` (`{amount, currency}`, an object or a JSON
string), `i`/`interactive`, `h`/`hashMode` (1: the path keeps the #fragment), `v` (tracker version);
engagement events (`n: "engagement"`) carry `sd` (max scroll depth, %) and `e` (engaged time, ms).

How they are kept (events table unchanged, everything extra in props):
- props: keys outside Eddy's alphabet have those characters replaced by `_` (cut to 64), text values are
  cut to 512 characters, empty, null, list and object values are left out (as Plausible does), at most 30.
- revenue: `revenue_amount` (a number) and `revenue_currency` (ISO 4217, upper case); a revenue that is not
  an amount and a three-letter currency is left out, the event kept (as Plausible does).
- engagement: the event `engagement` with props `scroll_depth` (0-100) and `engaged_ms`.
- `i: false`: `interactive: false` in props (Eddy's bounce rate counts pageviews only, so it changes none).

Errors are Plausible's: `{"errors": {field: [message]}}`, answered 400 by the handler.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import orjson

from domain.ingest.decode import MAX_PROPS, RawEvent

MAX_NAME = 64
MAX_URL = 2048
MAX_PATH = 2000
MAX_REFERRER = 2000
MAX_PROP_VALUE = 512
MAX_DOMAINS = 10
MAX_ENGAGED_MS = 24 * 3600 * 1000
ENGAGEMENT = "engagement"
_KEY_OUTSIDE = re.compile(r"[^A-Za-z0-9_\-]")
_CURRENCY = re.compile(r"[A-Z]{3}")
_BIG = 2**53


class PlausibleInvalid(Exception):
    """A request Plausible would refuse: `errors` maps fields to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class PlausibleEvent:
    """One parsed request: the sites' domains it names and the event to store for each."""

    domains: list[str]
    event: RawEvent
    hash_mode: bool


def parse_event(body: bytes) -> PlausibleEvent:
    """Parse and check a request body. Raises PlausibleInvalid."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise PlausibleInvalid({"request": ["Unable to parse request body as json"]})
    errors: dict[str, list[str]] = {}
    name = _first(data, "n", "name")
    if not isinstance(name, str) or not name.strip():
        errors["event_name"] = ["can't be blank"]
    elif len(name) > MAX_NAME:
        errors["event_name"] = [f"should be at most {MAX_NAME} character(s)"]
    url = _first(data, "u", "url")
    parts = None
    if url is None:
        errors["url"] = ["is required"]
    elif not isinstance(url, str):
        errors["url"] = ["must be a string"]
    elif len(url) > MAX_URL:
        errors["url"] = [f"should be at most {MAX_URL} character(s)"]
    else:
        try:
            parts = urlsplit(url)
        except ValueError:
            errors["url"] = ["is not a valid URL"]
        else:
            if parts.scheme.lower() == "data":
                errors["url"] = ["scheme is not allowed"]
            elif len(parts.path) > MAX_PATH:
                errors["pathname"] = [f"should be at most {MAX_PATH} character(s)"]
    referrer = _first(data, "r", "referrer")
    if referrer is not None and not isinstance(referrer, str):
        errors["referrer"] = ["must be a string"]
    elif isinstance(referrer, str) and len(referrer) > MAX_REFERRER:
        errors["referrer"] = [f"should be at most {MAX_REFERRER} character(s)"]
    domains = _domains(_first(data, "d", "domain"), parts, errors)
    props = _props(_first(data, "m", "meta", "p", "props"))
    is_engagement = isinstance(name, str) and name == ENGAGEMENT
    if is_engagement:
        props = {**_engagement(data, errors), **props}
    revenue = _revenue(_first(data, "$", "revenue"))
    if revenue:
        props = {key: value for key, value in props.items() if key not in revenue}
        props = {**dict(list(props.items())[: MAX_PROPS - len(revenue)]), **revenue}
    if _first(data, "i", "interactive") is False and len(props) < MAX_PROPS:
        props["interactive"] = False
    if errors:
        raise PlausibleInvalid(errors)
    assert isinstance(name, str) and isinstance(url, str)
    hash_mode = _first(data, "h", "hashMode") in (1, True, "1")
    event = RawEvent(name=name, url=url, referrer=referrer or "", props=props)
    return PlausibleEvent(domains, event, hash_mode)


def path_with_fragment(path: str, url: str) -> str:
    """The path of a hash-routed page: `/app#/settings` (Plausible's `h: 1`)."""
    fragment = urlsplit(url).fragment
    return f"{path}#{fragment}"[:MAX_PATH] if fragment else path


def _first(data: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return None


def _domains(raw: Any, parts: Any, errors: dict[str, list[str]]) -> list[str]:
    if raw is None:
        host = parts.hostname if parts is not None else None
        if host:
            return [host.lower()]
        errors["domain"] = ["can't be blank"]
        return []
    if not isinstance(raw, str) or not raw.strip():
        errors["domain"] = ["can't be blank"]
        return []
    domains = [d.strip().lower() for d in raw.split(",") if d.strip()]
    if not domains:
        errors["domain"] = ["can't be blank"]
    return list(dict.fromkeys(domains))[:MAX_DOMAINS]


def _object(raw: Any) -> dict[Any, Any]:
    """An object as Plausible's event API takes one: itself, or a JSON string of one; {} for anything else."""
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {}
    return raw if isinstance(raw, dict) else {}


def _props(raw: Any) -> dict[str, str | int | float | bool]:
    """Props as Plausible reads them (an object, or a JSON string of one), kept within Eddy's limits."""
    raw = _object(raw)
    props: dict[str, str | int | float | bool] = {}
    for key, value in raw.items():
        if len(props) >= MAX_PROPS:
            break
        clean = _KEY_OUTSIDE.sub("_", str(key))[:64]
        if not clean or value is None or value == "" or isinstance(value, list | dict):
            continue
        if isinstance(value, bool):
            props[clean] = value
        elif isinstance(value, int):
            props[clean] = value if -_BIG <= value <= _BIG else str(value)
        elif isinstance(value, float):
            if math.isfinite(value) and abs(value) <= 1e15:
                props[clean] = value
        else:
            props[clean] = str(value)[:MAX_PROP_VALUE]
    return props


def _revenue(raw: Any) -> dict[str, str | float]:
    """`{revenue_amount, revenue_currency}`, or {} when the revenue is absent or not understood."""
    raw = _object(raw)
    return revenue_props(raw.get("amount"), raw.get("currency"))


def revenue_props(amount: Any, currency: Any) -> dict[str, str | float]:
    """The props a revenue is kept as: a finite amount (number or numeric text) within ±1e12 and a
    three-letter currency code; {} otherwise."""
    if isinstance(amount, bool) or not isinstance(amount, int | float | str) or not isinstance(currency, str):
        return {}
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        return {}
    code = currency.strip().upper()
    if not value.is_finite() or abs(value) > Decimal(10**12) or not _CURRENCY.fullmatch(code):
        return {}
    return {"revenue_amount": float(value), "revenue_currency": code}


def _engagement(data: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, int]:
    """`scroll_depth` (clamped to 0-100) and `engaged_ms` of an engagement event."""
    depth, engaged = data.get("sd"), data.get("e")
    out: dict[str, int] = {}
    if depth is not None:
        if isinstance(depth, bool) or not isinstance(depth, int | float) or not math.isfinite(depth):
            errors["sd"] = ["must be a number"]
        else:
            out["scroll_depth"] = max(0, min(100, int(depth)))
    if engaged is not None:
        if isinstance(engaged, bool) or not isinstance(engaged, int | float) or not math.isfinite(engaged):
            errors["e"] = ["must be a number"]
        elif engaged < 0:
            errors["e"] = ["must be greater than or equal to 0"]
        else:
            out["engaged_ms"] = min(int(engaged), MAX_ENGAGED_MS)
    return out
